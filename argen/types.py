"""The value types every layer shares: the request a judge answers, its verdict, the labels, the
principles, and what the policies decided. This is the bottom layer: it imports nothing of argen.

One verdict carries everything the rubric needs for all three principles, so a response costs one
judge pass however many principle rewards read it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

TIERS = ("A", "B", "C")
SCOPES = ("S0", "S1", "S2", "S3")
REFERRAL_LEVELS = ("none", "routine", "urgent", "emergency")
SEVERITIES = ("none", "minor", "major")
SCOPE_RISKS = ("none", "low", "moderate", "high")
PRINCIPLES = ("ahimsa", "dharma", "helpfulness")

_UNIT_FIELDS = (
    "harm_avoidance",
    "safety_context",
    "domain_adherence",
    "clarity",
    "completeness",
    "relevance",
    "empathy",
)
_BOOL_FIELDS = ("has_medical_disclaimer", "has_professional_referral", "out_of_domain_advice")
_ENUM_FIELDS = {
    "referral_strength": REFERRAL_LEVELS,
    "severity": SEVERITIES,
    "response_scope": SCOPES,
    "scope_risk": SCOPE_RISKS,
}


class VerdictValidationError(ValueError):
    """A verdict (usually a judge's reply) with a missing, mistyped or out-of-range field."""


@dataclass(frozen=True)
class JudgeRequest:
    """One response to judge, with the labels of the scenario it answers.

    ``tier`` and ``scope`` are never shown to an LLM judge; the rubric's penalties use them.
    """

    prompt: str
    response: str
    tier: str | None = None
    scope: str | None = None


@dataclass(frozen=True)
class Verdict:
    """Everything the ArGen rubric asks of a judge about one response (scores are 0..1)."""

    # Ahimsa (non-harm)
    harm_avoidance: float
    safety_context: float
    has_medical_disclaimer: bool
    has_professional_referral: bool
    referral_strength: str
    severity: str
    # Dharma (scope)
    domain_adherence: float
    out_of_domain_advice: bool
    response_scope: str
    scope_risk: str
    # Helpfulness
    clarity: float
    completeness: float
    relevance: float
    empathy: float
    reasoning: str = ""

    def __post_init__(self) -> None:
        # A shallow view: every field is a scalar, and asdict's deep copy was a third of the
        # heuristic judge's time.
        problems = verdict_problems({name: getattr(self, name) for name in _FIELD_NAMES})
        if problems:
            raise VerdictValidationError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the same field names the constructor takes."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Verdict":
        """Build a verdict from a dict, normalising loose forms (``"0.8"``, ``"True"``, ``"S2: tangential"``).

        Raises :class:`VerdictValidationError` listing every problem found.
        """
        if not isinstance(data, dict):
            raise VerdictValidationError(f"verdict must be a JSON object, got {type(data).__name__}")
        normalised = normalise_verdict_fields(data)
        problems = verdict_problems(normalised)
        if problems:
            raise VerdictValidationError("; ".join(problems))
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in normalised.items() if k in names})


@dataclass(frozen=True)
class JudgeFailure:
    """No verdict could be had for a response; ``error`` says why. Scores become None, never 0.0."""

    error: str
    attempts: int = 1


def _to_float(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


def _to_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no"):
        return False
    return value


def _to_enum(value: Any, allowed: tuple[str, ...]) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    for option in allowed:
        # Accept the exact option in any case, or a label such as "S2: tangential".
        if text.lower() == option.lower() or text.upper().startswith(option.upper() + ":"):
            return option
    return text


def normalise_verdict_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Coerce loosely typed judge output to the verdict's types; unknown keys are dropped."""
    out: dict[str, Any] = {}
    for key in _UNIT_FIELDS:
        if key in data:
            out[key] = _to_float(data[key])
    for key in _BOOL_FIELDS:
        if key in data:
            out[key] = _to_bool(data[key])
    for key, allowed in _ENUM_FIELDS.items():
        if key in data:
            out[key] = _to_enum(data[key], allowed)
    if "reasoning" in data:
        out["reasoning"] = str(data["reasoning"])[:2000]
    return out


def verdict_problems(data: dict[str, Any]) -> list[str]:
    """Every way ``data`` fails to be a valid verdict (empty list when valid)."""
    problems: list[str] = []
    for key in _UNIT_FIELDS:
        if key not in data:
            problems.append(f"missing field '{key}'")
            continue
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"'{key}' must be a number in [0, 1], got {value!r}")
        elif math.isnan(value) or not 0.0 <= value <= 1.0:
            problems.append(f"'{key}' must be in [0, 1], got {value!r}")
    for key in _BOOL_FIELDS:
        if key not in data:
            problems.append(f"missing field '{key}'")
        elif not isinstance(data[key], bool):
            problems.append(f"'{key}' must be true or false, got {data[key]!r}")
    for key, allowed in _ENUM_FIELDS.items():
        if key not in data:
            problems.append(f"missing field '{key}'")
        elif data[key] not in allowed:
            problems.append(f"'{key}' must be one of {', '.join(allowed)}, got {data[key]!r}")
    return problems


@dataclass(frozen=True)
class PolicyOutcome:
    """What the policies decided about one response: violations and the factor per principle."""

    violations: tuple[dict[str, Any], ...] = ()
    factors: dict[str, float] | None = None
    worst_severity: str = "none"
    # Upper bound per principle after the factors (a policy effect may cap instead of multiply).
    caps: dict[str, float] | None = None


class PolicyEvaluator(Protocol):
    """Anything that can judge verdicts against rules (see :mod:`argen.policy`)."""

    def evaluate(self, requests: "Sequence[JudgeRequest]", verdicts: "Sequence[Verdict]") -> list[PolicyOutcome]:
        ...


VERDICT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Verdict))
_FIELD_NAMES = VERDICT_FIELDS


def verdict_json_schema() -> dict[str, Any]:
    """The JSON schema of a verdict, as sent to LLM judges in ``response_format``."""
    props: dict[str, Any] = {}
    for key in _UNIT_FIELDS:
        props[key] = {"type": "number", "minimum": 0, "maximum": 1}
    for key in _BOOL_FIELDS:
        props[key] = {"type": "boolean"}
    for key, allowed in _ENUM_FIELDS.items():
        props[key] = {"type": "string", "enum": list(allowed)}
    props["reasoning"] = {"type": "string"}
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


__all__ = [
    "JudgeFailure",
    "JudgeRequest",
    "PRINCIPLES",
    "PolicyEvaluator",
    "PolicyOutcome",
    "REFERRAL_LEVELS",
    "SCOPES",
    "SCOPE_RISKS",
    "SEVERITIES",
    "TIERS",
    "VERDICT_FIELDS",
    "Verdict",
    "VerdictValidationError",
    "normalise_verdict_fields",
    "verdict_json_schema",
    "verdict_problems",
]
