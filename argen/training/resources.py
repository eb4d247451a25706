"""Resource figures for every logged step, and their end-of-run summary.

Logged keys (one value per logged row, covering the steps since the previous log):

- ``resources/step_s``: mean seconds per optimizer step (generation, judging, backward; not
  logging, checkpointing or periodic evaluation, which happen between steps);
- ``resources/tokens_per_s``: prompt + completion tokens processed per second over those steps,
  counted across all processes (TRL's ``num_input_tokens_seen``);
- ``resources/rss_mb``: this process's resident memory (rank 0 in multi-process runs);
- ``resources/gpu_peak_mb``: peak GPU memory allocated by PyTorch on this process's device since
  the run started (only when CUDA is in use).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from argen.reporting.metrics import read_jsonl

MB = 1024 * 1024


def rss_mb() -> float | None:
    """Resident memory of this process in MiB (psutil, else /proc, else peak RSS from ``resource``)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / MB
    except ImportError:
        pass
    try:
        with open("/proc/self/statm") as fh:
            resident_pages = int(fh.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE") / MB
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # ru_maxrss is KiB on Linux, bytes on macOS; it is the peak, the best left without /proc.
        return peak / MB if sys.platform == "darwin" else peak / 1024
    except (ImportError, OSError):
        return None


def gpu_peak_mb() -> float | None:
    """Peak memory allocated by PyTorch on the current CUDA device, in MiB (None without CUDA)."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return torch.cuda.max_memory_allocated() / MB


class ResourceMeter:
    """Times optimizer steps and counts tokens between two logged rows."""

    def __init__(self, clock=time.perf_counter):
        self._clock = clock
        self._began: float | None = None
        self._tokens_at_begin = 0
        self._seconds = 0.0
        self._steps = 0
        self._tokens = 0

    def step_begin(self, tokens_seen: int | float) -> None:
        self._began = self._clock()
        self._tokens_at_begin = int(tokens_seen or 0)

    def step_end(self, tokens_seen: int | float) -> None:
        if self._began is None:  # e.g. the first step after a resume, whose begin we did not see
            return
        self._seconds += self._clock() - self._began
        self._tokens += max(0, int(tokens_seen or 0) - self._tokens_at_begin)
        self._steps += 1
        self._began = None

    def flush(self) -> dict[str, float]:
        """The figures for the steps since the last flush (then start a new window)."""
        out: dict[str, float] = {}
        if self._steps:
            out["resources/step_s"] = self._seconds / self._steps
            if self._seconds > 0:
                out["resources/tokens_per_s"] = self._tokens / self._seconds
        rss = rss_mb()
        if rss is not None:
            out["resources/rss_mb"] = rss
        gpu = gpu_peak_mb()
        if gpu is not None:
            out["resources/gpu_peak_mb"] = gpu
        self._seconds, self._steps, self._tokens = 0.0, 0, 0
        return out


def summarise_resources(metrics_path: str | Path) -> dict[str, Any]:
    """The ``resources`` entry of summary.json, from the logged rows of metrics.jsonl.

    Means of seconds per step and tokens per second over logged rows, peaks of RSS and GPU
    memory, and the total tokens processed. Empty when nothing was logged.
    """
    rows = read_jsonl(metrics_path)

    def values(key: str) -> list[float]:
        return [float(r[key]) for r in rows if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)]

    out: dict[str, Any] = {}
    step_s = values("resources/step_s")
    if step_s:
        out["step_s_mean"] = round(sum(step_s) / len(step_s), 4)
    tps = values("resources/tokens_per_s")
    if tps:
        out["tokens_per_s_mean"] = round(sum(tps) / len(tps), 2)
    rss = values("resources/rss_mb")
    if rss:
        out["rss_mb_peak"] = round(max(rss), 1)
    gpu = values("resources/gpu_peak_mb")
    if gpu:
        out["gpu_peak_mb"] = round(max(gpu), 1)
    tokens = values("num_tokens")
    if tokens:
        out["tokens_total"] = int(max(tokens))
    return out
