"""Helpers shared by the benchmarks that start training runs: a child process with its peak RSS,
and timings read back from logged rows."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


@dataclass
class ChildResult:
    """How a child process ended, its wall time and its own peak resident memory."""

    returncode: int
    wall_s: float
    peak_rss_mb: float
    output_tail: str


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds a running process has used so far (all its threads), from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "; fields[0] is the state
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class StepWatcher:
    """Follows a run's JSONL file of logged rows while it runs and notes the child's CPU seconds
    at the moment each optimizer step's row appears (polled, so each reading lags by at most a
    poll interval: small against a span of several steps)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.offset = 0
        self.cpu_at_step: dict[int, float] = {}
        self.seen_at: dict[int, float] = {}  # time.monotonic() when each step's row was first seen

    def poll(self, pid: int) -> None:
        try:
            if self.path.stat().st_size <= self.offset:
                return
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return
        end = data.rfind(b"\n")
        if end < 0:
            return
        cpu = process_cpu_s(pid)
        now = time.monotonic()
        self.offset += end + 1
        for line in data[:end].splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row.get("step_time"), (int, float)):
                self.seen_at.setdefault(int(row["step"]), now)
                if cpu is not None:
                    self.cpu_at_step[int(row["step"])] = cpu


def run_child(args: Sequence[str], log_path: Path, env: dict[str, str] | None = None, timeout_s: float = 1800,
              poll: Callable[[int], None] | None = None) -> ChildResult:
    """Run ``args`` (stdout and stderr to ``log_path``), wait for it with ``os.wait4``.

    ``poll(pid)`` is called every 20 ms while the child runs.

    ``wait4`` returns that one child's resource usage, so ``ru_maxrss`` is the peak RSS of this
    process alone (``RUSAGE_CHILDREN`` would be the largest of every child ever waited for).
    """
    child_env = {**os.environ, **(env or {})}
    child_env.setdefault("PYTHONPATH", str(REPO))
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(list(args), cwd=REPO, env=child_env, stdout=log, stderr=subprocess.STDOUT)
        deadline = started + timeout_s
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if poll is not None:
                    poll(proc.pid)
                if time.monotonic() > deadline:
                    proc.kill()
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.02)
        except BaseException:  # interrupted: do not leave a training run behind
            proc.kill()
            proc.wait()
            raise
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
    # ru_maxrss is KiB on Linux.
    peak = usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / 2**20
    tail = Path(log_path).read_text(errors="replace")[-3000:]
    return ChildResult(proc.returncode, time.monotonic() - started, round(peak, 1), tail)


def training_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The logged rows of optimizer steps (TRL's ``step_time`` is in each), one per step, in order."""
    by_step: dict[int, dict[str, Any]] = {}
    for row in rows:
        if isinstance(row.get("step_time"), (int, float)):
            by_step[int(row["step"])] = row
    return [by_step[s] for s in sorted(by_step)]


def seconds_per_step(rows: Sequence[dict[str, Any]], cpu_at_step: dict[int, float] | None = None) -> dict[str, float]:
    """Steady-state timing of one run from rows logged every step (``logging_steps=1``).

    ``wall_s_per_step``: wall time between the first and the last step's logged row divided by
    the steps in between. It covers everything a step costs (generation, rewards, backward,
    optimizer, callbacks, logging) and leaves out process start, model load and the first step
    (warm-up). ``trl_step_time``: the median of TRL's own ``step_time`` (training_step only:
    generation, rewards, forward and backward; no optimizer step, callbacks or logging), first
    step left out. ``cpu_s_per_step`` (when ``cpu_at_step`` from a :class:`StepWatcher` covers
    the first and last step): the process's CPU seconds over the same span per step, which other
    processes on a shared machine disturb far less than wall time.
    """
    steps = training_rows(rows)
    if len(steps) < 3:
        raise ValueError(f"need at least 3 logged steps to time a run, got {len(steps)}")
    first, last = int(steps[0]["step"]), int(steps[-1]["step"])
    span = float(steps[-1]["wall_s"]) - float(steps[0]["wall_s"])
    out = {
        "wall_s_per_step": span / (last - first),
        "trl_step_time": statistics.median(float(r["step_time"]) for r in steps[1:]),
    }
    if cpu_at_step and first in cpu_at_step and last in cpu_at_step:
        out["cpu_s_per_step"] = (cpu_at_step[last] - cpu_at_step[first]) / (last - first)
    return out
