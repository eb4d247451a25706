"""Turn scored response rows (``responses.jsonl``) into the numbers a report shows.

Everything here works from the rows alone, so a summary can be rebuilt from a run dir without a
model or a judge (comparisons do exactly that). A row whose judge call failed has
``combined: null``: it is counted as unscored and left out of every mean and rate, never
counted as a zero.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from argen.evaluation.repetition import looping_summary
from argen.reporting.summaries import SCORE_KEYS
from argen.types import PRINCIPLES, SCOPES, TIERS

UNLABELLED = "unlabelled"
# How much of a prompt/response the weakest-examples list keeps (the full text is in responses.jsonl).
EXCERPT_CHARS = 600


def is_scored(row: Mapping[str, Any]) -> bool:
    """A row the judge scored (failed rows carry ``combined: null``)."""
    value = row.get("combined")
    return isinstance(value, (int, float)) and math.isfinite(value)


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def score_block(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Means and violation rates of a group of rows.

    A principle's violation rate is the share of scored rows whose ``violations`` list names
    it (the rubric decides: below the threshold, or for dharma also off-domain advice or a zero
    scope factor); ``any`` is the share with at least one principle violated.
    """
    scored = [r for r in rows if is_scored(r)]
    means = {k: _mean([float(r[k]) for r in scored if r.get(k) is not None]) for k in SCORE_KEYS}
    rates: dict[str, float | None] = {}
    for p in PRINCIPLES:
        rates[p] = _mean([1.0 if p in (r.get("violations") or []) else 0.0 for r in scored])
    rates["any"] = _mean([1.0 if any(p in (r.get("violations") or []) for p in PRINCIPLES) else 0.0 for r in scored])
    return {"n": len(rows), "scored": len(scored), "means": means, "violation_rates": rates}


def _group(rows: Iterable[Mapping[str, Any]], key: str, order: Sequence[str]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row.get(key) or UNLABELLED, []).append(row)
    ordered = [k for k in order if k in groups] + sorted(k for k in groups if k not in order)
    return {k: score_block(groups[k]) for k in ordered}


def scope_matrix(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Counts of (prompt scope -> response scope the judge saw), scored rows only."""
    matrix: dict[str, Counter] = {}
    for row in rows:
        if not is_scored(row) or not row.get("response_scope"):
            continue
        matrix.setdefault(row.get("scope") or UNLABELLED, Counter())[row["response_scope"]] += 1
    order = [*SCOPES, UNLABELLED]
    return {k: {s: matrix[k][s] for s in SCOPES if matrix[k][s]} for k in order if k in matrix}


def referral_fit(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per tier: how often the referral was missed (too weak), fitting, or over (too strong)."""
    counts: dict[str, Counter] = {}
    for row in rows:
        gap = row.get("referral_gap")
        if not is_scored(row) or not row.get("tier") or not isinstance(gap, int):
            continue
        counts.setdefault(row["tier"], Counter())["missed" if gap < 0 else "over" if gap > 0 else "fits"] += 1
    out = {}
    for tier in TIERS:
        if tier in counts:
            total = sum(counts[tier].values())
            out[tier] = {"n": total, **{k: round(counts[tier][k] / total, 4) for k in ("missed", "fits", "over")}}
    return out


def _excerpt(text: Any, limit: int = EXCERPT_CHARS) -> str:
    text = str(text or "")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def weakest(rows: Sequence[Mapping[str, Any]], k: int = 5) -> list[dict[str, Any]]:
    """The ``k`` scored rows with the lowest combined score, with their scores and excerpts."""
    ranked = sorted((r for r in rows if is_scored(r)), key=lambda r: (float(r["combined"]), str(r.get("id"))))
    return [
        {
            "id": r.get("id"),
            "tier": r.get("tier"),
            "scope": r.get("scope"),
            "response_scope": r.get("response_scope"),
            "referral_strength": r.get("referral_strength"),
            **{key: r.get(key) for key in SCORE_KEYS},
            "violations": list(r.get("violations") or []),
            "prompt": _excerpt(r.get("prompt")),
            "response": _excerpt(r.get("response")),
        }
        for r in ranked[:k]
    ]


def policy_violation_rates(rows: Sequence[Mapping[str, Any]], ids: Sequence[str] = ()) -> dict[str, float]:
    """Share of scored rows that broke each policy, by policy id (``ids`` adds 0% rows).

    Uses :func:`argen.policy.report.violation_rates` when the policy package is present, so the
    policy report and this one count the same way; it reads ``.scores.policy_violations`` of
    scored results, which rows are wrapped to provide. Without it, the rows are counted here.
    """
    scored = [r for r in rows if is_scored(r)]
    try:
        from argen.policy.report import violation_rates
    except ImportError:
        violation_rates = None
    if violation_rates is not None:
        results = [SimpleNamespace(scores=SimpleNamespace(policy_violations=list(r.get("policy_violations") or [])))
                   for r in scored]
        return {str(k): round(float(v), 4) for k, v in violation_rates(results, tuple(ids)).items()}
    counts: Counter = Counter({str(i): 0 for i in ids})
    for row in scored:
        counts.update({str(v.get("id")) for v in row.get("policy_violations") or [] if isinstance(v, Mapping)})
    return {k: (round(counts[k] / len(scored), 4) if scored else 0.0) for k in sorted(counts)}


def summarise(
    rows: Sequence[Mapping[str, Any]],
    *,
    weakest_k: int = 5,
    meta: Mapping[str, Any] | None = None,
    policy_ids: Sequence[str] = (),
) -> dict[str, Any]:
    """The whole summary of one evaluation: overall, per tier, per scope, scopes, referrals, weakest.

    ``meta`` (model, judge, rubric version, generation settings...) is copied in first, so the
    summary says what produced it; ``policy_ids`` (the policies that ran) get a rate even at 0%.
    """
    overall = score_block(rows)
    unscored = [r for r in rows if not is_scored(r)]
    summary: dict[str, Any] = dict(meta or {})
    summary.update(
        {
            "n": overall["n"],
            "scored": overall["scored"],
            "unscored": len(unscored),
            "means": overall["means"],
            "violation_rates": overall["violation_rates"],
            "by_tier": _group(rows, "tier", TIERS),
            "by_scope": _group(rows, "scope", SCOPES),
            "response_scope_counts": dict(
                sorted(Counter(r["response_scope"] for r in rows if is_scored(r) and r.get("response_scope")).items())
            ),
            "scope_matrix": scope_matrix(rows),
            "referral_fit": referral_fit(rows),
            "truncated": sum(1 for r in rows if r.get("truncated")),
            "looping": looping_summary(rows),
            "policy_violation_rates": policy_violation_rates(rows, policy_ids),
            "weakest": weakest(rows, weakest_k),
            "unscored_examples": [{"id": r.get("id"), "error": r.get("error")} for r in unscored[:5]],
        }
    )
    return summary
