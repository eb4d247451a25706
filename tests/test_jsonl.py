"""One JSONL module: records split on "\\n" only, lone surrogates refused with file and line, and
what it writes it reads back (argen/data/jsonl.py and every command that reads or writes JSONL)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from argen.data import jsonl
from argen.data.scenarios import load_scenarios
from argen.errors import DataError
from tests.conftest import REPO, run_cli

# Valid inside a JSON string; str.splitlines() breaks on every one of them.
ODD_BREAKS = "a\u2028b\u2029c\u0085d\x1ce\x1df\x1eg\x0bh\x0ci"


def test_line_separators_inside_strings_are_one_record(tmp_path):
    path = tmp_path / "s.jsonl"
    # As another tool writes it: ensure_ascii=False leaves U+2028 and U+0085 raw in the file.
    path.write_text(json.dumps({"prompt": ODD_BREAKS, "id": "1"}, ensure_ascii=False) + "\n"
                    + json.dumps({"prompt": "second", "id": "2"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert "\u2028" in path.read_text(encoding="utf-8")
    scenarios = load_scenarios(path)
    assert [s.prompt for s in scenarios] == [ODD_BREAKS, "second"]
    assert [n for n, _ in jsonl.iter_records(path)] == [1, 2]
    assert [r["prompt"] for r in jsonl.read_records(path)] == [ODD_BREAKS, "second"]


def test_what_it_writes_it_reads_back(tmp_path):
    rows = [{"text": ODD_BREAKS, "emoji": "\U0001F600 ok", "nested": {"x": [1.5, float("nan")]}, "n": float("inf")},
            {"text": "\\ud83d is only a backslash and letters"}]
    expected = [{**rows[0], "nested": {"x": [1.5, None]}, "n": None}, rows[1]]
    appended, replaced = tmp_path / "a.jsonl", tmp_path / "w.jsonl"
    for row in rows:
        jsonl.append_record(appended, row)
    jsonl.write_records(replaced, rows)
    for path in (appended, replaced):
        data = path.read_bytes()
        assert data.count(b"\n") == 2
        # Escaped on the way out, so even a reader that uses splitlines() sees two lines.
        assert len(data.decode("utf-8").splitlines()) == 2
        assert [r for _, r in jsonl.iter_records(path)] == expected
        assert jsonl.read_records(path) == expected


@pytest.mark.parametrize("escape", ["\\ud83d", "\\uDE00", "x\\ud83dy"])
def test_a_lone_surrogate_escape_is_refused_naming_file_and_line(tmp_path, escape):
    path = tmp_path / "s.jsonl"
    path.write_text('{"prompt": "fine"}\n{"prompt": "half an emoji ' + escape + '"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"s\.jsonl:2: text that cannot be encoded as UTF-8 in 'prompt': a lone surrogate"):
        load_scenarios(path)
    with pytest.raises(DataError, match=r":2: .*lone surrogate"):
        jsonl.read_records(path)


def test_a_surrogate_pair_escape_is_one_character(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"prompt": "smile \\ud83d\\ude00"}\n', encoding="utf-8")
    assert load_scenarios(path)[0].prompt == "smile \U0001F600"


def test_a_lone_surrogate_in_a_python_string_is_never_written(tmp_path):
    path = tmp_path / "out.jsonl"
    jsonl.append_record(path, {"ok": 1})
    with pytest.raises(DataError, match=r"out\.jsonl: cannot write text .* in 'rows\[1\]\.response'"):
        jsonl.append_records(path, [{"ok": 2}, {"rows": [{}, {"response": "half \ud83d"}]}])
    with pytest.raises(DataError, match="lone surrogate"):
        jsonl.write_records(path, [{"response": "\udc80"}])
    assert jsonl.read_records(path) == [{"ok": 1}]  # a refused batch writes nothing


def test_torn_tail_is_skipped_and_cut(tmp_path):
    path = tmp_path / "m.jsonl"
    jsonl.append_record(path, {"step": 1, "text": "é"})
    with open(path, "ab") as fh:
        fh.write('{"step": 2, "text": "é'.encode()[:-1])  # a crash mid-write, inside a UTF-8 character
    assert jsonl.read_records(path) == [{"step": 1, "text": "é"}]
    assert jsonl.drop_torn_tail(path) > 0
    jsonl.append_record(path, {"step": 2})
    assert [r["step"] for r in jsonl.read_records(path)] == [1, 2]


def test_every_jsonl_reader_and_writer_uses_the_module():
    """No module splits JSONL text or joins JSON lines itself (splitlines breaks U+2028 records)."""
    offenders = []
    for root in ("argen", "bench", "experiments"):
        for path in sorted((REPO / root).rglob("*.py")):
            if path == REPO / "argen" / "data" / "jsonl.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                by_hand = ("json.loads" in line and re.search(r"splitlines|for \w+ in \w+\b(?!\()", line)) or (
                    "json.dumps" in line and '"\\n"' in line and "indent=" not in line)
                if by_hand or (".jsonl" in line and "splitlines" in line):
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def _score(tmp_path: Path, src: Path, out: Path):
    return run_cli("argen.score", f"input={src}", f"output={out}", "policy=none", "progress=false", cwd=tmp_path)


def test_score_reads_its_own_output_with_line_separators(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{"prompt": "Is rest good\u2028for a cold?", "response": "Yes.\u0085Drink\u2029fluids."},
            {"prompt": "Headache?", "response": "See a doctor if it persists."}]
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    first = _score(tmp_path, src, out)
    assert first.returncode == 0, first.stderr[-2000:]
    written = jsonl.read_records(out)
    assert [(r["prompt"], r["response"]) for r in written] == [(r["prompt"], r["response"]) for r in rows]
    again = _score(tmp_path, src, out)  # resumes from its own output: every row is already there
    assert again.returncode == 0, again.stderr[-2000:]
    assert "0 new, 2 already there" in again.stdout


def test_score_refuses_a_lone_surrogate_before_judging(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "c", "response": "half \\ud83d"}\n', encoding="utf-8")
    proc = _score(tmp_path, src, out)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{src}:2: text that cannot be encoded" in lines[0] and "'response'" in lines[0]
    assert not out.exists()
