"""Point Weights & Biases at a run directory: one rule for training and evaluation alike."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from argen.config import to_plain
from argen.runtime import is_main_process


def wandb_mode(logging_node: Any) -> str:
    """``logging.mode``; ``auto`` means online when a key is in the environment, else offline."""
    mode = logging_node.get("mode", "auto")
    if mode == "auto":
        mode = "online" if os.environ.get("WANDB_API_KEY") else "offline"
    return str(mode)


def setup_tracking(cfg: Any, run_dir: Path) -> None:
    """Point wandb at the run dir; offline unless a key is present or mode=online."""
    if cfg.logging.backend != "wandb":
        os.environ.setdefault("WANDB_DISABLED", "true")
        return
    mode = wandb_mode(cfg.logging)
    os.environ["WANDB_MODE"] = mode
    os.environ["WANDB_DIR"] = str(run_dir)
    os.environ["WANDB_PROJECT"] = str(cfg.logging.get("project", "argen"))
    if cfg.logging.get("entity"):
        os.environ["WANDB_ENTITY"] = str(cfg.logging.entity)
    if is_main_process():
        import wandb

        wandb.init(
            project=os.environ["WANDB_PROJECT"],
            entity=cfg.logging.get("entity"),
            dir=str(run_dir),
            mode=mode,
            name=run_dir.name,
            tags=list(cfg.logging.get("tags") or []),
            config=to_plain(cfg),
        )
