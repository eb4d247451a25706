"""The benchmark harness (bench/run.py) on a fake benchmark package: no model, a few seconds."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from bench import run as harness

GOOD = '''
def run(quick: bool = False) -> dict:
    return {"items_per_s": 2500.0 if quick else 1500.0, "label": "fake", "ok": True, "bad_float": float("nan")}
'''
BROKEN = '''
def run(quick: bool = False) -> dict:
    raise RuntimeError("boom: the fake benchmark broke")
'''
NESTED = '''
def run(quick: bool = False) -> dict:
    return {"nested": {"a": 1}}
'''
CRASH = '''
import os
def run(quick: bool = False) -> dict:
    os._exit(7)  # dies without a traceback, as a segfault would
'''
TARGETED = '''
TARGETS = {"latency_ms": ("<=", 5.0)}
def run(quick: bool = False) -> dict:
    return {"latency_ms": 9.5}
'''
HELPER = '''
def helper():
    return 1
'''

HAND_WRITTEN_HEAD = "# Benchmarks\n\nHand-written introduction | with a pipe.\n\n"
HAND_WRITTEN_TAIL = "\n## Notes\n\nKept as written.\n"


@pytest.fixture()
def fake(tmp_path: Path) -> Path:
    pkg = tmp_path / "fakebench"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name, src in {"good": GOOD, "broken": BROKEN, "nested": NESTED, "crash": CRASH,
                      "targeted": TARGETED, "_helper": HELPER, "notabench": HELPER}.items():
        (pkg / f"{name}.py").write_text(textwrap.dedent(src))
    return tmp_path


def _main(fake: Path, *extra: str) -> tuple[int, dict, str]:
    results, doc = fake / "results.json", fake / "BENCH.md"
    if not doc.exists():
        doc.write_text(f"{HAND_WRITTEN_HEAD}{harness.START}\nold figures\n{harness.END}\n{HAND_WRITTEN_TAIL}")
    rc = harness.main(["--package", "fakebench", "--path", str(fake), "--results", str(results), "--doc", str(doc), *extra])
    return rc, json.loads(results.read_text()), doc.read_text()


def test_discovery_skips_helpers_and_orders_expected_first(fake: Path) -> None:
    present, absent = harness.discover(fake / "fakebench", expected=("targeted", "missing"))
    assert present == ["targeted", "broken", "crash", "good", "nested"]
    assert absent == ["missing"]


def test_failures_are_isolated_and_results_have_their_shape(fake: Path) -> None:
    rc, results, _ = _main(fake)
    assert rc == 1  # a benchmark failed
    b = results["benchmarks"]
    assert list(b) == ["broken", "crash", "good", "nested", "targeted"]
    # The good one ran although others before it failed; NaN became null.
    assert b["good"]["status"] == "ok"
    assert b["good"]["metrics"] == {"items_per_s": 1500.0, "label": "fake", "ok": True, "bad_float": None}
    assert b["good"]["quick"] is False
    assert b["broken"]["status"] == "failed" and "RuntimeError: boom: the fake benchmark broke" in b["broken"]["error"]
    assert b["nested"]["status"] == "failed" and "metric 'nested' must be a number" in b["nested"]["error"]
    assert b["crash"]["status"] == "failed" and "exit status 7" in b["crash"]["error"]
    # A module's own TARGETS are checked.
    assert b["targeted"]["target_checks"] == [{"metric": "latency_ms", "rule": "<= 5", "value": 9.5, "met": False}]
    m = results["machine"]
    assert m["cores"] >= 1 and m["cpu"] and m["ram_gib"] > 0
    assert set(results["versions"]) >= {"python", "torch", "trl", "transformers"}
    assert results["date"].endswith("Z") and results["quick"] is False


def test_markers_rewritten_and_outside_text_kept(fake: Path) -> None:
    _, _, doc = _main(fake, "--only", "good")
    head, rest = doc.split(harness.START)
    section, tail = rest.split(harness.END)
    assert head == HAND_WRITTEN_HEAD and tail == "\n" + HAND_WRITTEN_TAIL
    assert "old figures" not in section
    assert "| `items_per_s` | 1,500 |" in section
    assert "GPU:" in section and "trl " in section
    # A second run replaces the section again, leaving the outside alone.
    _, _, again = _main(fake, "--only", "good", "--quick")
    assert again.startswith(HAND_WRITTEN_HEAD) and again.endswith(HAND_WRITTEN_TAIL)
    assert "| `items_per_s` | 2,500 |" in again and again.count(harness.START) == 1


def test_only_keeps_earlier_entries_from_the_same_machine(fake: Path) -> None:
    _main(fake, "--only", "good", "targeted")
    rc, results, _ = _main(fake, "--only", "good", "--quick")
    assert rc == 0
    assert results["benchmarks"]["good"]["quick"] is True
    assert results["benchmarks"]["targeted"]["metrics"] == {"latency_ms": 9.5}  # kept from the first run
    assert "broken" not in results["benchmarks"]


def test_unknown_name_is_a_usage_error(fake: Path, capsys) -> None:
    rc = harness.main(["--package", "fakebench", "--path", str(fake), "--only", "nope", "--no-doc",
                       "--results", str(fake / "r.json")])
    assert rc == 2
    assert "unknown benchmark(s) nope" in capsys.readouterr().err
    assert not (fake / "r.json").exists()


def test_broken_markers_are_refused_without_writing(tmp_path: Path) -> None:
    doc = tmp_path / "B.md"
    doc.write_text(f"intro\n{harness.END}\nx\n{harness.START}\n")
    with pytest.raises(ValueError, match="expected one"):
        harness.rewrite_section(doc, "new")
    assert doc.read_text() == f"intro\n{harness.END}\nx\n{harness.START}\n"
    fresh = tmp_path / "none.md"
    harness.rewrite_section(fresh, "figures")
    assert fresh.read_text() == f"# Benchmarks\n\n{harness.START}\nfigures\n{harness.END}\n"


def test_timeout_is_a_failure_and_the_rest_go_on(fake: Path) -> None:
    (fake / "fakebench" / "hang.py").write_text("import time\n\ndef run(quick=False):\n    time.sleep(60)\n    return {}\n")
    rc, results, _ = _main(fake, "--only", "hang", "good", "--timeout", "3")
    assert rc == 1
    assert results["benchmarks"]["hang"]["status"] == "failed"
    assert "timed out after 3 s" in results["benchmarks"]["hang"]["error"]
    assert results["benchmarks"]["good"]["status"] == "ok"


def test_render_rewrites_the_document_from_the_results_alone(fake: Path) -> None:
    _main(fake, "--only", "good")
    doc = fake / "BENCH.md"
    doc.write_text(doc.read_text().replace("1,500", "tampered"))
    rc = harness.main(["--render", "--results", str(fake / "results.json"), "--doc", str(doc)])
    assert rc == 0
    assert "| `items_per_s` | 1,500 |" in doc.read_text() and "tampered" not in doc.read_text()
    assert harness.main(["--render", "--results", str(fake / "missing.json"), "--no-doc"]) == 2
