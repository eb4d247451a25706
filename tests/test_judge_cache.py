"""The persistent verdict cache: keys, persistence, batch lookups and several processes."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import sqlite3
import time
import pytest

from argen.errors import JudgeError
from argen.judges.cache import CachedJudge, VerdictCache, cache_key
from argen.judges.openai_judge import OpenAIJudge
from argen.types import JudgeFailure, JudgeRequest, Verdict
from tests.cache_workers import endless_writer, key, verdict, writer
from tests.rule_judge import RuleJudge

# ---------------------------------------------------------------------------- keys
def test_every_part_of_the_key_matters():
    base_request = JudgeRequest("p", "r", "A", "S0")
    base = key(0, request=base_request)
    variants = [
        key(0, request=base_request, judge="other"),
        key(0, request=base_request, model="gpt-4o"),
        key(0, request=base_request, rubric_version="argen-2"),
        key(0, request=base_request, prompt_version="p2"),
        key(0, request=JudgeRequest("p2", "r", "A", "S0")),
        key(0, request=JudgeRequest("p", "r2", "A", "S0")),
        key(0, request=JudgeRequest("p", "r", "B", "S0")),
        key(0, request=JudgeRequest("p", "r", "A", "S3")),
        key(0, request=JudgeRequest("p", "r", None, None)),
        # Field boundaries are kept: moving text from the prompt to the response is a new key.
        key(0, request=JudgeRequest("pr", "", "A", "S0")),
    ]
    assert base == key(0, request=JudgeRequest("p", "r", "A", "S0"))
    assert len({base, *variants}) == len(variants) + 1


# ---------------------------------------------------------------------------- storage
def test_verdicts_survive_a_restart(tmp_path):
    path = tmp_path / "verdicts.sqlite"
    cache = VerdictCache(path)
    cache.put_many({key(i): verdict(i) for i in range(50)}, judge="t")
    cache.close()

    reopened = VerdictCache(path)
    found = reopened.get_many([key(i) for i in range(60)])
    assert len(found) == 50 and found[key(7)] == verdict(7)
    assert reopened.hits == 50 and reopened.misses == 10
    assert reopened.path == path


def test_failures_cannot_be_cached(tmp_path):
    cache = VerdictCache(tmp_path / "v.sqlite")
    with pytest.raises(TypeError):
        cache.put(key(1), JudgeFailure("timeout"))  # type: ignore[arg-type]
    assert len(cache) == 0


def test_a_batch_of_misses_is_one_query_per_900_keys(tmp_path):
    path = tmp_path / "v.sqlite"
    VerdictCache(path).put_many({key(i): verdict(i) for i in range(2000)})
    cache = VerdictCache(path)
    statements: list[str] = []
    cache._conn.set_trace_callback(statements.append)
    found = cache.get_many([key(i) for i in range(2000)])
    assert len(found) == 2000
    assert sum(s.startswith("SELECT") for s in statements) == 3
    statements.clear()
    cache.get_many([key(i) for i in range(2000)])  # now served from memory
    assert statements == []


def test_rows_from_an_older_verdict_schema_are_misses(tmp_path):
    path = tmp_path / "v.sqlite"
    VerdictCache(path).put(key(1), verdict(1))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE verdicts SET verdict = ?", ('{"harm_avoidance": 0.5}',))
    assert VerdictCache(path).get(key(1)) is None


def test_a_file_that_is_not_a_cache_is_reported_by_path(tmp_path):
    path = tmp_path / "verdicts.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JudgeError, match=str(path)):
        VerdictCache(path).get(key(1))


def test_cache_hits_are_served_without_calls(tmp_path, monkeypatch):
    # Through the judge, including key hashing, as re-scoring does: every lookup is a hit, from
    # SQLite first and from the in-process front after. How fast they are is measured by
    # bench/judge_cache.py (make bench), not asserted here: timings flake on a busy CI machine.
    monkeypatch.setenv("ARGEN_TEST_KEY", "unused")
    judge = OpenAIJudge(model="judge-test", base_url="http://127.0.0.1:9/v1", api_key_env="ARGEN_TEST_KEY",
                        cache={"path": str(tmp_path / "v.sqlite")})
    requests = [JudgeRequest(f"prompt {i} " * 20, f"response {i} " * 60, "B", "S0") for i in range(5000)]
    expected = [verdict(i) for i in range(len(requests))]
    VerdictCache(judge.cache_path).put_many({judge.key_for(r): v for r, v in zip(requests, expected)})

    cold = asyncio.run(judge.judge_batch(requests))  # from SQLite
    warm = asyncio.run(judge.judge_batch(requests))  # from the in-process front

    assert cold == expected and warm == expected
    assert judge.stats()["calls"] == 0 and judge.stats()["cache_hits"] == 10000


def test_any_judge_behind_the_cache_is_asked_once_per_distinct_miss(tmp_path):
    inner = RuleJudge()
    path = tmp_path / "v.sqlite"

    def key_for(r):
        return cache_key(judge=inner.name, model="rules", rubric_version="v", prompt_version="p", request=r)

    judge = CachedJudge(inner, VerdictCache(path), key_for)
    short, long_, failing = (JudgeRequest("q", "short answer"), JudgeRequest("q", "a longer answer " * 5),
                             JudgeRequest("q", "x <<judge-fails>>"))
    first = asyncio.run(judge.judge_batch([short, long_, short, failing]))
    assert inner.calls == 1 and inner.judged == 3  # the duplicate is judged once
    assert first[0] == first[2] and isinstance(first[3], JudgeFailure)

    again = CachedJudge(inner, VerdictCache(path), key_for)  # a later run: the verdicts persisted
    second = asyncio.run(again.judge_batch([long_, failing, short]))
    assert second[0] == first[1] and second[2] == first[0]
    assert inner.judged == 4  # only the failure is asked again: failures are never cached
    assert again.stats()["cache_hits"] == 2
    asyncio.run(again.aclose())


# ---------------------------------------------------------------------------- several processes
def _assert_healthy(path) -> int:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    cache = VerdictCache(path)
    rows = cache._conn.execute("SELECT key, verdict FROM verdicts").fetchall()
    for _, text in rows:
        Verdict.from_dict(json.loads(text))  # raises on a damaged row
    return len(rows)


def test_concurrent_writers_in_several_processes_keep_the_cache_valid(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    VerdictCache(path).close()  # create the file (and WAL mode) once, as the first run would
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    workers, count = 4, 150
    procs = [ctx.Process(target=writer, args=(path, w, count, start)) for w in range(workers)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert _assert_healthy(path) == workers * count
    found = VerdictCache(path).get_many([key(w * 100_000 + i) for w in range(workers) for i in range(count)])
    assert len(found) == workers * count and found[key(3 * 100_000 + 5)] == verdict(5)


def test_a_writer_killed_mid_write_leaves_the_cache_readable(tmp_path):
    path = str(tmp_path / "killed.sqlite")
    VerdictCache(path).close()
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=endless_writer, args=(path,))
    proc.start()
    reader = VerdictCache(path)
    deadline = time.monotonic() + 60
    while len(reader) < 400:
        assert time.monotonic() < deadline and proc.is_alive()
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=10)
    assert proc.exitcode == -signal.SIGKILL

    rows = _assert_healthy(path)
    assert rows >= 400 and rows % 20 == 0  # whole transactions only
    # And it takes new writes.
    reader.put(key(7), verdict(7))
    assert VerdictCache(path).get(key(7)) == verdict(7)
