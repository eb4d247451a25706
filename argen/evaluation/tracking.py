"""Send evaluation results to the active Weights & Biases run (when there is one)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from argen.reporting.summaries import EVAL_TABLE_COLUMNS, summary_metrics, table_data

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

    metrics = {**summary_metrics(summary, prefix), **dict(extra or {})}
    data = table_data([{**r, "violations": r.get("violations") or []} for r in rows], EVAL_TABLE_COLUMNS, join=", ")
    payload: dict[str, Any] = dict(metrics)
    payload[f"{prefix}/responses"] = wandb.Table(columns=EVAL_TABLE_COLUMNS, data=data)
    for image in images:
        if Path(image).is_file():
            payload[f"{prefix}/{Path(image).stem}"] = wandb.Image(str(image))
    run.log(payload)
    run.summary.update(metrics)
    return True
