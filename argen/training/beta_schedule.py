"""A schedule for GRPO's KL coefficient (beta): constant, linear or cosine from a start to an end value.

Configured as ``grpo.beta_schedule`` (kind, start, end). It is not a GRPOConfig field: the
schema (argen.config_schema.GrpoConfig) keeps it apart from the fields TRL gets, and TRL gets the schedule's start as ``beta``, so the reference model
is loaded exactly when the schedule starts above 0. A callback then sets ``trainer.beta`` before
every optimizer step (see :class:`argen.training.callbacks.BetaScheduleCallback`).

A schedule that starts at 0 and rises is refused: with beta 0 TRL builds no reference model, so
a later positive beta would have nothing to measure the KL against.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from argen.config_schema import BetaScheduleConfig, GrpoConfig

# The key under ``grpo`` that holds the schedule (the schema keeps it out of GRPOConfig's fields).
SCHEDULE_KEY = "beta_schedule"


@dataclass(frozen=True)
class BetaSchedule:
    """Beta as a function of training progress (0 at the first step, 1 at the last)."""

    kind: str
    start: float
    end: float

    @classmethod
    def from_grpo(cls, grpo: GrpoConfig | Mapping[str, Any]) -> "BetaSchedule":
        """The schedule of a ``grpo`` node (typed, or a mapping); absent means constant ``grpo.beta``."""
        if isinstance(grpo, GrpoConfig):
            node, beta = grpo.beta_schedule, grpo.beta
        else:
            node, beta = check_beta_schedule(grpo), float(grpo.get("beta", 0.0) or 0.0)
        start = node.start if node.start is not None else beta
        end = start if node.kind == "constant" else float(node.end)
        return cls(node.kind, start, end)

    def value(self, progress: float) -> float:
        """Beta at ``progress`` in [0, 1] (clipped)."""
        p = min(1.0, max(0.0, float(progress)))
        if self.kind == "constant":
            return self.start
        if self.kind == "linear":
            return self.start + (self.end - self.start) * p
        # cosine: starts flat at `start`, ends flat at `end`
        return self.end + (self.start - self.end) * 0.5 * (1.0 + math.cos(math.pi * p))

    def at_step(self, step: int, max_steps: int) -> float:
        """Beta for the optimizer step that follows ``step`` completed steps out of ``max_steps``.

        The first step uses ``start`` and the last uses ``end`` exactly.
        """
        if max_steps <= 1:
            return self.value(0.0)
        return self.value(step / (max_steps - 1))


def check_beta_schedule(grpo: Mapping[str, Any]) -> BetaScheduleConfig:
    """Validate ``grpo.beta_schedule`` against ``grpo.beta``; raise :class:`ConfigError` naming the key at fault."""
    return BetaScheduleConfig.parse(grpo.get(SCHEDULE_KEY), grpo.get("beta", 0.0))
