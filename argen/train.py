"""Entry point: ``python -m argen.train [group=option ...] [key=value ...]``.

One Hydra process composes and validates the config. A single-process run trains here; a
multi-process hardware option hands the resolved config to :mod:`argen.launch`, which starts
the worker processes (Hydra never runs inside them).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from argen.errors import user_errors

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def _in_distributed_worker() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@hydra.main(config_path=CONF_DIR, config_name="train", version_base=None)
def main(cfg: DictConfig) -> dict | None:
    """Train one configuration (one job of a sweep)."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with user_errors("argen.train"):
        from argen.config import validate_train_config

        validate_train_config(cfg)
        if cfg.hardware.num_processes > 1 and not _in_distributed_worker():
            from argen.launch import launch_workers

            summary = launch_workers(cfg, run_dir)
        else:
            from argen.training.runner import run_training

            summary = run_training(cfg, run_dir)
        if summary:
            from argen.training.runner import summary_line

            print(summary_line(summary), flush=True)
        return summary


if __name__ == "__main__":
    main()
