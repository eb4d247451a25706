"""The run config's schema: one frozen dataclass per config group, built from the composed config.

Hydra composes the YAML as before (``--cfg job`` prints exactly what it did); :meth:`TrainConfig.parse`
then reads every group once, checks each value and raises :class:`~argen.errors.ConfigError`
naming the key at fault. Components take their own typed node (``settings.grpo``,
``settings.hardware``, ...) instead of the whole DictConfig. docs/config.md lists the groups.

This package sits at the bottom with :mod:`argen.config`: it imports nothing of ArGen's but that,
the errors and the runtime facts (:mod:`argen.runtime`). Checks that must build something (the
judge, the rubric tables, the Rego policies, the reward callables) live beside what they build and
run from :func:`argen.training.validation.validate_train_config`, still in the Hydra process.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from omegaconf import DictConfig

from argen.config_schema.audit import AuditJudge, audit_judge_config
from argen.config_schema.base import check_no_missing_values, to_plain
from argen.config_schema.commands import EvaluateConfig, ScoreConfig
from argen.config_schema.grpo import (
    ARGEN_GRPO_KEYS, BETA_KINDS, MANAGED_GRPO_FIELDS, VLLM_MODES, BetaScheduleConfig, GrpoConfig, grpo_config_fields,
)
from argen.config_schema.machine import (
    LAUNCHERS, MODEL_DTYPES, MODEL_SOURCES, HardwareConfig, LoraSettings, ModelConfig, launched_world_size,
)
from argen.config_schema.reward import ABLATIONS, ADAPT_DEFAULTS, PRINCIPLE_NAMES, REWARD_MODES, AdaptConfig, RewardConfig
from argen.config_schema.run import LOGGING_BACKENDS, WANDB_MODES, CompletionsConfig, DataConfig, EvalConfig, LoggingConfig
from argen.config_schema.scoring import (
    ON_ERROR, RUBRIC_MODES, SCORER_KEYS, JudgeConfig, PolicyConfig, RubricConfig, ScorerConfig,
)
from argen.config_schema.values import boolean, check_type, is_int, is_number, non_negative_int, one_of, positive_int
from argen.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    """Every group of a training run, typed and checked (``python -m argen.train``)."""

    model: ModelConfig
    reward: RewardConfig
    grpo: GrpoConfig
    hardware: HardwareConfig
    judge: JudgeConfig
    rubric: RubricConfig
    policy: PolicyConfig
    data: DataConfig
    logging: LoggingConfig
    eval: EvalConfig
    completions: CompletionsConfig
    seed: int
    resume: Any = False
    resume_allow_changes: bool = False

    @classmethod
    def parse(cls, cfg: Any, world_size: int | None = None) -> "TrainConfig":
        """Check every group of a composed training config, in the order the old checks ran.

        ``world_size``: this process is one rank of that many (WORLD_SIZE); the hardware
        group's process count is replaced by it.
        """
        if isinstance(cfg, DictConfig):
            check_no_missing_values(cfg)
        model = ModelConfig.parse(cfg["model"])
        reward = RewardConfig.parse(cfg["reward"])
        hardware = HardwareConfig.parse(cfg["hardware"], world_size)
        grpo = GrpoConfig.parse(cfg["grpo"], hardware.world_size)
        ev = EvalConfig.parse(cfg["eval"])
        completions = CompletionsConfig.parse(cfg.get("completions"))
        log = LoggingConfig.parse(cfg["logging"])
        if grpo.use_vllm and hardware.use_cpu:
            raise ConfigError("grpo.use_vllm", f"vLLM generates on GPUs; hardware={hardware.name} runs on the CPU")
        seed = cfg.get("seed", 42)
        if not is_int(seed):
            raise ConfigError("seed", f"must be an integer, got {seed!r}")
        rubric = RubricConfig.parse(cfg["rubric"], reward.ablation)
        if ev.at_end:  # the audit judge scores the end-of-training evaluation only
            ev = replace(ev, audit=audit_judge_config(ev.audit_judge, ev.audit_judge_overrides, rubric, key="eval.audit_judge"))
        return cls(
            model=model, reward=reward, grpo=grpo, hardware=hardware, judge=JudgeConfig.parse(cfg["judge"]),
            rubric=rubric, policy=PolicyConfig.parse(cfg.get("policy")),
            data=DataConfig.parse(cfg["data"]), logging=log, eval=ev, completions=completions, seed=int(seed),
            resume=to_plain(cfg.get("resume", False)), resume_allow_changes=boolean(cfg.get("resume_allow_changes", False), "resume_allow_changes"),
        )


__all__ = [
    "ABLATIONS", "ADAPT_DEFAULTS", "ARGEN_GRPO_KEYS", "AuditJudge", "audit_judge_config", "BETA_KINDS", "LAUNCHERS", "LOGGING_BACKENDS", "MANAGED_GRPO_FIELDS",
    "MODEL_DTYPES", "MODEL_SOURCES", "ON_ERROR", "PRINCIPLE_NAMES", "REWARD_MODES", "RUBRIC_MODES", "SCORER_KEYS",
    "VLLM_MODES", "WANDB_MODES", "AdaptConfig", "BetaScheduleConfig", "CompletionsConfig", "DataConfig", "EvalConfig", "EvaluateConfig",
    "GrpoConfig", "HardwareConfig", "JudgeConfig", "LoggingConfig", "ModelConfig", "PolicyConfig", "RewardConfig",
    "RubricConfig", "ScoreConfig", "ScorerConfig", "TrainConfig", "LoraSettings", "boolean", "check_type", "grpo_config_fields", "is_int", "is_number", "launched_world_size",
    "non_negative_int", "one_of", "positive_int",
]
