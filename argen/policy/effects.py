"""What a violation does to its principle's reward (``policy.effects``): report it, multiply the
principle, and/or cap it, by severity with per-id overrides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from argen.errors import ConfigError

SEVERITIES = ("minor", "major")


@dataclass(frozen=True)
class Effect:
    """What one violation does to its principle: multiply it, and/or cap it (both in [0, 1])."""

    multiply: float = 1.0
    cap: float | None = None

    @property
    def report_only(self) -> bool:
        """True when the violation is recorded but leaves the reward alone."""
        return self.multiply == 1.0 and self.cap is None

    @classmethod
    def parse(cls, value: Any, key: str) -> "Effect":
        """``report`` or ``{multiply: f, cap: c}``; anything else is a :class:`ConfigError` on ``key``."""
        if value == "report":
            return cls()
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"must be 'report' or a mapping {{multiply: f, cap: c}}, got {value!r}")
        unknown = sorted(set(value) - {"multiply", "cap"})
        if unknown:
            raise ConfigError(f"{key}.{unknown[0]}", "unknown effect; use multiply and/or cap")
        multiply = _unit(value.get("multiply", 1.0), f"{key}.multiply")
        cap = value.get("cap")
        return cls(multiply=multiply, cap=None if cap is None else _unit(cap, f"{key}.cap"))

    def describe(self) -> str:
        """Short text for docs and logs: ``report``, ``x0.5``, ``x0.5, cap 0.2``."""
        if self.report_only:
            return "report"
        parts = [f"x{self.multiply:g}"] if self.multiply != 1.0 else []
        if self.cap is not None:
            parts.append(f"cap {self.cap:g}")
        return ", ".join(parts)


def _unit(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(key, f"must be a number in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ConfigError(key, f"must be in [0, 1], got {value}")
    return float(value)


@dataclass(frozen=True)
class EffectTable:
    """Effects by severity, with per-policy-id overrides (``policy.effects``)."""

    by_severity: Mapping[str, Effect] = field(default_factory=lambda: {s: Effect() for s in SEVERITIES})
    by_id: Mapping[str, Effect] = field(default_factory=dict)

    @classmethod
    def from_config(cls, node: Mapping[str, Any] | None, prefix: str = "policy.effects") -> "EffectTable":
        """Validate ``policy.effects``: ``{minor: E, major: E, by_id: {id: E}}``; missing severities report only."""
        node = dict(node or {})
        unknown = sorted(set(node) - {*SEVERITIES, "by_id"})
        if unknown:
            raise ConfigError(f"{prefix}.{unknown[0]}", f"unknown key; expected {', '.join(SEVERITIES)} or by_id")
        by_severity = {s: Effect.parse(node[s], f"{prefix}.{s}") if s in node else Effect() for s in SEVERITIES}
        raw_ids = node.get("by_id") or {}
        if not isinstance(raw_ids, Mapping):
            raise ConfigError(f"{prefix}.by_id", "must be a mapping of policy id -> effect")
        by_id = {str(k): Effect.parse(v, f"{prefix}.by_id.{k}") for k, v in raw_ids.items()}
        return cls(by_severity=by_severity, by_id=by_id)

    def effect(self, violation_id: str, severity: str) -> Effect:
        """The effect of one violation: its id's override, else its severity's effect."""
        found = self.by_id.get(violation_id)
        return found if found is not None else self.by_severity[severity]


__all__ = ["Effect", "EffectTable", "SEVERITIES"]
