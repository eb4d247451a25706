"""One JSONL module: records split on "\\n" only, lone surrogates refused with file and line, and
what it writes it reads back (argen/data/jsonl.py and every command that reads or writes JSONL)."""

from __future__ import annotations

import json
import logging
import os
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


# ---------------------------------------------------------------------------- every message, exactly
def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("data,line,message", [
    (b'{"a": 1}\n[1, 2]\n', 2, "each line must be a JSON object, got list"),
    (b'{"a": 1}\n{"a": \n', 2, "invalid JSON: Expecting value (column 7)"),
    (b'{"a": NaN}\n', 1, "invalid JSON: NaN is not allowed"),
    (b'{"a": -Infinity}\n', 1, "invalid JSON: -Infinity is not allowed"),
    (b'{"a": 1}\n\n{"b": 2}\n{"c": "\xff"}\n', 4, "not valid UTF-8 (byte 26)"),  # offsets count every line before
    (b'{"a": 1}\n\xef\xbb\xbf{"b": 2}\n', 2, "invalid JSON: Unexpected UTF-8 BOM (decode using utf-8-sig) (column 1)"),
    ('{"a": 1}\n\u2028\n'.encode(), 2, "invalid JSON: Expecting value (column 1)"),  # U+2028 is not blank
    (b'"half \\ud83d"\n', 1, "text that cannot be encoded as UTF-8: a lone surrogate \\ud83d "
                             "(half of a character such as an emoji); fix or remove it"),
])
def test_iter_records_names_file_line_and_problem(tmp_path, data, line, message):
    path = _file(tmp_path, data)
    with pytest.raises(DataError) as err:
        list(jsonl.iter_records(path))
    assert str(err.value) == f"{path}:{line}: {message}"
    assert (err.value.path, err.value.line) == (str(path), line)


def test_iter_records_of_a_missing_file(tmp_path):
    with pytest.raises(DataError) as err:
        list(jsonl.iter_records(tmp_path / "nope.jsonl"))
    assert str(err.value) == f"{tmp_path / 'nope.jsonl'}: file not found"


def test_iter_records_skips_blank_lines_and_a_leading_byte_order_mark(tmp_path):
    path = _file(tmp_path, b'\xef\xbb\xbf{"a": 1}\n\n \t\r\n{"a": 2}\n')
    assert list(jsonl.iter_records(path)) == [(1, {"a": 1}), (4, {"a": 2})]


@pytest.mark.parametrize("text,where,char", [
    ("\ud800", "k", "d800"), ("\udfff", "k", "dfff"), ("\ue000 then \udbff", "k", "dbff"),
])
def test_the_surrogate_named_is_the_first_one_in_the_text(tmp_path, text, where, char):
    with pytest.raises(DataError) as err:
        jsonl.encode_record({where: text})
    assert str(err.value) == (f"<jsonl>: cannot write text that cannot be encoded as UTF-8 in '{where}': a lone "
                              f"surrogate \\u{char} (half of a character such as an emoji); fix or remove it")


def test_a_surrogate_in_a_key_is_named_by_its_path(tmp_path):
    with pytest.raises(DataError, match=r"in 'outer\.k.': a lone surrogate \\udc00"):
        jsonl.encode_record({"outer": {"k\udc00": "fine"}})
    with pytest.raises(DataError) as err:
        jsonl.write_records(tmp_path / "w.jsonl", [{"ok": {1: "x", "list": ["a", "\udc01"]}}])
    assert str(err.value).startswith(f"{tmp_path / 'w.jsonl'}: cannot write text that cannot be encoded as UTF-8 in 'ok.list[1]'")


def test_read_records_names_the_file_of_a_lone_surrogate(tmp_path):
    path = _file(tmp_path, b'{"a": 1}\n{"b": "\\udc00"}\n')
    with pytest.raises(DataError, match=re.escape(f"{path}:2: text that cannot be encoded")):
        jsonl.read_records(path)
    with pytest.raises(DataError, match=re.escape("<jsonl>:1: text that cannot be encoded")):
        jsonl.records_from_bytes(b'{"b": "\\udc00"}\n')


def test_read_records_keeps_reading_past_blank_torn_and_foreign_lines(tmp_path):
    data = b'{"a": 1}\n\n{"torn": \n[1]\n\xff\xfe\n{"a": NaN}\n{"a": 3}'
    rows = jsonl.records_from_bytes(data)
    assert [r["a"] for r in rows][0] == 1 and rows[2] == {"a": 3} and len(rows) == 3
    assert rows[1]["a"] != rows[1]["a"]  # NaN: what another tool wrote is read, not refused
    from_file = jsonl.read_records(_file(tmp_path, data))
    assert [from_file[0], from_file[2]] == [rows[0], rows[2]] and len(from_file) == 3


def test_encode_record_is_one_compact_line():
    assert jsonl.encode_record({"a": 1, "b": [1, "é"], "c": float("nan")}) == '{"a":1,"b":[1,"é"],"c":null}\n'.encode()
    assert jsonl.encode_record({"t": "x\u2028y"}) == b'{"t":"x\\u2028y"}\n'


def test_append_records_writes_one_blob_with_the_usual_mode(tmp_path):
    path = tmp_path / "a.jsonl"
    jsonl.append_records(path, [{"a": 1}, {"b": 2}], sync=True)
    jsonl.append_records(path, [])  # nothing to write: not even an empty write
    assert path.read_bytes() == b'{"a":1}\n{"b":2}\n'
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644 & ~umask
    jsonl.append_records(tmp_path / "none.jsonl", [])
    assert not (tmp_path / "none.jsonl").exists()


def test_drop_torn_tail_cuts_only_the_last_line_and_says_how_much(tmp_path, caplog):
    whole = _file(tmp_path, b'{"a": 1}\n{"a": 2}\n')
    with caplog.at_level(logging.WARNING, logger="argen.data.jsonl"):
        assert jsonl.drop_torn_tail(whole) == 0
        assert jsonl.drop_torn_tail(tmp_path / "absent.jsonl") == 0
        empty = tmp_path / "empty.jsonl"
        empty.write_bytes(b"")
        assert jsonl.drop_torn_tail(empty) == 0
    assert caplog.text == ""
    torn = tmp_path / "torn.jsonl"
    torn.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": ')
    with caplog.at_level(logging.WARNING, logger="argen.data.jsonl"):
        assert jsonl.drop_torn_tail(torn) == 6
    assert torn.read_bytes() == b'{"a": 1}\n{"a": 2}\n'
    assert [r.getMessage() for r in caplog.records] == [f"{torn}: dropping a torn last line (6 bytes) left by an interrupted run"]
    only = tmp_path / "only.jsonl"
    only.write_bytes(b'{"a"')
    assert jsonl.drop_torn_tail(only) == 4 and only.read_bytes() == b""
