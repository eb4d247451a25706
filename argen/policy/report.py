"""Policy violation rates for the score, evaluate and training summaries."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any


def _scored(results: Iterable[Any]) -> list[Any]:
    """The RubricScores of responses that were scored (judge failures have none and are left out)."""
    return [r.scores for r in results if getattr(r, "scores", None) is not None]


def violation_counts(scored: Iterable[Any], ids: Sequence[str] = ()) -> dict[str, int]:
    """How many scored responses break each policy id (a response counts once per id).

    ``scored`` is a list of :class:`~argen.scoring.pipeline.ScoredResponse`; ``ids`` (e.g.
    ``PolicyEngine.ids``) adds rows with 0 for ids no response broke. Sorted by id.
    """
    counts: Counter[str] = Counter({i: 0 for i in ids})
    for scores in _scored(scored):
        counts.update({str(v["id"]) for v in scores.policy_violations})
    return dict(sorted(counts.items()))


def violation_rates(scored: Iterable[Any], ids: Sequence[str] = ()) -> dict[str, float]:
    """Fraction of scored responses that break each policy id, sorted by id.

    The denominator is the number of responses that got scores: a response the judge could not
    score has no verdict, so no policy ran on it, and counting it would dilute every rate.
    Empty when nothing was scored (and no ``ids`` were given: then each id maps to 0.0).
    """
    results = list(scored)
    total = len(_scored(results))
    counts = violation_counts(results, ids)
    return {vid: (n / total if total else 0.0) for vid, n in counts.items()}


__all__ = ["violation_counts", "violation_rates"]
