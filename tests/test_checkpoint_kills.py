"""A kill at any instant of a checkpoint save leaves a run that resumes exactly (issue 16).

A real ``experiment=smoke`` run (save_total_limit=1, one checkpoint every step) is killed with
SIGKILL at one file-system operation after another of a save that rotates an older checkpoint
away (tests/kill_at_checkpoint_op.py): while the new checkpoint is written, between its marker
and the ``latest`` pointer, and while the old one is deleted. Each kill is followed by a resume,
which is killed at the next point; the last resume runs to the end. Every step is then logged
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

# Operation numbers within the rotating save (see the trace with ARGEN_TRACE_CHECKPOINT_OPS=1):
# 4 and 11 while the new checkpoint's files are written, 13 before its marker is renamed into
# place, 16 before the pointer moves, 17 before the old checkpoint's marker goes, 18 before it is
# renamed away, 21 in the middle of deleting it.
KILL_AT = (4, 11, 13, 16, 17, 18, 21)
MAX_STEPS = len(KILL_AT) + 3


def _run(run_dir, kill_at: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "tests" / "kill_at_checkpoint_op.py"), str(kill_at), *args],
        cwd=run_dir.parent, env=cli_env(), capture_output=True, text=True, timeout=600,
    )


@pytest.mark.slow
def test_a_kill_at_any_point_of_a_save_leaves_a_resumable_run(tmp_path):
    run_dir = tmp_path / "run"
    fresh = ["experiment=smoke", "grpo.save_steps=1", f"grpo.max_steps={MAX_STEPS}", f"hydra.run.dir={run_dir}"]
    history = []
    for i, point in enumerate(KILL_AT):
        proc = _run(run_dir, point, *(fresh if i == 0 else [f"resume={run_dir}"]))
        assert proc.returncode == -9, f"kill point {point}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
        checkpoint = latest_checkpoint(run_dir / "checkpoints")
        assert checkpoint is not None and is_complete(checkpoint), f"kill point {point}: nothing to resume"
        history.append((point, checkpoint.name))
    final = _run(run_dir, 0, f"resume={run_dir}")
    assert final.returncode == 0, f"{history}\n{final.stderr[-3000:]}"

    rows = [r for r in read_jsonl(run_dir / "metrics.jsonl") if "reward" in r]
    assert [r["step"] for r in rows] == list(range(1, MAX_STEPS + 1)), history  # none lost, none twice
    rates = [r["learning_rate"] for r in rows]
    steps = [b - a for a, b in zip(rates, rates[1:])]
    assert all(d < 0 for d in steps) and max(steps) - min(steps) < 1e-12, (history, rates)
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"
    assert [p.name for p in (run_dir / "checkpoints").glob("checkpoint-*")] == [f"checkpoint-{MAX_STEPS}"]
    assert not (tmp_path / "outputs").exists()
