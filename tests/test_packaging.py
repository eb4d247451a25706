"""The wheel carries the configs: built from this tree, installed into a fresh virtualenv, run elsewhere.

The fresh virtualenv gets ArGen from the wheel only; its dependencies (torch, TRL, ...) come
from the test environment's site-packages through a ``.pth`` line, which Python does not scan
for further ``.pth`` files, so the test environment's editable ArGen stays out of it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import CONF, REPO, cli_env

BUILD_FILES = ("argen", "conf", "pyproject.toml", "setup.py", "README.md")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, str]:
    """(wheel file, build output): built without network from a copy of the tree."""
    work = tmp_path_factory.mktemp("build")
    src = work / "src"
    src.mkdir()
    for name in BUILD_FILES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(path, src / name)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(work / "dist"), str(src)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    (whl,) = (work / "dist").glob("argen-*.whl")
    return whl, result.stdout + result.stderr


@pytest.fixture(scope="module")
def fresh_venv(wheel, tmp_path_factory) -> Path:
    """A new virtualenv holding ArGen from the wheel; returns its python."""
    whl, _ = wheel
    venv = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "argen_test_deps.pth").write_text("".join(p + "\n" for p in sorted(deps)))
    result = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(whl)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return python


def test_the_wheel_holds_every_config_and_spdx_license_metadata(wheel):
    whl, build_log = wheel
    with zipfile.ZipFile(whl) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    wanted = {"argen/conf/" + p.relative_to(CONF).as_posix() for p in CONF.rglob("*.yaml")}
    assert len(wanted) > 30 and wanted <= names
    code = {p.relative_to(REPO).as_posix() for p in (REPO / "argen").rglob("*.py")}
    assert code <= names  # every module, subpackages added later included
    assert "argen/data/scenarios/train.jsonl" in names and any(n.startswith("argen/policy/rego/") for n in names)
    assert "argen/judges/heuristic_scope.npz" in names  # the heuristic judge cannot score without it
    assert "argen/judges/learned_judge.npz" in names  # nor the learned judge without its heads
    assert not any(n.startswith("conf/") for n in names)  # no top-level package named conf
    assert "License-Expression: Apache-2.0" in metadata
    assert "deprecat" not in build_log.lower()  # setuptools' license-table deprecation is gone


def _run(python: Path, *args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = cli_env()
    env.pop("PYTHONPATH", None)
    return subprocess.run([str(python), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_installed_wheel_composes_from_another_directory(fresh_venv, tmp_path):
    where = _run(fresh_venv, "-c", "import argen, argen.config as c; print(argen.__file__); print(c.CONF_DIR)", cwd=tmp_path)
    assert where.returncode == 0, where.stderr[-2000:]
    module, conf_dir = where.stdout.split()
    assert Path(module).is_relative_to(fresh_venv.parents[1])  # the wheel's copy, not the checkout
    assert Path(conf_dir) == Path(module).parent / "conf"
    job = _run(fresh_venv, "-m", "argen.train", "--cfg", "job", cwd=tmp_path)
    assert job.returncode == 0, job.stderr[-2000:]
    assert "hardware:" in job.stdout and "system_prompt:" in job.stdout
    ddp = _run(fresh_venv, "-m", "argen.train", "hardware=zero3", "--cfg", "job", cwd=tmp_path)
    assert ddp.returncode == 0 and "accelerate_config: conf/accelerate/zero3.yaml" in ddp.stdout
    # the Accelerate file named relative to conf/ is found beside the packaged configs
    found = _run(fresh_venv, "-c", "from argen.config import resolve_config_path as r; print(r('conf/accelerate/zero3.yaml'))",
                 cwd=tmp_path)
    assert Path(found.stdout.strip()) == Path(module).parent / "conf" / "accelerate" / "zero3.yaml"
    assert Path(found.stdout.strip()).is_file()


def test_editable_install_composes_from_another_directory(tmp_path):
    where = _run(Path(sys.executable), "-c", "import argen.config as c; print(c.CONF_DIR)", cwd=tmp_path)
    assert Path(where.stdout.strip()) == CONF
    job = _run(Path(sys.executable), "-m", "argen.train", "--cfg", "job", cwd=tmp_path)
    assert job.returncode == 0, job.stderr[-2000:]
    assert "hardware:" in job.stdout


@pytest.mark.slow  # a 2-step training run from the installed wheel: ~30-60 s on 2 shared cores
def test_installed_wheel_trains_the_smoke_experiment(fresh_venv, tmp_path):
    run_dir = tmp_path / "run"
    result = _run(fresh_venv, "-m", "argen.train", "experiment=smoke", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == 2
    assert os.path.isdir(run_dir / "final_model")
