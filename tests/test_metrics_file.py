"""metrics.jsonl stays valid with several writers and after a writer is killed mid-stream."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import time

from argen.reporting.metrics import append_jsonl, quarter_means, read_jsonl, series


def _writer(path: str, worker: int, count: int) -> None:
    for i in range(count):
        append_jsonl(path, {"step": i, "worker": worker, "payload": "x" * (i % 300), "value": float(i)})


def test_concurrent_writers_never_interleave_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 400)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 1600
    records = [json.loads(line) for line in lines]  # strict: every line is whole JSON
    for w in range(4):
        assert [r["step"] for r in records if r["worker"] == w] == list(range(400))


def test_killed_writer_leaves_a_readable_file(tmp_path):
    path = tmp_path / "metrics.jsonl"
    ctx = mp.get_context("spawn")
    proc = ctx.Process(target=_writer, args=(str(path), 0, 10_000_000))
    proc.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not path.exists() or path.stat().st_size < 200_000):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    rows = read_jsonl(path)
    assert len(rows) > 100
    assert [r["step"] for r in rows] == list(range(len(rows)))


def test_torn_last_line_is_skipped_and_nan_written_as_null(tmp_path):
    path = tmp_path / "metrics.jsonl"
    append_jsonl(path, {"step": 1, "reward": 0.5})
    append_jsonl(path, {"step": 2, "reward": float("nan")})
    with open(path, "a") as fh:
        fh.write('{"step": 3, "rew')  # a crash mid-write by some other tool
    rows = read_jsonl(path)
    assert rows == [{"step": 1, "reward": 0.5}, {"step": 2, "reward": None}]
    assert series(rows, "reward") == ([1], [0.5])


def test_quarter_means():
    assert quarter_means([1, 2, 3]) is None
    assert quarter_means([1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]) == (1.0, 4.0)
