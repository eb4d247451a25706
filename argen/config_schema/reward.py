"""``reward``: TRL reward functions by name, their weights, adaptive weighting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from argen.config_schema.values import _frozen, _mapping, is_number, one_of, positive_int
from argen.errors import ConfigError

REWARD_MODES = ("separate", "combined")
# reward.ablation names a rubric mode for training (rubric.mode is the one setting; see RubricConfig).
ABLATIONS = ("none", "reward_only", "policy_only")
ADAPT_DEFAULTS = {"target": 0.75, "step": 0.05, "floor": 0.1, "window": 4}
PRINCIPLE_NAMES = ("ahimsa", "dharma", "helpfulness")


@dataclass(frozen=True)
class AdaptConfig:
    """``reward.adapt``: the adaptive-weights controller (argen.training.adaptive_weights)."""

    target: float = ADAPT_DEFAULTS["target"]
    step: float = ADAPT_DEFAULTS["step"]
    floor: float = ADAPT_DEFAULTS["floor"]
    window: int = ADAPT_DEFAULTS["window"]


@dataclass(frozen=True)
class RewardConfig:
    """``reward``: TRL reward functions by name, their weights, and adaptive weighting."""

    mode: str
    ablation: str
    functions: Mapping[str, Mapping[str, Any]]
    weights: Mapping[str, float]
    adaptive: bool = False
    adapt: AdaptConfig = field(default_factory=AdaptConfig)

    @classmethod
    def parse(cls, node: Any) -> "RewardConfig":
        """Check a ``reward`` node (mode, functions, weights by name, adaptive weights)."""
        reward = _mapping(node, "reward")
        mode = reward.get("mode")
        one_of(mode, REWARD_MODES, "reward.mode")
        ablation = reward.get("ablation", "none")
        one_of(ablation, ABLATIONS, "reward.ablation")
        functions = reward.get("functions") or {}
        if not functions:
            raise ConfigError("reward.functions", "at least one reward function is required")
        for name, fn in functions.items():
            if not isinstance(fn, Mapping) or not fn.get("_target_"):
                raise ConfigError(f"reward.functions.{name}._target_", "is required (an importable callable)")
        weights = dict(reward.get("weights") or {})
        for name, value in weights.items():
            if not is_number(value):
                raise ConfigError(f"reward.weights.{name}", f"must be a number, got {value!r}")
            if value < 0:
                raise ConfigError(f"reward.weights.{name}", f"must be >= 0, got {value}")
        if mode == "separate":
            for name in functions:
                if name not in weights:
                    raise ConfigError(f"reward.weights.{name}", f"is required: reward function '{name}' has no weight")
            for name in weights:
                if name not in functions:
                    raise ConfigError(f"reward.weights.{name}", f"has no reward function (reward.functions.{name})")
            if sum(weights[n] for n in functions) <= 0:
                raise ConfigError("reward.weights", "all weights are zero: at least one must be > 0")
        else:
            for principle in PRINCIPLE_NAMES:
                if principle not in weights:
                    raise ConfigError(f"reward.weights.{principle}", "is required in combined mode")
            if sum(weights.values()) <= 0:
                raise ConfigError("reward.weights", "all weights are zero: at least one must be > 0")
        adaptive, adapt = cls._parse_adaptive(reward, mode, functions, weights)
        return cls(mode=str(mode), ablation=str(ablation),
                   functions=_frozen({k: _frozen(dict(v)) for k, v in functions.items()}),
                   weights=_frozen({k: float(v) for k, v in weights.items()}), adaptive=adaptive, adapt=adapt)

    @staticmethod
    def _parse_adaptive(reward: Mapping[str, Any], mode: str, functions: Mapping[str, Any],
                        weights: Mapping[str, Any]) -> tuple[bool, AdaptConfig]:
        enabled = reward.get("adaptive", False)
        if not isinstance(enabled, bool):
            raise ConfigError("reward.adaptive", f"must be true or false, got {enabled!r}")
        node = reward.get("adapt")
        if node is not None and not isinstance(node, Mapping):
            raise ConfigError("reward.adapt", f"must be a mapping (target, step, floor, window), got {node!r}")
        for key in dict(node or {}):
            if key not in ADAPT_DEFAULTS:
                raise ConfigError(f"reward.adapt.{key}", f"is not a setting ({', '.join(ADAPT_DEFAULTS)})")
        given = dict(node or {})
        settings = {k: v if given.get(k) is None else given[k] for k, v in ADAPT_DEFAULTS.items()}
        for key in ("target", "step", "floor"):
            if not is_number(settings[key]):
                raise ConfigError(f"reward.adapt.{key}", f"must be a number, got {settings[key]!r}")
        if not 0 <= settings["target"] <= 1:
            raise ConfigError("reward.adapt.target", f"must be in [0, 1] (a fraction of scenarios), got {settings['target']}")
        if settings["step"] <= 0:
            raise ConfigError("reward.adapt.step", f"must be > 0, got {settings['step']}")
        if not 0 <= settings["floor"] < 1:
            raise ConfigError("reward.adapt.floor", f"must be in [0, 1), got {settings['floor']}")
        positive_int(settings["window"], "reward.adapt.window")
        adapt = AdaptConfig(float(settings["target"]), float(settings["step"]), float(settings["floor"]), int(settings["window"]))
        if enabled:
            if mode != "separate":
                raise ConfigError(
                    "reward.adaptive",
                    f"needs reward.mode=separate (one reward function per principle); reward.mode={mode} has a single function",
                )
            active = [n for n in functions if float(weights.get(n, 0) or 0) > 0]
            if adapt.floor * len(active) > 1:
                raise ConfigError(
                    "reward.adapt.floor",
                    f"{adapt.floor} x {len(active)} weighted reward functions is more than the whole weight; lower it",
                )
        return enabled, adapt
