"""A schedule for GRPO's KL coefficient (beta): constant, linear or cosine from a start to an end value.

Configured as ``grpo.beta_schedule`` (kind, start, end). It is not a GRPOConfig field: the
training config strips it and hands TRL the schedule's start as ``beta``, so the reference model
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

from argen.errors import ConfigError

KINDS = ("constant", "linear", "cosine")
# The key under ``grpo`` that holds the schedule (removed before GRPOConfig is built).
SCHEDULE_KEY = "beta_schedule"


@dataclass(frozen=True)
class BetaSchedule:
    """Beta as a function of training progress (0 at the first step, 1 at the last)."""

    kind: str
    start: float
    end: float

    @classmethod
    def from_grpo(cls, grpo: Mapping[str, Any]) -> "BetaSchedule":
        """The schedule of a (validated) ``grpo`` node; absent means constant ``grpo.beta``."""
        check_beta_schedule(grpo)
        node = dict(grpo.get(SCHEDULE_KEY) or {})
        kind = node.get("kind") or "constant"
        start = float(node["start"]) if node.get("start") is not None else float(grpo.get("beta", 0.0) or 0.0)
        end = start if kind == "constant" else float(node["end"])
        return cls(kind, start, end)

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


def check_beta_schedule(grpo: Mapping[str, Any]) -> None:
    """Validate ``grpo.beta_schedule``; raise :class:`ConfigError` naming the key at fault."""
    node = grpo.get(SCHEDULE_KEY)
    if node is None:
        return
    prefix = f"grpo.{SCHEDULE_KEY}"
    if not isinstance(node, Mapping):
        raise ConfigError(prefix, f"must be a mapping with kind/start/end, got {node!r}")
    unknown = sorted(set(node) - {"kind", "start", "end"})
    if unknown:
        raise ConfigError(f"{prefix}.{unknown[0]}", "is not a schedule key (kind, start, end)")
    kind = node.get("kind") or "constant"
    if kind not in KINDS:
        raise ConfigError(f"{prefix}.kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    for key in ("start", "end"):
        value = node.get(key)
        if value is None:
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ConfigError(f"{prefix}.{key}", f"must be a number >= 0 or null, got {value!r}")
        if value < 0:
            raise ConfigError(f"{prefix}.{key}", f"must be >= 0, got {value}")
    start = node.get("start")
    where = ""
    if start is None:
        start = grpo.get("beta", 0.0) or 0.0
        where = " (start is null, so it is grpo.beta)"
    end = node.get("end")
    if kind == "constant":
        if end is not None and float(end) != float(start):
            raise ConfigError(f"{prefix}.end", f"kind=constant keeps beta at {start}; set kind=linear or cosine to move it to {end}")
        return
    if end is None:
        raise ConfigError(f"{prefix}.end", f"is required for kind={kind} (the beta at the last step)")
    if float(start) == 0.0 and float(end) > 0.0:
        raise ConfigError(
            f"{prefix}.start",
            f"the schedule starts at beta 0{where} and rises to {end}: with beta 0 at the start TRL loads no reference "
            f"model, so the KL term could never be computed. Start above 0 ({prefix}.start=...) or keep {prefix}.end=0",
        )
