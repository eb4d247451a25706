"""Trainer callbacks: the run's metrics file (rank 0 only)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from argen.reporting.metrics import append_jsonl


class MetricsFileCallback(TrainerCallback):
    """Append every logged dict, with step and wall time, to ``metrics.jsonl`` in the run dir."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._start = time.monotonic()

    def on_log(self, args, state, control, logs: dict[str, Any] | None = None, **kwargs):
        if logs and state.is_world_process_zero:
            record = {"step": state.global_step, "epoch": state.epoch, "wall_s": round(time.monotonic() - self._start, 3)}
            record.update(logs)
            append_jsonl(self.path, record)


def build_callbacks(cfg, run_dir: Path, **context: Any) -> list[TrainerCallback]:
    """The callbacks a run uses. ``context`` carries the scorer, tokenizer and eval scenarios for callbacks that need them."""
    return [MetricsFileCallback(run_dir / "metrics.jsonl")]
