"""Heuristic judge throughput: responses judged per second on one CPU core.

The corpus is ArGen's 1,600 judged responses (../shared/argen-reference/judged-gemini.jsonl:
100 prompts x 16 models, a realistic mix of short refusals and long cut-off answers). Each pass
judges every response once through ``HeuristicJudge.judge_batch`` with the prompt cache cleared
first; the best pass counts. The judge is single-threaded, so its CPU time is what one core
spends: ``heuristic_responses_per_s`` divides by CPU seconds, which other load on a shared
machine does not inflate; the wall-clock rate is reported beside it. The target is >= 200/s.

Run: ``python -m bench.heuristic_judge`` (prints the metrics as JSON).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from argen.data.jsonl import iter_records
from argen.judges.heuristic import HeuristicJudge
from argen.judges.heuristic_features import profile_prompt
from argen.types import JudgeRequest
from bench._corpus import REFERENCE, synthetic_requests, time_batches



def _corpus() -> tuple[list[JudgeRequest], str]:
    if REFERENCE.is_file():
        rows = [row for _, row in iter_records(REFERENCE)]
        return [JudgeRequest(r["prompt"], r["response"]) for r in rows], "judged-gemini"
    # Without the reference data: the bundled prompts with answers of a few typical shapes.
    return synthetic_requests(labelled=False), "bundled-synthetic"


def run(quick: bool = False) -> dict[str, Any]:
    """Responses per second on one core (best pass; CPU time, and wall clock beside it)."""
    requests, corpus = _corpus()
    if quick:
        requests = requests[:400]
    passes = 2 if quick else 5
    judge = HeuristicJudge()
    walls, cpus = time_batches(judge, requests, passes, profile_prompt.cache_clear)
    n = len(requests)
    mean_words = sum(len(r.response.split()) for r in requests) / n
    return {
        "heuristic_responses_per_s": round(n / min(cpus), 1),
        "heuristic_responses_per_wall_s": round(n / min(walls), 1),
        "heuristic_ms_per_response": round(min(cpus) / n * 1000, 4),
        "heuristic_responses": n,
        "heuristic_passes": passes,
        "heuristic_mean_words": round(mean_words, 1),
        "heuristic_corpus": corpus,
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
