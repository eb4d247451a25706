"""metrics.jsonl: one JSON object per logging step, appended atomically and flushed.

Each line is written with a single ``write`` on a file opened in append mode, so a crash or a
second writer never leaves a half line in the middle of the file; readers skip a torn last line.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def append_jsonl(path: str | Path, record: Mapping[str, Any]) -> None:
    """Append one record as a line (single write, O_APPEND, flushed)."""
    line = (json.dumps(_finite(record), separators=(",", ":")) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _finite(record: Mapping[str, Any]) -> dict[str, Any]:
    # JSON has no NaN: a metric with no value (e.g. every judge call failed) is written as null.
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """All complete records of a JSONL file; a torn final line (crash mid-write) is skipped."""
    p = Path(path)
    if not p.exists():
        return []
    rows = []
    for line in p.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def series(rows: Iterable[Mapping[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of one metric over training rows that have it."""
    steps, values = [], []
    for row in rows:
        value = row.get(key)
        if isinstance(value, (int, float)) and row.get("step") is not None and math.isfinite(value):
            steps.append(int(row["step"]))
            values.append(float(value))
    return steps, values


def quarter_means(values: list[float]) -> tuple[float, float] | None:
    """Mean of the first and last quarter of a series (None for fewer than 4 points)."""
    if len(values) < 4:
        return None
    q = max(1, len(values) // 4)
    return sum(values[:q]) / q, sum(values[-q:]) / q


def drop_torn_tail(path: str | Path) -> int:
    """Cut a half-written last line (a crash mid-append) so the next append starts a clean line.

    Returns the number of bytes dropped (0 when the file is whole or absent).
    """
    p = Path(path)
    if not p.is_file():
        return 0
    data = p.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    cut = data.rfind(b"\n") + 1
    with open(p, "r+b") as fh:
        fh.truncate(cut)
    return len(data) - cut


def periodic_steps(path: str | Path) -> dict[int, list[dict[str, Any]]]:
    """``periodic_eval.jsonl`` rows by evaluated step, in step order; a step evaluated twice (a
    resumed run) keeps its latest answer per scenario."""
    by_step: dict[int, dict[str, dict[str, Any]]] = {}
    for row in read_jsonl(path):
        if isinstance(row.get("step"), int) and row.get("id") is not None:
            by_step.setdefault(row["step"], {})[str(row["id"])] = row
    return {step: list(rows.values()) for step, rows in sorted(by_step.items())}
