"""Where the verdict types lived before :mod:`argen.types`; kept so older imports still work.

New code imports :mod:`argen.types` (the bottom layer) directly.
"""

from argen.types import (
    PRINCIPLES,
    REFERRAL_LEVELS,
    SCOPE_RISKS,
    SCOPES,
    SEVERITIES,
    TIERS,
    VERDICT_FIELDS,
    JudgeFailure,
    JudgeRequest,
    Verdict,
    VerdictValidationError,
    normalise_verdict_fields,
    verdict_json_schema,
    verdict_problems,
)

__all__ = [
    "JudgeFailure", "JudgeRequest", "PRINCIPLES", "REFERRAL_LEVELS", "SCOPES", "SCOPE_RISKS", "SEVERITIES", "TIERS",
    "VERDICT_FIELDS", "Verdict", "VerdictValidationError", "normalise_verdict_fields", "verdict_json_schema",
    "verdict_problems",
]
