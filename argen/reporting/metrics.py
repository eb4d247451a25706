"""metrics.jsonl: one JSON object per logging step, and the series read back from it.

The file is written and read by :mod:`argen.data.jsonl` (every JSONL file is): each line is one
``write`` on a file opened in append mode, so a crash or a second writer never leaves a half line
in the middle of the file; readers skip a torn last line. The names below are kept for callers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from argen.data.jsonl import append_record as append_jsonl
from argen.data.jsonl import drop_torn_tail
from argen.data.jsonl import read_records as read_jsonl
from argen.reporting.summaries import quarter_means

__all__ = ["append_jsonl", "drop_torn_tail", "periodic_steps", "quarter_means", "read_jsonl", "series"]


def series(rows: Iterable[Mapping[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of one metric over training rows that have it."""
    steps, values = [], []
    for row in rows:
        value = row.get(key)
        if isinstance(value, (int, float)) and row.get("step") is not None and math.isfinite(value):
            steps.append(int(row["step"]))
            values.append(float(value))
    return steps, values


def periodic_steps(path: str | Path) -> dict[int, list[dict[str, Any]]]:
    """``periodic_eval.jsonl`` rows by evaluated step, in step order; a step evaluated twice (a
    resumed run) keeps its latest answer per scenario."""
    by_step: dict[int, dict[str, dict[str, Any]]] = {}
    for row in read_jsonl(path):
        if isinstance(row.get("step"), int) and row.get("id") is not None:
            by_step.setdefault(row["step"], {})[str(row["id"])] = row
    return {step: list(rows.values()) for step, rows in sorted(by_step.items())}
