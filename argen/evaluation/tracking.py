"""Send evaluation results to the active Weights & Biases run (when there is one)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from argen.scoring.verdict import PRINCIPLES

TABLE_COLUMNS = ["id", "tier", "scope", "response_scope", "prompt", "response",
                 "ahimsa", "dharma", "helpfulness", "combined", "violations", "error"]


def eval_metrics(summary: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """Flat metrics of one evaluation: means, violation rates and the unscored count."""
    metrics: dict[str, float] = {}
    for key, value in (summary.get("means") or {}).items():
        if value is not None:
            metrics[f"{prefix}/{key}"] = value
    for key, value in (summary.get("violation_rates") or {}).items():
        if value is not None:
            metrics[f"{prefix}/violation_rate/{key}"] = value
    metrics[f"{prefix}/unscored"] = summary.get("unscored", 0)
    return metrics


def wandb_run():
    """The active wandb run, or None (wandb not installed, not initialised, or disabled)."""
    try:
        import wandb
    except ImportError:
        return None
    return wandb.run


def log_evaluation(
    prefix: str,
    summary: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    *,
    extra: Mapping[str, float] | None = None,
    images: Sequence[Path] = (),
) -> bool:
    """Log metrics, a table of responses and plots under ``prefix`` to the active run.

    Returns False (and logs nothing) when no wandb run is active.
    """
    run = wandb_run()
    if run is None:
        return False
    import wandb

    metrics = {**eval_metrics(summary, prefix), **dict(extra or {})}
    data = []
    for r in rows:
        data.append([str(r.get("id")), r.get("tier"), r.get("scope"), r.get("response_scope"), r.get("prompt"),
                     r.get("response"), *(r.get(p) for p in (*PRINCIPLES, "combined")),
                     ", ".join(r.get("violations") or []), r.get("error")])
    payload: dict[str, Any] = dict(metrics)
    payload[f"{prefix}/responses"] = wandb.Table(columns=TABLE_COLUMNS, data=data)
    for image in images:
        if Path(image).is_file():
            payload[f"{prefix}/{Path(image).stem}"] = wandb.Image(str(image))
    run.log(payload)
    run.summary.update(metrics)
    return True
