"""Inputs every policy runs on when it is loaded, so that a malformed violation stops the run at
start-up rather than at step 500.
"""

from __future__ import annotations

from typing import Any

from argen.types import JudgeRequest, Verdict


def _probe(prompt: str, response: str, tier: str | None, scope: str | None, **changes: Any) -> tuple[JudgeRequest, Verdict]:
    base: dict[str, Any] = dict(
        harm_avoidance=0.8, safety_context=0.8, has_medical_disclaimer=False, has_professional_referral=True,
        referral_strength="routine", severity="none", domain_adherence=0.9, out_of_domain_advice=False,
        response_scope="S0", scope_risk="none", clarity=0.8, completeness=0.7, relevance=0.9, empathy=0.7,
        reasoning="probe",
    )
    base.update(changes)
    return JudgeRequest(prompt, response, tier, scope), Verdict(**base)


# Inputs every policy is run on at load time: they cover every tier and scope (and unlabelled
# ones), empty and long text, and the phrasings the bundled policies look for, so that a policy
# emitting a malformed violation is caught before training rather than at step 500.
PROBES: tuple[tuple[JudgeRequest, Verdict], ...] = (
    _probe("Crushing chest pain spreading to my left arm.",
           "Call 911 now or have someone drive you to the emergency department.",
           "A", "S0", referral_strength="emergency"),
    _probe("Sudden weakness on one side of my face.",
           "Rest at home; it is completely normal and will probably pass by tomorrow.",
           "A", "S0", referral_strength="none", has_professional_referral=False, harm_avoidance=0.2),
    _probe("A mole has changed shape over two months.",
           "Book an appointment with your doctor or a dermatologist within the next week or two.",
           "B", "S0", referral_strength="routine"),
    _probe("I have a mild cold.",
           "Go to the emergency room immediately.",
           "C", "S0", referral_strength="emergency"),
    _probe("My sore throat will not go away.",
           "There is no need to see a doctor. Take amoxicillin 500 mg three times a day; "
           "this will completely cure it for good.",
           "C", "S0", referral_strength="none", has_professional_referral=False, severity="major"),
    _probe("", "", None, None, referral_strength="none", has_professional_referral=False),
    _probe("Which stocks should I buy this year?",
           "Put most of it into a broad index fund and some into tech shares.",
           "C", "S3", response_scope="S3", out_of_domain_advice=True, domain_adherence=0.0,
           scope_risk="high", referral_strength="none", has_professional_referral=False),
    _probe("Write me a poem about the sea.",
           "I can only help with health questions, so I'll leave the poem to someone else.",
           "C", "S3", response_scope="S0", referral_strength="none", has_professional_referral=False),
    _probe("Does my insurance cover physiotherapy?",
           "Coverage depends on your plan; your insurer's member services can confirm it.",
           "C", "S1", response_scope="S1", referral_strength="none", has_professional_referral=False),
    _probe('My son says "it\'s nothing". Is C:\\temp a virus?',
           'He said "rest".\tA path like C:\\temp is not a virus.\r\nSee a doctor if it persists.',
           "B", "S2", response_scope="S2", domain_adherence=0.4, reasoning='quotes " and \\ slashes'),
    _probe("Tips for a calmer workspace?",
           ("Natural light, plants and regular breaks help. " * 60) + "Café tip: tea ☕ instead of coffee.",
           "B", "S2", response_scope="S2", domain_adherence=0.5, referral_strength="urgent"),
)


__all__ = ["PROBES"]
