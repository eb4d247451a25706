"""Build TRL reward functions from the ``reward`` config group, weights addressed by name.

Each entry of ``reward.functions`` names a callable by ``_target_``:

- a class or factory (ArGen's own rewards) is instantiated with the entry's other keys, plus
  ``scorer`` and ``weights`` when its signature takes them;
- a plain function following TRL's contract is used as it is (other keys are bound as keyword
  arguments), so any importable reward can be plugged in from the command line:
  ``+reward.functions.brevity._target_=mypkg.rewards.brevity +reward.weights.brevity=0.2``.

The reward's logged name is its key in ``reward.functions``. Every reward is wrapped by
:func:`argen.rewards.checked.checked_reward`, which checks each return on every batch.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import hydra.utils

from argen.errors import ConfigError
from argen.rewards.checked import checked_reward
from argen.scoring.pipeline import Scorer

from argen.config_schema import RewardConfig


def build_reward_functions(reward: RewardConfig | Mapping[str, Any], scorer: Scorer,
                           error_log: str | Path | None = None) -> tuple[list[Callable], list[float]]:
    """Reward callables and the positional ``reward_weights`` list TRL expects, aligned by name.

    ``error_log``: where a reward that breaks the contract (or raises) has its return value or
    traceback written (the run's ``error.txt``).
    """
    if not isinstance(reward, RewardConfig):
        reward = RewardConfig.parse(reward)
    weights = dict(reward.weights)
    funcs: list[Callable] = []
    for name, node in reward.functions.items():
        funcs.append(checked_reward(_build_one(name, dict(node), scorer, weights), name, error_log))
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
        return func
    return functools.partial(obj, **node) if node else obj


def _takes(obj: Any, param: str) -> bool:
    try:
        target = obj.__init__ if inspect.isclass(obj) else obj
        return param in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False
