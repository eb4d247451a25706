"""A kill at any instant of a checkpoint save leaves a run that resumes exactly (issue 16).

A real ``experiment=smoke`` run (save_total_limit=1, one checkpoint every step) is killed with
SIGKILL at one file-system operation after another of a save that rotates an older checkpoint
away (tests/kill_at_checkpoint_op.py), each found by its name: while the new checkpoint is
written, between its marker and the ``latest`` pointer, and while the old one is deleted. Each
kill is followed by a resume, which is killed at the next point; the last resume runs to the end. Every step is then logged
exactly once, and the learning rate falls in one straight line: a resume from a half-deleted
checkpoint (its scheduler state gone) would restart the schedule.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from argen.reporting.metrics import read_jsonl
from argen.training.checkpoints import is_complete, latest_checkpoint
from tests.conftest import REPO, cli_env

# The operations of a rotating save to kill at, by name (tests/kill_at_checkpoint_op.py names
# them: NEW is the checkpoint being saved, OLD the one rotated away; the trace with
# ARGEN_TRACE_CHECKPOINT_OPS=1 lists them all). Named, not numbered: if the Trainer writes one
# file more or fewer, every kill still lands where it says, and one that no longer happens fails
# the test instead of moving.
KILL_AT = (
    "open NEW/config.json",  # the new checkpoint's files are being written
    "open NEW/trainer_state.json",  # its last file
    "os.rename NEW/.argen_complete.json.tmp",  # its marker is written but not yet in place
    "os.rename .latest.tmp",  # the new checkpoint is complete; the pointer has not moved
    "os.remove OLD/argen_complete.json",  # the pointer moved; the old checkpoint is still whole
    "os.rename OLD",  # the old checkpoint lost its marker, not yet renamed away
    "os.remove .deleting-OLD/scheduler.pt",  # half of the old checkpoint deleted, its scheduler state going
)
MAX_STEPS = len(KILL_AT) + 3


def _run(run_dir, kill_at: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "tests" / "kill_at_checkpoint_op.py"), kill_at, *args],
        # PYTHONPATH: the script's own folder comes first on sys.path, not this tree; run this tree's argen.
        cwd=run_dir.parent, env=cli_env(ARGEN_TRACE_CHECKPOINT_OPS="1", PYTHONPATH=str(REPO)),
        capture_output=True, text=True, timeout=600,
    )


def test_operations_are_named_by_what_they_do():
    from tests.kill_at_checkpoint_op import operation_name

    root = "/runs/r1/checkpoints"
    assert operation_name("open", f"{root}/checkpoint-12/trainer_state.json", 12) == "open NEW/trainer_state.json"
    assert operation_name("os.rename", f"{root}/checkpoint-12/.argen_complete.json.4242.1407.tmp", 12) == (
        "os.rename NEW/.argen_complete.json.tmp")
    assert operation_name("os.rename", f"{root}/.latest.4242.1407.tmp", 12) == "os.rename .latest.tmp"
    assert operation_name("os.rename", f"{root}/checkpoint-11", 12) == "os.rename OLD"
    assert operation_name("os.remove", f"{root}/.deleting-checkpoint-11/scheduler.pt", 12) == (
        "os.remove .deleting-OLD/scheduler.pt")
    assert operation_name("os.mkdir", root, 12) == "os.mkdir"


@pytest.mark.slow
def test_a_kill_at_any_point_of_a_save_leaves_a_resumable_run(tmp_path):
    run_dir = tmp_path / "run"
    fresh = ["experiment=smoke", "grpo.save_steps=1", f"grpo.max_steps={MAX_STEPS}", f"hydra.run.dir={run_dir}"]
    history = []
    for i, point in enumerate(KILL_AT):
        proc = _run(run_dir, point, *(fresh if i == 0 else [f"resume={run_dir}"]))
        assert proc.returncode == -9, f"kill at {point!r}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
        traced = [line for line in proc.stderr.splitlines() if line.startswith("checkpoint-op ")]
        assert traced and traced[-1].split(": ", 1)[1] == point, (point, traced[-3:])  # killed where it says
        checkpoint = latest_checkpoint(run_dir / "checkpoints")
        assert checkpoint is not None and is_complete(checkpoint), f"kill at {point!r}: nothing to resume"
        history.append((point, checkpoint.name))
    final = _run(run_dir, "none", f"resume={run_dir}")
    assert final.returncode == 0, f"{history}\n{final.stderr[-3000:]}"

    rows = [r for r in read_jsonl(run_dir / "metrics.jsonl") if "reward" in r]
    assert [r["step"] for r in rows] == list(range(1, MAX_STEPS + 1)), history  # none lost, none twice
    rates = [r["learning_rate"] for r in rows]
    steps = [b - a for a, b in zip(rates, rates[1:])]
    assert all(d < 0 for d in steps) and max(steps) - min(steps) < 1e-12, (history, rates)
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"
    assert [p.name for p in (run_dir / "checkpoints").glob("checkpoint-*")] == [f"checkpoint-{MAX_STEPS}"]
    assert not (tmp_path / "outputs").exists()
