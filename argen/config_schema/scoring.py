"""``judge``, ``rubric`` and ``policy``: the scoring path's nodes.

Their deeper checks belong to what they configure (the judge class, argen.scoring.rubric.Rubric,
argen.policy.engine.PolicyEngine); argen.training.validation builds those once in the Hydra process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from argen.config_schema.values import _frozen, _mapping, is_number
from argen.errors import ConfigError

ON_ERROR = ("skip", "raise")
# Keys of the `judge` node that configure the Scorer around the judge, not the judge itself.
SCORER_KEYS = ("on_error", "max_error_rate")
RUBRIC_MODES = ("full", "reward_only", "policy_only")


@dataclass(frozen=True)
class ScorerConfig:
    """``judge.on_error`` and ``judge.max_error_rate``: what the scorer does with failed verdicts."""

    on_error: str = "skip"
    max_error_rate: float = 0.5


@dataclass(frozen=True)
class JudgeConfig:
    """``judge``: the class to build (``_target_``), its own settings, and the scorer's two keys.

    The judge's settings are checked by the judge itself when it is built (in the Hydra process,
    by argen.training.validation); a bad one raises a ConfigError naming ``judge.<key>``.
    """

    target: str
    name: str | None
    settings: Mapping[str, Any]  # the judge's keyword arguments: every key but _target_ and the scorer's
    scorer: ScorerConfig

    @classmethod
    def parse(cls, node: Any, prefix: str = "judge") -> "JudgeConfig":
        judge = _mapping(node, prefix)
        if not judge.get("_target_"):
            raise ConfigError(f"{prefix}._target_", "is required (the judge class to build)")
        on_error = str(judge.get("on_error", "skip"))
        if on_error not in ON_ERROR:
            raise ConfigError(f"{prefix}.on_error", f"must be 'skip' or 'raise', got '{on_error}'")
        rate = judge.get("max_error_rate", 0.5)
        if not is_number(rate) or not 0.0 <= float(rate) <= 1.0:
            raise ConfigError(f"{prefix}.max_error_rate", f"must be in [0, 1], got {rate}")
        settings = {k: v for k, v in judge.items() if k != "_target_" and k not in SCORER_KEYS}
        return cls(target=str(judge["_target_"]), name=None if judge.get("name") is None else str(judge["name"]),
                   settings=_frozen(settings), scorer=ScorerConfig(on_error, float(rate)))

    def instantiate_node(self) -> dict[str, Any]:
        """The node hydra.utils.instantiate builds the judge from."""
        return {"_target_": self.target, **self.settings}


@dataclass(frozen=True)
class RubricConfig:
    """``rubric``: its version, its mode, and the tables (checked by argen.scoring.rubric.Rubric).

    ``mode`` is the one setting for what the rubric scores (full | reward_only | policy_only).
    In training, ``reward.ablation`` (the reward presets reward=reward_only and
    reward=policy_only set it) is another name for it: a value other than none sets the mode,
    and naming two different modes is refused.
    """

    version: str
    mode: str
    tables: Mapping[str, Any]  # the node as composed, mode included

    @classmethod
    def parse(cls, node: Any, ablation: str = "none") -> "RubricConfig":
        rubric = _mapping(node, "rubric")
        mode = str(rubric.get("mode", "full"))
        if mode not in RUBRIC_MODES:
            raise ConfigError("rubric.mode", f"must be one of {', '.join(RUBRIC_MODES)}, got '{mode}'")
        if ablation != "none":
            if mode not in ("full", ablation):
                raise ConfigError("reward.ablation", f"{ablation} and rubric.mode={mode} name two modes for one setting: "
                                  f"set rubric.mode={ablation} alone (reward.ablation is the training presets' name for it)")
            mode = ablation
        return cls(version=str(rubric.get("version")), mode=mode, tables=_frozen({**rubric, "mode": mode}))


@dataclass(frozen=True)
class PolicyConfig:
    """``policy``: Rego policies on every verdict (checked and compiled by argen.policy.engine)."""

    enabled: bool
    node: Mapping[str, Any]

    @classmethod
    def parse(cls, node: Any) -> "PolicyConfig":
        policy = _mapping(node, "policy")
        enabled = policy.get("enabled", False)
        if not isinstance(enabled, bool):
            raise ConfigError("policy.enabled", f"must be true or false, got {enabled!r}")
        return cls(enabled=enabled, node=_frozen(policy))
