"""The roots of ``argen.evaluate`` (conf/evaluate.yaml) and ``argen.score`` (conf/score.yaml):
every root key typed and ranged, an unknown root key refused, the groups parsed by their own
schema classes. Each entry point parses its root first, before anything loads.

The checks that look beyond the value (does the checkpoint hold a model, can the output be
written, is the scenario file well formed) stay in the entry points, right after this parse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from omegaconf import DictConfig

from argen.config_schema.audit import AuditJudge, audit_judge_config
from argen.config_schema.base import check_no_missing_values, to_plain
from argen.config_schema.machine import LoraSettings, ModelConfig
from argen.config_schema.run import DataConfig, LoggingConfig
from argen.config_schema.scoring import JudgeConfig, PolicyConfig, RubricConfig
from argen.config_schema.values import boolean, is_int, is_number, positive_int
from argen.errors import ConfigError

# Composed by Hydra into every root; not a setting of the command.
HYDRA_KEYS = ("hydra",)


# Fields of the root classes that are read from other keys, not set themselves.
DERIVED_FIELDS = ("audit",)


def _refuse_unknown(cfg: Mapping[str, Any], known: set[str], command: str) -> None:
    known = known - set(DERIVED_FIELDS)
    unknown = sorted(set(cfg) - known - set(HYDRA_KEYS))
    if unknown:
        raise ConfigError(unknown[0], f"is not a setting of {command} ({', '.join(sorted(known))})")


def _optional_text(value: Any, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, f"must be a non-empty string or null, got {value!r}")
    return value


def _audit_overrides(value: Any, key: str) -> Mapping[str, Any] | tuple[str, ...]:
    """``audit_judge_overrides``: a mapping of judge keys, or a list of ``key=value`` strings."""
    value = to_plain(value)
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str) or "=" not in item or not item.split("=", 1)[0].strip():
                raise ConfigError(key, f"entry {item!r} is not key=value")
        return tuple(value)
    raise ConfigError(key, f"must be a mapping of judge keys (or a list of key=value), got {value!r}")


def _root(cfg: Any) -> dict[str, Any]:
    if isinstance(cfg, DictConfig):
        check_no_missing_values(cfg)
    if not isinstance(cfg, Mapping):
        raise ConfigError("config", f"must be a mapping, got {cfg!r}")
    # Hydra's own node (run dir patterns resolved only inside a Hydra job) is not the command's.
    return {str(k): to_plain(cfg[k]) for k in cfg if k not in HYDRA_KEYS}


@dataclass(frozen=True)
class EvaluateConfig:
    """conf/evaluate.yaml: one model on a scenario file, or ``compare=[RUN_A,RUN_B]``."""

    checkpoint: str | None
    label: str | None
    compare: tuple[str, ...] | None
    compare_allow_mismatch: bool
    audit_judge: str | None
    audit_judge_overrides: Mapping[str, Any] | tuple[str, ...]
    temperature: float
    max_new_tokens: int
    batch_size: int
    seed: int
    progress: bool
    # The groups; None in compare mode (a comparison loads no model and builds no judge).
    model: ModelConfig | None
    judge: JudgeConfig | None
    rubric: RubricConfig | None
    policy: PolicyConfig | None
    data: DataConfig | None
    logging: LoggingConfig
    audit: AuditJudge | None = None  # audit_judge resolved against the rubric

    @classmethod
    def parse(cls, cfg: Any) -> "EvaluateConfig":
        """Every root key by type and range, then the groups (skipped by a comparison)."""
        root = _root(cfg)
        _refuse_unknown(root, {f.name for f in fields(cls)}, "argen.evaluate")
        compare = root.get("compare") or None  # [] compares nothing: evaluate a model
        if compare is not None:
            if not isinstance(compare, list) or not compare or not all(isinstance(d, str) and d for d in compare):
                raise ConfigError("compare", f"must be a list of run dirs, e.g. compare=[RUN_A,RUN_B]; got {compare!r}")
            compare = tuple(compare)
        temp = root.get("temperature")
        if not is_number(temp) or temp < 0:
            raise ConfigError("temperature", f"must be a number >= 0 (0 = greedy), got {temp!r}")
        seed = root.get("seed")
        if not is_int(seed):
            raise ConfigError("seed", f"must be an integer, got {seed!r}")
        checkpoint = _optional_text(root.get("checkpoint"), "checkpoint")
        values = dict(
            checkpoint=checkpoint, label=_optional_text(root.get("label"), "label"), compare=compare,
            compare_allow_mismatch=boolean(root.get("compare_allow_mismatch", False), "compare_allow_mismatch"),
            audit_judge=_optional_text(root.get("audit_judge"), "audit_judge"),
            audit_judge_overrides=_audit_overrides(root.get("audit_judge_overrides"), "audit_judge_overrides"),
            temperature=float(temp), max_new_tokens=positive_int(root.get("max_new_tokens"), "max_new_tokens"),
            batch_size=positive_int(root.get("batch_size"), "batch_size"), seed=int(seed),
            progress=boolean(root.get("progress", True), "progress"), logging=LoggingConfig.parse(root.get("logging")),
        )
        model_node = root.get("model")
        # A checkpoint replaces the group's weights, but its LoRA settings are still checked.
        LoraSettings.parse((model_node or {}).get("lora_config") if isinstance(model_node, Mapping) else None)
        if compare is not None:
            return cls(model=None, judge=None, rubric=None, policy=None, data=None, **values)
        rubric = RubricConfig.parse(root.get("rubric"))
        audit = audit_judge_config(values["audit_judge"], values["audit_judge_overrides"], rubric)
        return cls(model=ModelConfig.parse(model_node) if checkpoint is None else None,
                   judge=JudgeConfig.parse(root.get("judge")), rubric=rubric, audit=audit,
                   policy=PolicyConfig.parse(root.get("policy")), data=DataConfig.parse(root.get("data")), **values)


@dataclass(frozen=True)
class ScoreConfig:
    """conf/score.yaml: score an existing responses file with the judge, policies and rubric."""

    input: str
    output: str
    batch_size: int
    limit: int | None
    retry_errors: bool
    progress: bool
    audit_judge: str | None
    audit_judge_overrides: Mapping[str, Any] | tuple[str, ...]
    judge: JudgeConfig
    rubric: RubricConfig
    policy: PolicyConfig
    audit: AuditJudge | None = None  # audit_judge resolved against the rubric

    USAGE = "python -m argen.score input=FILE.jsonl output=OUT.jsonl"

    @classmethod
    def parse(cls, cfg: Any) -> "ScoreConfig":
        """Every root key by type and range, then the groups."""
        root = _root(cfg)
        _refuse_unknown(root, {f.name for f in fields(cls)}, "argen.score")
        for key in ("input", "output"):
            value = root.get(key)
            if value is None or value == "":
                raise ConfigError(key, f"is required: {cls.USAGE}")
            if not isinstance(value, str):
                raise ConfigError(key, f"must be a file path, got {value!r}")
        rubric = RubricConfig.parse(root.get("rubric"))
        overrides = _audit_overrides(root.get("audit_judge_overrides"), "audit_judge_overrides")
        audit_judge = _optional_text(root.get("audit_judge"), "audit_judge")
        return cls(
            input=root["input"], output=root["output"], batch_size=positive_int(root.get("batch_size"), "batch_size"),
            limit=positive_int(root.get("limit"), "limit", allow_none=True),
            retry_errors=boolean(root.get("retry_errors", False), "retry_errors"),
            progress=boolean(root.get("progress", True), "progress"),
            audit_judge=audit_judge, audit_judge_overrides=overrides,
            judge=JudgeConfig.parse(root.get("judge")), rubric=rubric, policy=PolicyConfig.parse(root.get("policy")),
            audit=audit_judge_config(audit_judge, overrides, rubric),
        )
