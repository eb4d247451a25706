"""Adaptive reward weights: principles whose running mean lags a target gain weight.

ArGen's controller, in this project's words: after each logged step, every reward function's
running mean (the last ``window`` logged values of ``rewards/<name>/mean``) is compared with
``target``. Each function below the target gains ``step`` (ArGen's gamma, 0.05) in its share of
the total weight; the shares are then renormalised to 1 with no share below ``floor`` (ArGen:
0.1). The total of the configured weights is kept, so the reward's scale does not drift.

Two choices of this project:

- When every function lags, or none does, the weights stay as they are. Raising all of them
  equally and renormalising would only pull the priorities towards uniform.
- Functions configured with weight 0 (tracked, not trained on) stay at 0.

Config: ``reward.adaptive`` (bool) and ``reward.adapt`` (target, step, floor, window). Separate
mode only: combined mode has a single reward function, so there is nothing to reweigh.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from argen.config_schema import ADAPT_DEFAULTS as DEFAULTS, RewardConfig


class AdaptiveWeights:
    """The controller's state: running means and the weights in force (pure Python, no torch)."""

    def __init__(
        self,
        names: Sequence[str],
        weights: Sequence[float],
        *,
        target: float = DEFAULTS["target"],
        step: float = DEFAULTS["step"],
        floor: float = DEFAULTS["floor"],
        window: int = DEFAULTS["window"],
    ):
        if len(names) != len(weights):
            raise ValueError(f"{len(names)} names for {len(weights)} weights")
        self.names = list(names)
        self.total = float(sum(weights))
        if self.total <= 0:
            raise ValueError("at least one weight must be > 0")
        self.target = float(target)
        self.step = float(step)
        self.floor = float(floor)
        # Zero-weight functions are left out of the adaptation (and keep weight 0).
        self.active = [w > 0 for w in weights]
        if self.floor * sum(self.active) > 1.0 + 1e-9:
            raise ValueError(f"floor {self.floor} x {sum(self.active)} functions exceeds the whole weight")
        self.shares = [float(w) / self.total for w in weights]
        self.history = {n: deque(maxlen=int(window)) for n in self.names}
        self.updates = 0

    @property
    def weights(self) -> list[float]:
        """The weights in force, one per function, summing to the configured total."""
        return [s * self.total for s in self.shares]

    def running_mean(self, name: str) -> float | None:
        values = self.history[name]
        return sum(values) / len(values) if values else None

    def observe(self, means: Mapping[str, float | None]) -> list[float]:
        """Record one logged step's mean rewards (missing or NaN values are skipped) and adapt.

        Returns the weights in force afterwards.
        """
        for name in self.names:
            value = means.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                self.history[name].append(float(value))
        lagging = []
        for name, active in zip(self.names, self.active):
            mean = self.running_mean(name)
            lagging.append(active and mean is not None and mean < self.target)
        judged = [a and self.running_mean(n) is not None for n, a in zip(self.names, self.active)]
        if not any(lagging) or sum(lagging) == sum(judged):
            return self.weights
        raised = [s + self.step if lag else s for s, lag in zip(self.shares, lagging)]
        self.shares = renormalise(raised, self.floor, self.active)
        self.updates += 1
        return self.weights


def renormalise(shares: Sequence[float], floor: float, active: Sequence[bool] | None = None) -> list[float]:
    """Scale ``shares`` to sum to 1 with every active share >= ``floor``; inactive shares stay 0.

    Shares that would fall below the floor are pinned at it and the rest rescaled, until none is
    below (at most one pass per share).
    """
    n = len(shares)
    active = list(active) if active is not None else [True] * n
    idx = [i for i in range(n) if active[i]]
    pinned: set[int] = set()
    out = [0.0] * n
    while True:
        free = [i for i in idx if i not in pinned]
        budget = 1.0 - floor * len(pinned)
        mass = sum(max(0.0, shares[i]) for i in free)
        for i in idx:
            if i in pinned:
                out[i] = floor
            elif mass > 0:
                out[i] = max(0.0, shares[i]) * budget / mass
            else:
                out[i] = budget / max(1, len(free))
        below = {i for i in free if out[i] < floor - 1e-12}
        if not below:
            return out
        pinned |= below


def adapt_settings(reward: Any) -> dict[str, Any]:
    """``reward.adapt`` with defaults filled in (a ``reward`` mapping or a typed RewardConfig)."""
    from dataclasses import asdict

    return asdict(reward.adapt if isinstance(reward, RewardConfig) else RewardConfig.parse(reward).adapt)

