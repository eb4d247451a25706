"""Learned judge throughput: responses judged per second, batched, on the cores this process has.

The corpus is ArGen's judged responses (../shared/argen-reference/judged-gemini.jsonl; 16 answers
to each prompt, so prompt embeddings are reused as in an evaluation), or without it the bundled
prompts with answers of a few typical shapes. Each pass judges every response once through
``LearnedJudge.judge_batch`` with the embedding cache emptied first, so every response and each
distinct prompt is embedded; the best pass counts. The judge runs torch on all the cores the
process may use (``taskset -c 0,1 python -m bench.learned_judge`` pins it to two), so the rate is
wall clock, with the load average beside it. The target is >= 30/s on 2 idle cores. Loading the
model (once per process) is reported apart.

Run: ``python -m bench.learned_judge`` (prints the metrics as JSON).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from argen.data.jsonl import iter_records
from argen.types import JudgeRequest
from bench._corpus import REFERENCE, synthetic_requests, time_batches

TARGETS = {"learned_responses_per_s": (">=", 30.0)}


def _corpus(n: int) -> tuple[list[JudgeRequest], str]:
    if REFERENCE.is_file():
        rows = [row for _, row in iter_records(REFERENCE)]
        # Every 6th row: all 100 prompts, each answered by several models, in file order.
        return [JudgeRequest(r["prompt"], r["response"]) for r in rows[::6]][:n], "judged-gemini"
    # The shapes repeat and the judge embeds a repeated text once: make every answer distinct.
    requests = synthetic_requests(labelled=False)[:n]
    return [JudgeRequest(r.prompt, f"About your question ({r.prompt[:80]}): {r.response}") for r in requests], "bundled-synthetic"


def run(quick: bool = False) -> dict[str, Any]:
    """Responses per second (best pass, wall clock), and the one-time load."""
    from argen.runtime import quiet_openmp

    quiet_openmp()  # as every entry point does before torch loads: waiting threads sleep
    import torch

    from argen.judges.learned import LearnedJudge

    cores = len(os.sched_getaffinity(0))
    torch.set_num_threads(cores)
    requests, corpus = _corpus(64 if quick else 256)
    judge = LearnedJudge()
    t0 = time.perf_counter()
    asyncio.run(judge.judge_batch(requests[:1]))
    load_s = time.perf_counter() - t0
    encoder = judge._encoder
    walls, cpus = time_batches(judge, requests, 2 if quick else 3, encoder._cache.clear)
    n = len(requests)
    return {
        "learned_responses_per_s": round(n / min(walls), 1),
        "learned_cpu_ms_per_response": round(min(cpus) / n * 1000, 2),
        "learned_load_s": round(load_s, 2),
        "learned_responses": n,
        "learned_distinct_prompts": len({r.prompt for r in requests}),
        "learned_mean_words": round(sum(len(r.response.split()) for r in requests) / n, 1),
        "learned_cores": cores,
        "learned_loadavg_1m": round(os.getloadavg()[0], 2),
        "learned_corpus": corpus,
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
