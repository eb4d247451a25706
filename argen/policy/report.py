"""Policy violation rates for the score, evaluate and training summaries."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def _violation_lists(results: Iterable[Any]) -> list[list[Any]]:
    """The policy violations of each scored response; judge failures (no scores) are left out.

    Accepts :class:`~argen.scoring.pipeline.ScoredResponse` objects or their ``to_record()`` rows
    (a row was scored when its ``combined`` score is not null).
    """
    out: list[list[Any]] = []
    for r in results:
        if isinstance(r, Mapping):
            if r.get("combined") is not None:
                out.append(list(r.get("policy_violations") or ()))
        elif getattr(r, "scores", None) is not None:
            out.append(list(r.scores.policy_violations))
    return out


def violation_counts(scored: Iterable[Any], ids: Sequence[str] = ()) -> dict[str, int]:
    """How many scored responses break each policy id (a response counts once per id).

    ``scored`` holds :class:`~argen.scoring.pipeline.ScoredResponse` objects or their
    ``to_record()`` rows; ``ids`` (e.g. ``PolicyEngine.ids``) adds entries with 0 for ids no
    response broke. Sorted by id.
    """
    counts: Counter[str] = Counter({i: 0 for i in ids})
    for violations in _violation_lists(scored):
        counts.update({str(v["id"]) for v in violations})
    return dict(sorted(counts.items()))


def violation_rates(scored: Iterable[Any], ids: Sequence[str] = ()) -> dict[str, float]:
    """Fraction of scored responses that break each policy id, sorted by id.

    The denominator is the number of responses that got scores: a response the judge could not
    score has no verdict, so no policy ran on it, and counting it would dilute every rate.
    Empty when nothing was scored (and no ``ids`` were given: then each id maps to 0.0).
    """
    results = list(scored)
    total = len(_violation_lists(results))
    counts = violation_counts(results, ids)
    return {vid: (n / total if total else 0.0) for vid, n in counts.items()}


__all__ = ["violation_counts", "violation_rates"]
