"""Did the policy learn during the run? The periodic evaluation's first and last step, paired.

The periodic evaluation answers the same fixed scenarios at every evaluated step
(``periodic_eval.jsonl``), so its first evaluation (the starting model, step 0) and its last
(the final policy) pair up scenario by scenario, exactly like the end-of-training comparison:
mean difference, 95% bootstrap interval and Wilcoxon p (:mod:`argen.evaluation.paired_stats`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from argen.evaluation.paired_stats import compare_rows, from_dict
from argen.reporting.metrics import periodic_steps
from argen.types import PRINCIPLES


def periodic_trend(path: str | Path) -> dict[str, Any] | None:
    """First against last periodic evaluation: ``first_step``, ``last_step``, ``curve`` (step ->
    mean combined), ``stats`` (paired tests per score) and a one-line ``headline``; None with
    fewer than two evaluated steps."""
    steps = periodic_steps(path)
    if len(steps) < 2:
        return None
    first, last = min(steps), max(steps)
    keys = (*PRINCIPLES, "combined")
    stats = compare_rows(steps[first], steps[last], score_keys=keys, violation_keys=(*PRINCIPLES, "any"))
    combined = from_dict(stats["overall"]["combined"])

    def mean(rows):
        vals = [float(r["combined"]) for r in rows if isinstance(r.get("combined"), (int, float))]
        return round(sum(vals) / len(vals), 4) if vals else None

    curve = {step: mean(rows) for step, rows in steps.items()}
    before, after = combined.mean_before, combined.mean_after
    if combined.n:
        headline = (f"periodic eval combined {before:.3f} at step {first} -> {after:.3f} at step {last} "
                    f"({combined.describe()})")
    else:
        headline = f"periodic eval: no scenario scored at both step {first} and step {last}"
    return {"first_step": first, "last_step": last, "curve": curve, "stats": stats, "headline": headline}
