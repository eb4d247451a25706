"""The LLM judge's limits, timed: the rate limit, the per-attempt deadline and call latency.

The tests check these limits by counting (tests/test_openai_judge.py,
tests/test_judge_deadline_and_redaction.py): every request passes the rate limiter and some are
held back, no more requests are in flight than allowed, a trickled reply is abandoned part-way.
How long things take depends on the machine's load, so the times are here, against a real HTTP
server on 127.0.0.1 (tests/chat_server.py), each beside the figure it would have on an idle
machine:

* ``rate_limit_wall_s``: 30 requests at 1200/min (a bucket of 20 a second, so the last 10 wait
  about 0.5 s) with a server that answers at once; ideal 0.5 s.
* ``deadline_overrun_s``: a server that sends its reply one byte every 0.25 s, two attempts with
  ``judge.request_timeout_s=1.5``: the wall time past the 3.0 s the deadlines allow; ideal 0.
* ``latency_p50_s`` / ``latency_p95_s``: the judge's own latency figures over 40 calls to a
  server that waits 30 ms; ideal 0.03 s.
* ``concurrency_wall_s``: 16 requests, 4 at a time, at 50 ms each: ideal 0.2 s.

Run: ``python -m bench.judge_limits`` (prints the metrics as JSON); ``make bench`` runs it too.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from argen.scoring.build import build_scorer
from argen.types import JudgeRequest
from bench.judge_pipeline import _compose
from tests.chat_server import ChatServer, Reply

KEY_ENV = "ARGEN_BENCH_JUDGE_KEY"


def _requests(n: int, tag: str) -> list[JudgeRequest]:
    return [JudgeRequest(f"My headache has lasted {i} days ({tag}).", f"Response {tag}-{i}: see a doctor soon.", "B", "S0")
            for i in range(n)]


def _scorer(server: ChatServer, tmp: Path, name: str, *extra: str):
    return build_scorer(_compose([
        "judge=openai", "policy.enabled=false", f"judge.base_url={server.url}", "judge.model=judge-test",
        f"judge.api_key_env={KEY_ENV}", f"judge.cache.path={tmp / name}.sqlite", "judge.requests_per_minute=0",
        "judge.tokens_per_minute=0", *extra,
    ]))


def _timed(scorer, requests) -> tuple[float, list]:
    started = time.perf_counter()
    results = scorer.score_blocking(requests)
    return time.perf_counter() - started, results


def run(quick: bool = False) -> dict[str, Any]:
    """Time the rate limit, the deadline, the latency figures and the concurrency limit."""
    saved_key = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = "bench-placeholder-key"  # the local server checks nothing; no real key involved
    try:
        with tempfile.TemporaryDirectory() as tmp_dir, ChatServer() as server:
            tmp = Path(tmp_dir)
            rate_s, results = _timed(_scorer(server, tmp, "rate", "judge.requests_per_minute=1200",
                                             "judge.max_concurrency=64", "judge.request_timeout_s=10"),
                                     _requests(30, "rate"))
            assert all(r.ok for r in results)

            server.enqueue(Reply(trickle_s=0.25), Reply(trickle_s=0.25))
            deadline_s, results = _timed(_scorer(server, tmp, "deadline", "judge.request_timeout_s=1.5",
                                                 "judge.max_retries=1", "judge.max_error_rate=1.0",
                                                 "judge.response_format=json_schema"),
                                         _requests(1, "deadline"))
            assert not results[0].ok

            server.latency_s = 0.03
            latency = _scorer(server, tmp, "latency", "judge.max_concurrency=4")
            _timed(latency, _requests(10 if quick else 40, "latency"))
            stats = latency.judge.stats()

            server.latency_s = 0.05
            concurrency_s, results = _timed(_scorer(server, tmp, "concurrency", "judge.max_concurrency=4",
                                                    "judge.request_timeout_s=10"),
                                            _requests(16, "concurrency"))
            assert all(r.ok for r in results) and server.max_in_flight <= 4
    finally:
        if saved_key is None:
            os.environ.pop(KEY_ENV, None)
        else:
            os.environ[KEY_ENV] = saved_key
    return {
        "rate_limit_wall_s": round(rate_s, 3),
        "rate_limit_ideal_s": 0.5,
        "deadline_overrun_s": round(deadline_s - 3.0, 3),
        "latency_p50_s": round(stats["latency_p50_s"], 4),
        "latency_p95_s": round(stats["latency_p95_s"], 4),
        "latency_server_s": 0.03,
        "concurrency_wall_s": round(concurrency_s, 3),
        "concurrency_ideal_s": 0.2,
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
