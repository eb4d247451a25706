"""Helpers shared by the benchmarks that start training runs: a child process with its peak RSS,
and timings read back from logged rows."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argen.data.jsonl import records_from_bytes

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
        for row in records_from_bytes(data[:end], self.path):
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
    """Per-step timing of one run from rows logged every step (``logging_steps=1``).

    Each step's cost is the interval between its logged row and the previous step's, so it
    covers everything a step costs (generation, rewards, backward, optimizer, callbacks,
    logging); process start, model load and the first step (warm-up) are left out.

    - ``wall_s_per_step``: the median of those intervals (robust to a few steps slowed by other
      processes); ``wall_s_per_step_min``: the fastest one (the least disturbed);
    - ``cpu_s_per_step``: the median of the process's CPU seconds over the same intervals, when
      ``cpu_at_step`` (from a :class:`StepWatcher`) has every step;
    - ``trl_step_time``: the median of TRL's own ``step_time`` (``training_step`` only:
      generation, rewards, forward and backward; no optimizer step, callbacks or logging).
    """
    steps = training_rows(rows)
    if len(steps) < 3:
        raise ValueError(f"need at least 3 logged steps to time a run, got {len(steps)}")
    pairs = list(zip(steps, steps[1:]))
    walls = [(float(b["wall_s"]) - float(a["wall_s"])) / (int(b["step"]) - int(a["step"])) for a, b in pairs]
    out = {
        "wall_s_per_step": statistics.median(walls),
        "wall_s_per_step_min": min(walls),
        "trl_step_time": statistics.median(float(r["step_time"]) for r in steps[1:]),
    }
    if cpu_at_step and all(int(r["step"]) in cpu_at_step for r in steps):
        cpus = [(cpu_at_step[int(b["step"])] - cpu_at_step[int(a["step"])]) / (int(b["step"]) - int(a["step"]))
                for a, b in pairs]
        out["cpu_s_per_step"] = statistics.median(cpus)
    return out
