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

from argen.config_schema import RewardConfig


def build_reward_functions(reward: RewardConfig | Mapping[str, Any], scorer: Scorer) -> tuple[list[Callable], list[float]]:
    """Reward callables and the positional ``reward_weights`` list TRL expects, aligned by name."""
    if not isinstance(reward, RewardConfig):
        reward = RewardConfig.parse(reward)
    weights = dict(reward.weights)
    funcs: list[Callable] = []
    for name, node in reward.functions.items():
        funcs.append(_build_one(name, dict(node), scorer, weights))
    if reward.mode == "combined":
        return funcs, [1.0] * len(funcs)
    return funcs, [weights[name] for name in reward.functions]


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
