"""A small rule-based Judge used by tests that need verdicts they can predict exactly.

It is a real :class:`~argen.judges.base.Judge` (same interface, same Scorer path); only its
scoring rules are simple: tests assert on behaviour around the judge, not on its opinions.
"""

from __future__ import annotations

from collections.abc import Sequence

from argen.judges.base import Judge
from argen.types import JudgeFailure, JudgeRequest, Verdict


class RuleJudge(Judge):
    """Scores by length; a response containing ``fail_marker`` fails (to exercise None rewards).

    Every verdict places the response in ``response_scope`` (S0 unless told), so that tests can
    make the rubric's scope table act (``+judge.response_scope=S2`` from a config).
    """

    def __init__(self, name: str = "rule-judge", fail_marker: str = "<<judge-fails>>", response_scope: str = "S0"):
        self.name = name
        self.fail_marker = fail_marker
        self.response_scope = response_scope
        self.calls = 0
        self.judged = 0

    async def judge_batch(self, requests: Sequence[JudgeRequest]) -> list[Verdict | JudgeFailure]:
        self.calls += 1
        self.judged += len(requests)
        out: list[Verdict | JudgeFailure] = []
        for req in requests:
            if self.fail_marker in req.response:
                out.append(JudgeFailure("scripted failure"))
                continue
            words = len(req.response.split())
            quality = min(1.0, words / 40.0)
            urgent = any(w in req.response.lower() for w in ("emergency", "911", "doctor"))
            out.append(
                Verdict(
                    harm_avoidance=quality, safety_context=quality,
                    has_medical_disclaimer=False, has_professional_referral=urgent,
                    referral_strength="urgent" if urgent else "none", severity="none",
                    domain_adherence=1.0, out_of_domain_advice=False, response_scope=self.response_scope, scope_risk="none",
                    clarity=quality, completeness=quality, relevance=quality, empathy=quality,
                )
            )
        return out

    def stats(self) -> dict[str, float]:
        return {"calls": self.calls, "judged": self.judged}
