"""Judge pipeline benchmark: one call per response (this project) against three (ArGen-style).

64 responses are judged through a real HTTP server on 127.0.0.1 that speaks the chat-completions
protocol and waits 200 ms before each reply (tests/chat_server.py), so the figures measure the
pipeline's shape, not a model.

* ArGen-style: one judge pass per principle (ahimsa, then dharma, then helpfulness), each pass over
  all responses concurrently, no cache. ArGen's code judged the principles one after another; we
  let the responses of one principle run concurrently (with the same concurrency limit as ours),
  which is the fastest form of that design, so the ratio below is a conservative one.
* ArGen (this project): the judge built from the real config (``judge=openai``) behind
  ``build_scorer``; the three principle rewards ask for the same batch at once, as TRL awaits
  them, and share one call per response.
* Cached re-scoring: a fresh scorer (new judge, empty memory) re-scores responses whose verdicts
  are in the persistent cache, as a second run or the score command would.

Run: ``python -m bench.judge_pipeline`` (prints the metrics as JSON).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from argen.judges.cache import VerdictCache
from argen.judges.openai_judge import OpenAIJudge
from argen.scoring.build import build_scorer
from argen.types import PRINCIPLES, JudgeRequest, Verdict
from tests.chat_server import GOOD_VERDICT, ChatServer

RESPONSES = 64
LATENCY_S = 0.2
CONCURRENCY = 16
KEY_ENV = "ARGEN_BENCH_JUDGE_KEY"


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from argen.config import CONF_DIR

    conf = Path(CONF_DIR)
    name = "score" if (conf / "score.yaml").exists() else "train"
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        return compose(config_name=name, overrides=overrides)


def _requests(n: int, tag: str) -> list[JudgeRequest]:
    tiers, scopes = "ABC", ("S0", "S0", "S1", "S2")
    return [
        JudgeRequest(
            f"({tag} {i}) I have had a dull headache for {i % 9 + 1} days and my vision is sometimes blurry.",
            f"({tag} {i}) Blurry vision with a lasting headache should be checked by a doctor today. " * 3,
            tiers[i % 3],
            scopes[i % 4],
        )
        for i in range(n)
    ]


async def _argen_style(url: str, requests: list[JudgeRequest]) -> None:
    # One judge per principle, no cache, principles one after another.
    judges = [
        OpenAIJudge(
            name=f"argen-style-{p}", model="judge-test", base_url=url, api_key_env=KEY_ENV,
            max_concurrency=CONCURRENCY, requests_per_minute=0, tokens_per_minute=0,
            cache={"enabled": False},
        )
        for p in PRINCIPLES
    ]
    for judge in judges:
        results = await judge.judge_batch(requests)
        assert all(isinstance(r, Verdict) for r in results)
    for judge in judges:
        await judge.aclose()


def run(quick: bool = False) -> dict[str, Any]:
    """Time both pipelines on 64 responses at 200 ms per call, and cached re-scoring."""
    rescoring_n = 2_000 if quick else 10_000
    saved_key = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = "bench-placeholder-key"  # the local server checks nothing; no real key involved
    try:
        with tempfile.TemporaryDirectory() as tmp, ChatServer(latency_s=LATENCY_S) as server:
            tmp_path = Path(tmp)
            requests = _requests(RESPONSES, "bench")

            started = time.perf_counter()
            asyncio.run(_argen_style(server.url, requests))
            argen_style_s = time.perf_counter() - started
            argen_style_calls = server.chat_count

            overrides = [
                "judge=openai",
                # Policies are timed by their own benchmark; this one times judging.
                "policy.enabled=false",
                f"judge.base_url={server.url}",
                "judge.model=judge-test",
                f"judge.api_key_env={KEY_ENV}",
                f"judge.cache.path={tmp_path / 'verdicts.sqlite'}",
                f"judge.max_concurrency={CONCURRENCY}",
                "judge.requests_per_minute=0",
                "judge.tokens_per_minute=0",
            ]
            cfg = _compose(overrides)
            scorer = build_scorer(cfg)

            async def three_principle_rewards():
                return await asyncio.gather(*(scorer.score(requests) for _ in PRINCIPLES))

            before = server.chat_count
            started = time.perf_counter()
            per_principle = asyncio.run(three_principle_rewards())
            argen_s = time.perf_counter() - started
            argen_calls = server.chat_count - before
            assert all(r.ok for results in per_principle for r in results)

            # Cached re-scoring: fill the cache as earlier runs would have, then a fresh scorer.
            many = _requests(rescoring_n, "cached")
            verdict = Verdict.from_dict(GOOD_VERDICT)
            writer = VerdictCache(scorer.judge.cache_path)
            writer.put_many({scorer.judge.key_for(r): verdict for r in many})
            writer.close()
            fresh = build_scorer(cfg)
            before = server.chat_count
            started = time.perf_counter()
            rescored = fresh.score_blocking(many)
            rescoring_s = time.perf_counter() - started
            assert server.chat_count == before and all(r.ok for r in rescored)
    finally:
        if saved_key is None:
            os.environ.pop(KEY_ENV, None)
        else:
            os.environ[KEY_ENV] = saved_key

    return {
        "responses": RESPONSES,
        "server_latency_s": LATENCY_S,
        "max_concurrency": CONCURRENCY,
        "judge_calls_per_response": argen_calls / RESPONSES,
        "judge_calls_per_response_argen_style": argen_style_calls / RESPONSES,
        "judge_wall_s_argen_style": round(argen_style_s, 3),
        "judge_wall_s_argen": round(argen_s, 3),
        "judge_wall_ratio_vs_argen_style": round(argen_style_s / argen_s, 2),
        "cached_rescoring_responses": rescoring_n,
        "cached_rescoring_responses_per_s": round(rescoring_n / rescoring_s),
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
