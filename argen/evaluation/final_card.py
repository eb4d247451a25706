"""``final_model/README.md`` rewritten once the end-of-training evaluation has run, and sent to the
Hugging Face Hub when the run pushes there.

Training writes the final model's card without results (:class:`argen.training.grpo_trainer.ArgenGRPOTrainer`);
this step renders it again with the run summary's ``evaluation`` block: the base-vs-trained table
per principle under the reward judge and the audit judge, and looping answers. With
``grpo.push_to_hub=true grpo.hub_model_id=OWNER/NAME`` transformers pushed the model (and the
training-time card) while training; the evaluated card follows it into the same repo here, with
the same token (``HF_TOKEN`` or the saved login) and revision (``grpo.hub_revision``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from argen.config import to_plain
from argen.reporting.model_card import CARD, card_for_run, write_model_card

log = logging.getLogger(__name__)


def write_final_card(cfg: Any, run_dir: str | Path, summary: Mapping[str, Any], policies: tuple[str, ...] = ()) -> dict[str, Any]:
    """Rewrite the final model's card from the run summary (with its ``evaluation``); push it when
    the run pushes to the Hub. Returns ``{"path": ..., "pushed_to": repo or None}``, with ``error``
    instead when either failed: the evaluation already written must not be lost to a card."""
    try:
        return _write_final_card(cfg, run_dir, summary, policies)
    except Exception as exc:  # noqa: BLE001 - recorded in summary.json and logged with its traceback
        log.exception("the final model card could not be written or pushed")
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}


def _write_final_card(cfg: Any, run_dir: str | Path, summary: Mapping[str, Any], policies: tuple[str, ...]) -> dict[str, Any]:
    config = to_plain(cfg)
    final = Path(str(summary["final_model"]))
    judge = (summary.get("judge") or {}).get("name") if isinstance(summary.get("judge"), Mapping) else summary.get("judge")
    text = card_for_run(config, run_dir, steps=int(summary.get("steps") or 0), judge=judge, policies=policies,
                        evaluation=summary.get("evaluation"))
    path = write_model_card(final, text)
    grpo = config.get("grpo") or {}
    pushed = None
    if grpo.get("push_to_hub") and grpo.get("hub_model_id"):
        pushed = push_card(path, str(grpo["hub_model_id"]), revision=grpo.get("hub_revision"))
    return {"path": str(path), "pushed_to": pushed}


def push_card(path: Path, repo_id: str, revision: str | None = None) -> str:
    """Upload one card as the repo's README.md (huggingface_hub finds the token itself)."""
    from huggingface_hub import HfApi

    HfApi().upload_file(path_or_fileobj=str(path), path_in_repo=CARD, repo_id=repo_id, revision=revision,
                        commit_message="ArGen model card with the end-of-training evaluation")
    log.info("model card pushed to %s", repo_id)
    return repo_id


__all__ = ["push_card", "write_final_card"]
