"""Compose TRL's GRPOConfig from the grpo, hardware, model and logging groups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from argen.config import to_plain


def grpo_kwargs(cfg: DictConfig, run_dir: Path, reward_weights: list[float]) -> dict[str, Any]:
    """Keyword arguments for GRPOConfig (plain data, so tests can check them without trl)."""
    kwargs: dict[str, Any] = dict(to_plain(cfg.grpo))
    # grpo.beta_schedule is ArGen's (a callback applies it); TRL gets its start value as beta, so the
    # reference model is loaded exactly when the schedule starts above 0.
    schedule = kwargs.pop("beta_schedule", None) or {}
    if schedule.get("start") is not None:
        kwargs["beta"] = float(schedule["start"])
    hw = cfg.hardware
    kwargs.update(
        output_dir=str(run_dir / "checkpoints"),
        seed=int(cfg.seed),
        data_seed=int(cfg.seed),
        reward_weights=list(reward_weights),
        report_to=["wandb"] if cfg.logging.backend == "wandb" else [],
        bf16=bool(hw.get("bf16", False)),
        use_cpu=bool(hw.get("use_cpu", False)),
        run_name=str(run_dir.name),
        # ArGen logs its own metrics file; TRL's completion tables are opt-in via grpo.log_completions.
        disable_tqdm=False,
    )
    # Always explicit: TRL's GRPOConfig turns checkpointing on by default, which only costs time on
    # a small model (transformers 5 calls the flag activation_checkpointing).
    kwargs.setdefault("activation_checkpointing", bool(cfg.model.get("gradient_checkpointing", False)))
    kwargs.setdefault("save_only_model", False)  # optimizer + scheduler + RNG, so resume continues exactly
    return kwargs


def build_grpo_config(cfg: DictConfig, run_dir: Path, reward_weights: list[float]):
    """The GRPOConfig for this run."""
    from trl import GRPOConfig

    return GRPOConfig(**grpo_kwargs(cfg, run_dir, reward_weights))
