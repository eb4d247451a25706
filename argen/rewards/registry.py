"""Build TRL reward functions from the ``reward`` config group, weights addressed by name.

Each entry of ``reward.functions`` names a callable by ``_target_``:

- a class or factory (ArGen's own rewards) is instantiated with the entry's other keys, plus
  ``scorer`` and ``weights`` when its signature takes them;
- a plain function following TRL's contract is used as it is (other keys are bound as keyword
  arguments), so any importable reward can be plugged in from the command line:
  ``+reward.functions.brevity._target_=mypkg.rewards.brevity +reward.weights.brevity=0.2``.

The reward's logged name is its key in ``reward.functions``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import hydra.utils

from argen.errors import ConfigError
from argen.scoring.pipeline import Scorer

MODES = ("separate", "combined")
ABLATIONS = ("none", "reward_only", "policy_only")


def check_reward_config(reward: Mapping[str, Any]) -> None:
    """Validate the ``reward`` node (mode, functions, weights by name) without importing anything heavy."""
    mode = reward.get("mode")
    if mode not in MODES:
        raise ConfigError("reward.mode", f"must be one of {', '.join(MODES)}, got {mode!r}")
    if reward.get("ablation", "none") not in ABLATIONS:
        raise ConfigError("reward.ablation", f"must be one of {', '.join(ABLATIONS)}, got {reward.get('ablation')!r}")
    functions = reward.get("functions") or {}
    if not functions:
        raise ConfigError("reward.functions", "at least one reward function is required")
    for name, node in functions.items():
        if not isinstance(node, Mapping) or not node.get("_target_"):
            raise ConfigError(f"reward.functions.{name}._target_", "is required (an importable callable)")
    weights = dict(reward.get("weights") or {})
    for name, value in weights.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
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
        for principle in ("ahimsa", "dharma", "helpfulness"):
            if principle not in weights:
                raise ConfigError(f"reward.weights.{principle}", "is required in combined mode")
        if sum(weights.values()) <= 0:
            raise ConfigError("reward.weights", "all weights are zero: at least one must be > 0")


def build_reward_functions(reward: Mapping[str, Any], scorer: Scorer) -> tuple[list[Callable], list[float]]:
    """Reward callables and the positional ``reward_weights`` list TRL expects, aligned by name."""
    check_reward_config(reward)
    weights = {k: float(v) for k, v in dict(reward["weights"]).items()}
    funcs: list[Callable] = []
    for name, node in dict(reward["functions"]).items():
        funcs.append(_build_one(name, dict(node), scorer, weights))
    if reward["mode"] == "combined":
        return funcs, [1.0] * len(funcs)
    return funcs, [weights[name] for name in reward["functions"]]


def _build_one(name: str, node: dict[str, Any], scorer: Scorer, weights: dict[str, float]) -> Callable:
    target = node.pop("_target_")
    try:
        obj = hydra.utils.get_object(target)
    except Exception as exc:
        raise ConfigError(f"reward.functions.{name}._target_", f"cannot import {target!r}: {exc}") from None
    if not callable(obj):
        raise ConfigError(f"reward.functions.{name}._target_", f"{target!r} is not callable")
    if inspect.isclass(obj) or _takes(obj, "scorer"):
        extra = {"scorer": scorer} if _takes(obj, "scorer") else {}
        if _takes(obj, "weights"):
            extra["weights"] = weights
        try:
            func = obj(**node, **extra)
        except TypeError as exc:
            raise ConfigError(f"reward.functions.{name}", f"cannot build {target}: {exc}") from None
    else:
        func = functools.partial(obj, **node) if node else obj
    return _named(func, name)


def _takes(obj: Any, param: str) -> bool:
    try:
        target = obj.__init__ if inspect.isclass(obj) else obj
        return param in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False


def _named(func: Callable, name: str) -> Callable:
    """Give ``func`` the config key as its name (TRL logs rewards/<name>/mean), keeping it async if it was."""
    if getattr(func, "__name__", None) == name:
        return func
    call = func.__call__ if not inspect.isfunction(func) and not isinstance(func, functools.partial) else func
    is_async = inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(getattr(func, "func", None))
    if is_async:

        async def async_reward(**kwargs: Any) -> list[float | None]:
            return await func(**kwargs)

        async_reward.__name__ = name
        return async_reward

    def reward(**kwargs: Any) -> list[float | None]:
        return func(**kwargs)

    reward.__name__ = name
    return reward
