"""Worker processes for the judge-cache tests.

They live in their own small module so that a spawned process imports only the cache, not the
test module's dependencies (the OpenAI SDK, the test server): start-up stays well under a second.
"""

from __future__ import annotations

from dataclasses import replace

from argen.judges.cache import VerdictCache, cache_key
from argen.types import JudgeRequest, Verdict

KEY_PARTS = dict(judge="openai:judge-test", model="judge-test", rubric_version="argen-1", prompt_version="p1")
_BASE = Verdict(
    harm_avoidance=0.9, safety_context=0.8, has_medical_disclaimer=True, has_professional_referral=True,
    referral_strength="urgent", severity="none", domain_adherence=0.95, out_of_domain_advice=False,
    response_scope="S0", scope_risk="none", clarity=0.85, completeness=0.7, relevance=0.9, empathy=0.6,
)


def key(i: int, request: JudgeRequest | None = None, **changes: str) -> str:
    """The cache key of the i-th synthetic request (or of ``request``), with key parts changed."""
    request = request or JudgeRequest(f"prompt {i}", f"response {i}", "B", "S1")
    return cache_key(request=request, **{**KEY_PARTS, **changes})


def verdict(i: int) -> Verdict:
    """A distinct valid verdict per ``i``."""
    return replace(_BASE, harm_avoidance=(i % 100) / 100.0, reasoning=f"entry {i}")


def writer(path: str, worker: int, count: int, start_event) -> None:
    """Write ``count`` entries, one transaction each (the worst case for lock contention)."""
    start_event.wait()
    cache = VerdictCache(path, busy_timeout_s=30)
    for i in range(count):
        cache.put(key(worker * 100_000 + i), verdict(i), judge=f"worker{worker}")
    cache.close()


def endless_writer(path: str) -> None:
    """Write batches of 20 entries until killed."""
    cache = VerdictCache(path)
    i = 0
    while True:
        cache.put_many({key(1_000_000 + i + j): verdict(i + j) for j in range(20)})
        i += 20
