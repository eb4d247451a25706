"""Completions worth reading: a sample of prompts, completions and their verdicts, every N steps.

The reward functions already have every completion's :class:`ScoredResponse` (scores, verdict,
violations). A :class:`CompletionRecorder` listens on the training :class:`Scorer` and keeps the
latest batch's results, so writing a sample costs no judge call. Every
``completions.every_n_steps`` steps (and at the last step) rank 0 appends ``completions.sample``
of them to ``completions.jsonl`` in the run dir, and logs them as a wandb table
(``argen/completions``) when wandb is on.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from argen.reporting.metrics import append_jsonl
from argen.reporting.summaries import COMPLETION_TABLE_COLUMNS, table_data
from argen.scoring.pipeline import Key, Scorer, ScoredResponse, request_key


class CompletionRecorder:
    """Collects the distinct results the scorer hands out, until :meth:`take` empties it."""

    def __init__(self, capacity: int = 4096):
        self.capacity = capacity
        self._results: OrderedDict[Key, ScoredResponse] = OrderedDict()
        self._paused = 0
        self._scorer: Scorer | None = None
        # Rewards are scored on TRL's event-loop thread; the callbacks read on the training thread.
        self._lock = threading.Lock()

    def __call__(self, results: Sequence[ScoredResponse]) -> None:
        if self._paused:
            return
        with self._lock:
            for res in results:
                # The three principle rewards score the same batch: keep each response once.
                self._results[request_key(res.request)] = res
            while len(self._results) > self.capacity:
                self._results.popitem(last=False)

    def attach(self, scorer: Scorer) -> None:
        """Listen on ``scorer`` (every :meth:`Scorer.score` call hands its results here)."""
        scorer.add_listener(self)
        self._scorer = scorer

    def detach(self) -> None:
        if self._scorer is not None:
            self._scorer.remove_listener(self)
            self._scorer = None

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Ignore scores made meanwhile (periodic evaluation uses the same scorer)."""
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1

    def take(self) -> list[ScoredResponse]:
        """The results recorded since the last call, oldest first."""
        with self._lock:
            out = list(self._results.values())
            self._results.clear()
        return out


def completion_rows(results: Sequence[ScoredResponse], step: int, sample: int, seed: int = 0) -> list[dict[str, Any]]:
    """A reproducible sample of ``results`` as JSON-ready rows: the request, scores and verdict."""
    rng = random.Random(seed * 1_000_003 + step)
    picked = results if len(results) <= sample else rng.sample(list(results), sample)
    rows = []
    for res in picked:
        req = res.request
        row: dict[str, Any] = {"step": step, "prompt": req.prompt, "response": req.response, "tier": req.tier, "scope": req.scope}
        row.update(res.to_record())
        rows.append(row)
    return rows


def write_rows(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append rows to a JSONL file (one atomic line each)."""
    for row in rows:
        append_jsonl(path, row)


def log_wandb_table(rows: Sequence[Mapping[str, Any]], step: int) -> bool:
    """Log rows as a wandb table when a wandb run is active; True when logged."""
    try:
        import wandb
    except ImportError:
        return False
    if wandb.run is None or not rows:
        return False
    data = table_data(rows, COMPLETION_TABLE_COLUMNS)
    wandb.log({"argen/completions": wandb.Table(columns=list(COMPLETION_TABLE_COLUMNS), data=data, allow_mixed_types=True), "train/global_step": step})
    return True
