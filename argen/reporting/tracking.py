"""Point Weights & Biases at a run directory: one rule for training and evaluation alike."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from argen.config import to_plain
from argen.config_schema import LoggingConfig
from argen.runtime import is_main_process


def wandb_mode(logging_node: Any) -> str:
    """``logging.mode``; ``auto`` means online when a key is in the environment, else offline."""
    mode = logging_node.mode if isinstance(logging_node, LoggingConfig) else logging_node.get("mode", "auto")
    if mode == "auto":
        mode = "online" if os.environ.get("WANDB_API_KEY") else "offline"
    return str(mode)


def setup_tracking(logging_cfg: LoggingConfig | Any, run_dir: Path, config: dict[str, Any] | None = None) -> None:
    """Point wandb at the run dir; offline unless a key is present or mode=online.

    ``logging_cfg``: the typed ``logging`` node (a whole composed config is read for its
    ``logging`` node, and is then what wandb records unless ``config`` says otherwise);
    ``config``: what wandb records as the run's config.
    """
    if not isinstance(logging_cfg, LoggingConfig):
        config = to_plain(logging_cfg) if config is None else config
        logging_cfg = LoggingConfig.parse(logging_cfg["logging"])
    if logging_cfg.backend != "wandb":
        os.environ.setdefault("WANDB_DISABLED", "true")
        return
    mode = wandb_mode(logging_cfg)
    os.environ["WANDB_MODE"] = mode
    os.environ["WANDB_DIR"] = str(run_dir)
    os.environ["WANDB_PROJECT"] = logging_cfg.project
    if logging_cfg.entity:
        os.environ["WANDB_ENTITY"] = logging_cfg.entity
    if is_main_process():
        import wandb

        wandb.init(
            project=os.environ["WANDB_PROJECT"],
            entity=logging_cfg.entity,
            dir=str(run_dir),
            mode=mode,
            name=run_dir.name,
            tags=list(logging_cfg.tags),
            config=config,
        )
