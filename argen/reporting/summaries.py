"""Every number and line a run reports, in one place: quarter means of a series, flat metric
dicts of an evaluation, the wandb table columns, and the one line each command prints at its end.

Works from plain rows and summary dicts only (no model, no judge), so training, periodic
evaluation, evaluation and sweeps all report the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from argen.types import PRINCIPLES

SCORE_KEYS = (*PRINCIPLES, "combined")

# Columns of the wandb table of one evaluation's responses.
EVAL_TABLE_COLUMNS = ["id", "tier", "scope", "response_scope", "prompt", "response",
                      *SCORE_KEYS, "violations", "error"]
# Columns of the wandb table of sampled training completions (the JSONL rows carry everything,
# the nested verdict included).
COMPLETION_TABLE_COLUMNS = (
    "step", "prompt", "response", "tier", "scope", *SCORE_KEYS,
    "referral_strength", "response_scope", "violations", "policy_violations", "error",
)


# ---------------------------------------------------------------------------------- formatting
def percent(value: float | None) -> str:
    """``0.34`` -> ``34%`` (``n/a`` for no value)."""
    return "n/a" if value is None else f"{100 * value:.0f}%"


def number(value: float | None, digits: int = 3) -> str:
    """A score for a table (``n/a`` for no value)."""
    return "n/a" if value is None else f"{value:.{digits}f}"


# ---------------------------------------------------------------------------------- series
def _quarter(values: Sequence[float]) -> int:
    return max(1, len(values) // 4)


def last_quarter(values: Sequence[float]) -> float | None:
    """Mean of the last quarter of a series (at least its last point): the 'final' value of a run."""
    if not values:
        return None
    q = _quarter(values)
    return sum(values[-q:]) / q


def quarter_means(values: Sequence[float]) -> tuple[float, float] | None:
    """Mean of the first and last quarter of a series (None for fewer than 4 points)."""
    if len(values) < 4:
        return None
    q = _quarter(values)
    return sum(values[:q]) / q, sum(values[-q:]) / q


# ---------------------------------------------------------------------------------- metrics
def summary_metrics(summary: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """Flat metrics of one evaluation summary: means, violation rates and the unscored count."""
    metrics: dict[str, float] = {}
    for key, value in (summary.get("means") or {}).items():
        if value is not None:
            metrics[f"{prefix}/{key}"] = value
    for key, value in (summary.get("violation_rates") or {}).items():
        if value is not None:
            metrics[f"{prefix}/violation_rate/{key}"] = value
    metrics[f"{prefix}/unscored"] = summary.get("unscored", 0)
    return metrics


def periodic_metrics(records: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """``eval/*`` means over scored records (``ScoredResponse.to_record()`` rows); unscored are left out."""
    out: dict[str, float] = {}
    scored = [r for r in records if r.get("combined") is not None]
    for name in SCORE_KEYS:
        values = [float(r[name]) for r in scored if r.get(name) is not None and math.isfinite(float(r[name]))]
        if values:
            out[f"eval/{name}"] = sum(values) / len(values)
    if scored:
        out["eval/violation_rate"] = sum(bool(r.get("violations")) for r in scored) / len(scored)
    out["eval/unscored_frac"] = (len(records) - len(scored)) / max(1, len(records))
    return out


def table_data(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, join: str = "; ") -> list[list[Any]]:
    """Rows as table lines in ``columns`` order; list cells (violations) joined into one text."""
    data = []
    for row in rows:
        line = []
        for col in columns:
            value = row.get(col)
            if col == "id":
                value = str(value)
            elif isinstance(value, (list, tuple)):
                value = join.join(v if isinstance(v, str) else str(v) for v in value)
            line.append(value)
        data.append(line)
    return data


# ---------------------------------------------------------------------------------- end lines
def training_line(summary: Mapping[str, Any]) -> str:
    """The one line printed when a training run ends: what happened and where everything went."""
    parts = [f"argen: trained {summary.get('steps', 0)} steps in {summary.get('wall_s', 0):.0f}s"]
    q = summary.get("quarters", {}).get("reward")
    if q:
        parts.append(f"reward first quarter {q['first']:.3f} -> last quarter {q['last']:.3f}")
    trend = (summary.get("periodic_eval") or {}).get("trend") or {}
    if trend.get("headline"):
        parts.append(trend["headline"])  # learning during the run, with its paired test
    ev = summary.get("evaluation") or {}
    if ev.get("headline"):
        parts.append(ev["headline"])
    gaming = summary.get("gaming_monitor") or {}
    if gaming.get("headline"):
        parts.append(gaming["headline"])  # generic tails rose during training (argen.training.gaming_monitor)
    run_dir = summary.get("run_dir", ".")
    files = ["config.yaml", "metrics.jsonl", "reward_curve.png", "final_model/", "summary.json"]
    files += [name for name in ("completions.jsonl", "periodic_eval.jsonl", "eval/") if (Path(run_dir) / name).exists()]
    parts.append(f"run dir {run_dir} ({', '.join(files)})")
    return "; ".join(parts)


def evaluation_line(summary: Mapping[str, Any], run_dir: Path) -> str:
    """The one line printed when an evaluation ends: scores, violations, unscored count, where the files are."""
    m, v = summary["means"], summary["violation_rates"]
    parts = [
        f"argen.evaluate: {summary['label']} on {summary['n']} scenarios",
        f"combined {number(m.get('combined'))} (ahimsa {number(m.get('ahimsa'))}, dharma {number(m.get('dharma'))}, "
        f"helpfulness {number(m.get('helpfulness'))})",
        f"violations ahimsa {percent(v.get('ahimsa'))}, dharma {percent(v.get('dharma'))}, "
        f"helpfulness {percent(v.get('helpfulness'))}",
        f"unscored {summary['unscored']}",
    ]
    if summary.get("resumed_rows"):
        parts.append(f"resumed {summary['resumed_rows']} rows")
    audit = summary.get("audit")
    if audit:
        rho = audit["spearman"]["combined"]["rho"]
        parts.append(f"audit {audit['judge']} combined {number(audit['audit_means'].get('combined'))} "
                     f"(Spearman {number(rho)}, scope agreement {percent(audit['scope_agreement']['rate'])})")
    parts.append(f"run dir {run_dir} ({', '.join(summary['files'])})")
    return "; ".join(parts)


__all__ = [
    "COMPLETION_TABLE_COLUMNS", "EVAL_TABLE_COLUMNS", "SCORE_KEYS", "evaluation_line", "last_quarter", "number",
    "percent", "periodic_metrics", "quarter_means", "summary_metrics", "table_data", "training_line",
]
