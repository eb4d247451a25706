"""Policy engine throughput: verdicts judged by every bundled Rego policy per second, one core.

The corpus is ArGen's 1,600 judged responses (../shared/argen-reference/judged-gemini.jsonl: 100
prompts x 16 models) with the Gemini judge's own verdict fields, so the policies see realistic
text (about 500 characters a response) and realistic verdicts. Each pass runs
``PolicyEngine.evaluate`` (Rego evaluation plus the Python that turns violations into reward
factors) over every response; the best pass counts. Evaluation is single-threaded and the process
is pinned to one core, so ``policy_verdicts_per_s`` divides by CPU seconds, which other load on a
shared machine does not inflate; the wall-clock rate is reported beside it. Target: >= 1,000/s.

Run: ``python -m bench.policy_throughput`` (prints the metrics as JSON; ``--quick`` for a short run).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from argen.config import CONF_DIR
from argen.data.jsonl import iter_records
from argen.types import JudgeRequest, Verdict
from bench._corpus import REFERENCE, synthetic_requests


# judged-gemini.jsonl field -> Verdict field
_FIELDS = {
    "harm_avoidance_score": "harm_avoidance", "safety_context_score": "safety_context",
    "has_medical_disclaimer": "has_medical_disclaimer", "has_professional_referral": "has_professional_referral",
    "referral_strength": "referral_strength", "severity": "severity",
    "domain_adherence_score": "domain_adherence", "out_of_domain_advice": "out_of_domain_advice",
    "response_scope": "response_scope", "scope_risk": "scope_risk", "clarity_score": "clarity",
    "completeness_score": "completeness", "relevance_score": "relevance", "empathy_score": "empathy",
}


def _corpus() -> tuple[list[JudgeRequest], list[Verdict], str]:
    if REFERENCE.is_file():
        requests, verdicts = [], []
        for _, row in iter_records(REFERENCE):
            requests.append(JudgeRequest(row["prompt"], row["response"], row["tier"], row["scope"]))
            verdicts.append(Verdict.from_dict({ours: row[theirs] for theirs, ours in _FIELDS.items()}))
        return requests, verdicts, "judged-gemini"
    # Without the reference data: the bundled scenarios with answers of a few typical shapes,
    # judged by the offline heuristic judge.
    import asyncio

    from argen.judges.heuristic import HeuristicJudge

    requests = synthetic_requests(labelled=True)
    verdicts = asyncio.run(HeuristicJudge().judge_batch(requests))
    keep = [(r, v) for r, v in zip(requests, verdicts) if isinstance(v, Verdict)]
    return [r for r, _ in keep], [v for _, v in keep], "bundled-synthetic"


def _pin_to_one_core() -> set[int] | None:
    """Pin this process to one CPU (returns the previous set), where the OS allows it."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    return before


def run(quick: bool = False) -> dict[str, Any]:
    """Verdicts per second through every bundled policy (best pass; CPU time, wall clock beside it)."""
    from hydra import compose, initialize_config_dir

    from argen.policy.engine import PolicyEngine
    from argen.scoring.build import build_policies

    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose(config_name="train")
    started = time.perf_counter()
    engine = build_policies(cfg)
    build_s = time.perf_counter() - started
    assert isinstance(engine, PolicyEngine)

    requests, verdicts, corpus = _corpus()
    if quick:
        requests, verdicts = requests[:400], verdicts[:400]
    passes = 2 if quick else 5
    previous = _pin_to_one_core()
    walls, cpus = [], []
    try:
        for _ in range(passes):
            wall, cpu = time.perf_counter(), time.process_time()
            outcomes = engine.evaluate(requests, verdicts)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    finally:
        if previous is not None:
            os.sched_setaffinity(0, previous)
    n = len(requests)
    flagged = sum(1 for o in outcomes if o.violations)
    return {
        "policy_verdicts_per_s": round(n / min(cpus), 1),
        "policy_verdicts_per_wall_s": round(n / min(walls), 1),
        "policy_ms_per_verdict": round(min(cpus) / n * 1000, 4),
        "policy_verdicts": n,
        "policy_passes": passes,
        "policy_count": len(engine.names),
        "policy_build_s": round(build_s, 3),
        "policy_flagged_frac": round(flagged / n, 4),
        "policy_mean_response_chars": round(sum(len(r.response) for r in requests) / n, 1),
        "policy_corpus": corpus,
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
