"""Pinned verdicts of the heuristic judge (tests/data/heuristic_pinned.yaml, tests/heuristic_pinned.py).

Every row's verdict fields and principle scores must match what was pinned (numbers to
heuristic_pinned.TOLERANCE, labels exactly), and the hand-written relations between rows must
hold. A coefficient change therefore fails here until the table is rewritten with
``python -m tests.heuristic_pinned --write``, and the rewrite shows as a diff to review.
"""

from __future__ import annotations

import shutil

import pytest
import yaml

from tests import heuristic_pinned as pinned
from tests.conftest import REFERENCE, REPO

TABLE = pinned.load()
ROWS = {row["id"]: row for row in TABLE["rows"]}
READINGS = pinned.load_readings()


def actual(row_id: str) -> dict:
    # Scored inside each test, not in a shared fixture: mutation testing runs, for each mutant,
    # only the tests that called the mutated code, and a module fixture would credit the first.
    return pinned.score_row(TABLE, ROWS[row_id]).values


def test_the_table_covers_every_tier_scope_and_kind_of_answer():
    assert len(ROWS) == len(TABLE["rows"]), "row ids must be unique"
    assert 20 <= len(ROWS) <= 100
    prompts = TABLE["prompts"]
    assert {p["tier"] for p in prompts.values()} == {"A", "B", "C"}
    assert {p["scope"] for p in prompts.values()} == {"S0", "S1", "S2", "S3"}
    expected = [row["expected"] for row in ROWS.values()]
    assert {e["response_scope"] for e in expected} == {"S0", "S1", "S2", "S3"}
    assert {e["referral_strength"] for e in expected} == {"none", "routine", "urgent", "emergency"}
    assert {e["severity"] for e in expected} == {"none", "minor", "major"}
    for row in ROWS.values():
        assert row["prompt"] in prompts, row["id"]
        assert len(row["why"]) > 20, row["id"]


def test_the_table_is_apart_from_the_tuning_pairs_and_the_reference_file():
    replies = {row["response"].strip() for row in ROWS.values() if row["response"].strip()}
    calibration = REPO / "experiments" / "heuristic_calibration"
    others = [calibration / name for name in ("dev_pairs.yaml", "harm_pairs.yaml", "scope_examples.yaml")]
    if (REFERENCE / "judged-gemini.jsonl").is_file():
        others.append(REFERENCE / "judged-gemini.jsonl")
    for path in others:
        text = path.read_text(encoding="utf-8")
        assert not [r for r in replies if r[:60] in text], path


@pytest.mark.parametrize("row_id", sorted(ROWS))
def test_pinned_verdict(row_id):
    scored = pinned.score_row(TABLE, ROWS[row_id])
    diff = pinned.differences(ROWS[row_id]["expected"], scored.values)
    assert not diff, f"{row_id} ({ROWS[row_id]['why']}): {diff}; if intended, run python -m tests.heuristic_pinned --write"
    # The judge rounds to 3 decimals (verdicts print and cache stably).
    for name in ("harm_avoidance", "safety_context", "domain_adherence", "clarity", "completeness", "relevance", "empathy"):
        value = getattr(scored.verdict, name)
        assert round(value, 3) == value, (name, value)


@pytest.mark.parametrize("row_id", sorted(ROWS))
def test_pinned_reading(row_id):
    # What the judge read (counts, each sentence's reading, the scope model's probabilities): a
    # lexicon or sentence-reading change shows here even where no verdict score moves.
    diff = pinned.reading_differences(READINGS["rows"][row_id], pinned.read_row(TABLE, ROWS[row_id]))
    assert not diff, f"{row_id}: {diff[:8]}; if intended, run python -m tests.heuristic_pinned --write"


@pytest.mark.parametrize("name", sorted(TABLE["prompts"]))
def test_pinned_prompt_reading(name):
    actual = pinned.prompt_reading(pinned.profile_prompt(TABLE["prompts"][name]["text"]))
    diff = pinned.reading_differences(READINGS["prompts"][name], actual)
    assert not diff, f"prompt {name}: {diff}; if intended, run python -m tests.heuristic_pinned --write"


def test_the_readings_cover_every_row_and_prompt_and_nothing_else():
    assert set(READINGS["rows"]) == set(ROWS)
    assert set(READINGS["prompts"]) == set(TABLE["prompts"])


@pytest.mark.parametrize("relation", TABLE["relations"], ids=lambda r: f"{r['lower']}<{r['higher']}:{r['score']}")
def test_the_reasons_hold_as_orderings(relation):
    low, high = actual(relation["lower"])[relation["score"]], actual(relation["higher"])[relation["score"]]
    assert low + relation["by"] <= high, (relation["why"], low, high)


def test_the_verdicts_reasoning_names_what_the_why_relies_on():
    # The flags the reasons name are the ones the judge read (not a coincidence of numbers).
    reasoning = {row_id: pinned.score_row(TABLE, ROWS[row_id]).verdict.reasoning for row_id in ROWS}
    assert "dismissive 1" in reasoning["stroke-dismissed"]
    assert "dismissive 2" in reasoning["fever-dismissed"] and "dismissive 2" in reasoning["tablets-dismissed"]
    assert "dangerous 1" in reasoning["stroke-dangerous"]
    assert "above the usual adult limits" in reasoning["headache-overdose"]
    assert "blood thinner" in reasoning["warfarin-contraindicated"]
    assert "grader talk" in reasoning["injection"] and "grader talk 0" not in reasoning["injection"]
    assert reasoning["empty"] == "empty reply"


def _fresh_copy(tmp_path, name):
    """A copy of the table rewritten from the current judge (so these tests do not hang on the pins)."""
    copy = tmp_path / name
    shutil.copy(pinned.TABLE, copy)
    pinned.write(copy)
    return copy


def test_regenerating_rewrites_the_numbers_and_keeps_the_reasons(tmp_path):
    fresh = _fresh_copy(tmp_path, "fresh.yaml")
    edited = tmp_path / "edited.yaml"
    table = pinned.load(fresh)
    table["rows"][0]["expected"]["harm_avoidance"] = 0.123
    del table["rows"][1]["expected"]["empathy"]
    edited.write_text(yaml.safe_dump(table, sort_keys=False))
    assert pinned.write(edited) == 2
    assert edited.read_text() == fresh.read_text()  # numbers restored; header, why, responses and relations kept
    assert edited.read_text().startswith("# Pinned verdicts")
    assert pinned.load(edited)["relations"] == TABLE["relations"]
    assert [(r["id"], r["why"], r["response"]) for r in pinned.load(edited)["rows"]] == [
        (r["id"], r["why"], r["response"]) for r in TABLE["rows"]]
    assert pinned.write(edited) == 0


def test_the_check_command_reports_a_moved_value(monkeypatch, tmp_path, capsys):
    copy = _fresh_copy(tmp_path, "pinned.yaml")
    monkeypatch.setattr(pinned, "TABLE", copy)
    assert pinned.main([]) == 0
    table = pinned.load(copy)
    table["rows"][2]["expected"]["response_scope"] = "S3"
    copy.write_text(yaml.safe_dump(table, sort_keys=False))
    assert pinned.main([]) == 1
    out = capsys.readouterr().out
    assert f"{table['rows'][2]['id']}: response_scope: pinned 'S3', got 'S0'" in out
    assert f"1 of {len(ROWS)} rows, {len(TABLE['prompts'])} prompts and" in out


def test_the_check_command_reports_a_moved_reading(monkeypatch, tmp_path, capsys):
    copy = _fresh_copy(tmp_path, "pinned.yaml")
    monkeypatch.setattr(pinned, "TABLE", copy)
    profiles = copy.with_name(pinned.PROFILES.name)
    readings = pinned.load_readings(profiles)
    row_id = TABLE["rows"][0]["id"]
    readings["rows"][row_id]["generic_referral"] += 1
    readings["rows"][row_id]["scope_probabilities"][0] -= 0.01
    readings["prompts"]["fever"]["urgency"] = 0
    profiles.write_text(yaml.safe_dump(readings, sort_keys=False))
    assert pinned.main([]) == 1
    out = capsys.readouterr().out
    assert f"{row_id}: generic_referral: pinned" in out and "scope_probabilities.0: pinned" in out
    assert "prompt fever: urgency: pinned 0, got 1" in out
    assert f"2 of {len(ROWS)} rows, {len(TABLE['prompts'])} prompts and" in out
