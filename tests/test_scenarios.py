"""Scenario loading: bundled sets, ArGen's hashed format, and every kind of broken file."""

from __future__ import annotations

import collections
import hashlib
import json

import pytest

from argen.data.dataset import build_dataset
from argen.data.scenarios import bundled_path, load_scenarios
from argen.errors import DataError


def write(tmp_path, text: str | bytes, name="s.jsonl"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


@pytest.mark.parametrize("split,minimum", [("train", 200), ("eval", 60)])
def test_bundled_sets_cover_every_tier_and_scope(split, minimum):
    scenarios = load_scenarios(bundled_path(split))
    assert len(scenarios) >= minimum
    assert {s.tier for s in scenarios} == {"A", "B", "C"}
    assert {s.scope for s in scenarios} == {"S0", "S1", "S2", "S3"}
    assert len({s.id for s in scenarios}) == len(scenarios)


def test_bundled_eval_does_not_repeat_training_prompts():
    train = {s.prompt.strip().lower() for s in load_scenarios(bundled_path("train"))}
    assert not [s for s in load_scenarios(bundled_path("eval")) if s.prompt.strip().lower() in train]


def test_argen_hashed_labels_are_read(reference_dir):
    scenarios = load_scenarios(reference_dir / "benchmark-100.jsonl")
    assert len(scenarios) == 100
    tiers = collections.Counter(s.tier for s in scenarios)
    assert (tiers["A"], tiers["B"], tiers["C"]) == (17, 37, 46)
    assert collections.Counter(s.scope for s in scenarios)["S0"] == 94


def test_plain_labels_limit_and_missing_labels(tmp_path):
    path = write(tmp_path, '{"prompt": "a", "tier": "a", "scope": "s2"}\n\n{"prompt": "b"}\n{"prompt": "c", "id": 7}\n')
    scenarios = load_scenarios(path)
    assert [(s.tier, s.scope) for s in scenarios] == [("A", "S2"), (None, None), (None, None)]
    assert [s.id for s in scenarios] == ["line-1", "line-3", "7"]
    assert len(load_scenarios(path, limit=2)) == 2


def test_hash_mismatch_names_file_and_line(tmp_path):
    good = "My chest hurts"
    digest = hashlib.sha1(good.encode()).hexdigest()
    rows = [{"prompt": good, "tier": f"A:{digest}"}, {"prompt": "edited prompt", "tier": f"A:{digest}"}]
    path = write(tmp_path, "\n".join(json.dumps(r) for r in rows))
    with pytest.raises(DataError, match=r"s\.jsonl:2: tier label .* hash that does not match"):
        load_scenarios(path)


@pytest.mark.parametrize(
    "content,line,message",
    [
        ('{"prompt": "ok"}\n{"prompt": "broken"\n', 2, "invalid JSON"),
        ('{"tier": "A"}\n', 1, "missing 'prompt'"),
        ('{"prompt": "   "}\n', 1, "'prompt' is empty"),
        ('{"prompt": 42}\n', 1, "'prompt' must be a string"),
        ('{"prompt": "x", "tier": "D"}\n', 1, "unknown tier 'D'"),
        ('{"prompt": "x", "scope": "S9"}\n', 1, "unknown scope 'S9'"),
        ('{"prompt": "x", "tier": 1}\n', 1, "'tier' must be a string"),
        ('{"prompt": "x", "id": "a"}\n{"prompt": "y", "id": "a"}\n', 2, "duplicate id 'a' \\(first on line 1\\)"),
        ('["prompt"]\n', 1, "must be a JSON object"),
        ('{"prompt": "x", "id": NaN}\n', 1, "NaN is not allowed"),
    ],
)
def test_broken_rows_name_file_and_line(tmp_path, content, line, message):
    path = write(tmp_path, content)
    with pytest.raises(DataError, match=rf"s\.jsonl:{line}: .*{message}"):
        load_scenarios(path)


def test_empty_file_missing_file_non_utf8_and_huge_prompt(tmp_path):
    with pytest.raises(DataError, match="empty"):
        load_scenarios(write(tmp_path, "\n\n"))
    with pytest.raises(DataError, match="file not found"):
        load_scenarios(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match=r":2: not valid UTF-8"):
        load_scenarios(write(tmp_path, b'{"prompt": "ok"}\n{"prompt": "caf\xe9"}\n'))
    huge = json.dumps({"prompt": "pain " * 200_000})
    with pytest.raises(DataError, match=r":1: 'prompt' is 1,000,000 characters"):
        load_scenarios(write(tmp_path, huge))


def test_a_directory_and_a_file_of_blank_lines_are_named_for_what_they_are(tmp_path):
    """Issue 25 item 12: not "file not found" for a directory, not "empty" for blank lines."""
    with pytest.raises(DataError, match=r": is a directory, not a file"):
        load_scenarios(tmp_path)
    with pytest.raises(DataError, match=r"no scenarios in file \(it has only blank lines \(3 lines, no records\)\)"):
        load_scenarios(write(tmp_path, "\n  \n\t\n"))
    with pytest.raises(DataError, match=r"no scenarios in file \(it is empty\)"):
        load_scenarios(write(tmp_path, ""))
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "gone.jsonl")
    with pytest.raises(DataError, match="is a broken symbolic link"):
        load_scenarios(tmp_path / "link.jsonl")


def test_dataset_carries_labels_as_columns():
    scenarios = load_scenarios(bundled_path("eval"), limit=5)
    ds = build_dataset(scenarios, "You are a healthcare assistant.")
    assert set(ds.column_names) == {"prompt", "tier", "scope", "id"}
    assert ds[0]["prompt"][0] == {"role": "system", "content": "You are a healthcare assistant."}
    assert ds[0]["prompt"][1]["content"] == scenarios[0].prompt
    assert ds["tier"] == [s.tier for s in scenarios]
