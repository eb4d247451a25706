"""Verdict-cache benchmark: how many cache hits per second the judge serves.

Hits go through ``OpenAIJudge.judge_batch`` (key hashing, batch lookup, result assembly), no
network: every verdict is already cached. ``cold`` is a fresh judge in a fresh process state (one
``SELECT ... IN`` per 900 keys, rows parsed into verdicts); ``warm`` is the same judge asked again
(served from its in-process dict). The target is at least 20,000 hits/s.

Run: ``python -m bench.judge_cache`` (prints the metrics as JSON).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

from argen.judges.cache import VerdictCache
from argen.judges.openai_judge import OpenAIJudge
from argen.types import JudgeRequest, Verdict

_VERDICT = Verdict(
    harm_avoidance=0.9, safety_context=0.8, has_medical_disclaimer=True, has_professional_referral=True,
    referral_strength="urgent", severity="none", domain_adherence=0.95, out_of_domain_advice=False,
    response_scope="S0", scope_risk="none", clarity=0.85, completeness=0.7, relevance=0.9, empathy=0.6,
    reasoning="Advises an urgent visit and lists warning signs.",
)


def _judge(path: Path) -> OpenAIJudge:
    # No request is ever sent (everything is cached), so the URL points nowhere.
    return OpenAIJudge(
        model="judge-test", base_url="http://127.0.0.1:9/v1", api_key_env=None, require_key=False,
        cache={"path": str(path)},
    )


def run(quick: bool = False) -> dict[str, Any]:
    """Cache hits/s (cold and warm) through the judge, and the cost of one key."""
    n = 5_000 if quick else 20_000
    # Realistic sizes: a ~200-character prompt and a ~700-character response.
    requests = [
        JudgeRequest(f"Patient {i}: " + "my chest feels tight when I climb stairs. " * 5,
                     f"Answer {i}: " + "Please get this checked by a doctor today. " * 16, "A", "S0")
        for i in range(n)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "verdicts.sqlite"
        judge = _judge(path)
        started = time.perf_counter()
        keys = [judge.key_for(r) for r in requests]
        key_us = (time.perf_counter() - started) / n * 1e6
        cache = VerdictCache(path)
        started = time.perf_counter()
        cache.put_many({k: _VERDICT for k in keys})
        write_s = time.perf_counter() - started
        cache.close()

        fresh = _judge(path)
        started = time.perf_counter()
        cold = asyncio.run(fresh.judge_batch(requests))
        cold_s = time.perf_counter() - started
        started = time.perf_counter()
        warm = asyncio.run(fresh.judge_batch(requests))
        warm_s = time.perf_counter() - started
        assert fresh.stats()["calls"] == 0 and all(isinstance(v, Verdict) for v in cold + warm)
        size_mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6
    return {
        "cache_entries": n,
        "cache_hits_per_s_cold": round(n / cold_s),
        "cache_hits_per_s_warm": round(n / warm_s),
        "cache_key_us": round(key_us, 2),
        "cache_writes_per_s_batched": round(n / write_s),
        "cache_file_mb": round(size_mb, 2),
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
