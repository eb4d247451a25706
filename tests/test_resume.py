"""Resume and preemption: a SIGTERM saves a checkpoint, resume continues it, nothing is duplicated."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from argen.errors import ConfigError
from argen.reporting.metrics import read_jsonl
from argen.training.checkpoints import latest_checkpoint, write_latest
from argen.training.resume import check_same_config, config_differences, resolve_resume
from tests.conftest import REPO, cli_env, run_cli


def test_sigterm_checkpoints_and_resume_continues_exactly(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "argen.train", "experiment=smoke", "grpo.max_steps=12", "grpo.save_steps=100",
         f"hydra.run.dir={run_dir}"],
        cwd=REPO, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(read_jsonl(run_dir / "metrics.jsonl")) < 3:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert "stopped by SIGTERM" in stderr and f"resume={run_dir}" in stderr and "Traceback" not in stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    stopped = summary["steps"]
    assert summary["status"] == "interrupted" and 3 <= stopped < 12
    assert latest_checkpoint(run_dir / "checkpoints").name == f"checkpoint-{stopped}"

    result = run_cli("argen.train", f"resume={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    steps = [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl") if "reward" in r]
    assert steps == list(range(1, 13))  # no step lost, none logged twice
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    state = json.loads((latest_checkpoint(run_dir / "checkpoints") / "trainer_state.json").read_text())
    assert state["global_step"] == 12


def test_half_written_checkpoint_is_never_resumed(tmp_path):
    ckpts = tmp_path / "run" / "checkpoints"
    (ckpts / "checkpoint-4").mkdir(parents=True)
    (ckpts / "checkpoint-4" / "trainer_state.json").write_text('{"global_step": 4}')
    write_latest(ckpts, "checkpoint-4", 4)
    (ckpts / "checkpoint-8").mkdir()  # killed while saving: no pointer moved to it
    run, checkpoint = resolve_resume(str(tmp_path / "run"), tmp_path)
    assert run == tmp_path / "run" and checkpoint.name == "checkpoint-4"
    assert not list(ckpts.glob(".latest.*"))  # the pointer was renamed into place


def test_nothing_to_resume_and_missing_dir_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="no completed checkpoint"):
        resolve_resume(str(tmp_path), tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_resume(str(tmp_path / "missing"), tmp_path)


def test_config_differences_are_listed_and_refused(tmp_path):
    (tmp_path / "config.yaml").write_text("grpo:\n  max_steps: 10\n  beta: 0.0\nresume: false\n")
    current = {"grpo": {"max_steps": 20, "beta": 0.0}, "resume": str(tmp_path)}
    assert config_differences({"grpo": {"max_steps": 10, "beta": 0.0}}, current) == ["grpo.max_steps: 10 -> 20"]
    with pytest.raises(ConfigError, match=r"grpo.max_steps: 10 -> 20.*resume_allow_changes=true"):
        check_same_config(tmp_path, current, allow_changes=False)
    assert check_same_config(tmp_path, current, allow_changes=True) == ["grpo.max_steps: 10 -> 20"]
