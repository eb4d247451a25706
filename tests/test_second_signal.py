"""A second SIGINT stops a training run at once, keeping its last complete checkpoint.

A real ``argen.train`` process is held inside step 3 by a reward that waits for the test
(tests/gated_reward.py), so the signals land mid-step for certain. Counted, not timed: after the
second signal no further step starts, step 3 logs no row and saves no checkpoint.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import pytest

from argen.reporting.metrics import read_jsonl
from argen.training.checkpoints import latest_checkpoint
from tests.conftest import REPO, cli_env, run_cli


def wait_for(condition, proc, what: str, limit_s: float = 600) -> None:
    deadline = time.monotonic() + limit_s  # a hang guard, not a measurement
    while not condition():
        assert proc.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"no {what}"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_a_second_sigint_stops_at_once_and_keeps_the_last_complete_checkpoint(tmp_path, processes):
    """One process, and two torchrun ranks (whose agent passes on only the first signal: the
    Hydra process sends the second to the ranks itself)."""
    run_dir, gate, log, out = tmp_path / "run", tmp_path / "gate", tmp_path / "stderr.txt", tmp_path / "stdout.txt"
    gate.mkdir()
    first_call_of_step_3 = 2 * processes + 1  # every rank calls the reward once a step
    env = cli_env(ARGEN_TEST_GATE_DIR=str(gate), ARGEN_TEST_GATE_AT=str(first_call_of_step_3))
    hardware = ["hardware=cpu_ddp2"] if processes == 2 else []
    with open(log, "w") as stderr, open(out, "w") as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-m", "argen.train", "experiment=smoke", *hardware, "grpo.max_steps=10", "grpo.save_steps=1",
             "+reward.functions.gated._target_=tests.gated_reward.gated", "+reward.weights.gated=0.1",
             f"hydra.run.dir={run_dir}"],
            cwd=REPO, env=env, stdout=stdout, stderr=stderr,
        )
    try:
        wait_for(lambda: (gate / f"waiting-{first_call_of_step_3}").exists(), proc, "step 3")
        proc.send_signal(signal.SIGINT)
        # (the workers' words come through the launcher's stdout)
        wait_for(lambda: "send it again to stop at once" in log.read_text() + out.read_text(), proc,
                 "word of the first signal", 120)
        # Meanwhile the run holds its dir: a second writer (resuming it) is refused, naming it.
        second = run_cli("argen.train", f"resume={run_dir}")
        assert second.returncode == 2, second.stderr[-2000:]
        assert f"is being written by another ArGen process (pid {proc.pid} on {socket.gethostname()}" in second.stderr
        proc.send_signal(signal.SIGINT)
        returncode = proc.wait(timeout=600)
    finally:
        (gate / "release").touch()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr_text = log.read_text()
    assert returncode == 128 + signal.SIGINT, stderr_text[-3000:]
    assert "Traceback" not in stderr_text
    checkpoint = run_dir / "checkpoints" / "checkpoint-2"
    assert stderr_text.strip().splitlines()[-1] == (
        f"argen.train: stopped at once by a second SIGINT during step 3; last complete checkpoint {checkpoint}; "
        f"continue with: python -m argen.train resume={run_dir}")
    assert not (gate / f"call-{2 * processes + processes + 1}").exists()  # no step after the one cut short
    assert [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl") if "reward" in r] == [1, 2]
    assert latest_checkpoint(run_dir / "checkpoints") == checkpoint
    assert not (run_dir / "checkpoints" / "checkpoint-3").exists()
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "interrupted" and status["steps"] == 2
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["stopped_at_once"] is True and summary["checkpoint"] == str(checkpoint)
