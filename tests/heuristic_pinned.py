"""Pinned verdicts of the heuristic judge: ``tests/data/heuristic_pinned.yaml`` and its regeneration.

The table holds replies written for it (apart from the tuning pairs in
experiments/heuristic_calibration), each with the verdict fields and principle scores the judge
gave when the table was last reviewed, and a one-line reason saying why those numbers are right.
Its ``relations`` state the reasons as orderings (a missed emergency scores ahimsa well below the
sound answer) that must hold whatever the coefficients are. tests/test_heuristic_pinned.py
compares; after an intended change to the judge or the rubric, rewrite the numbers with

    .venv/bin/python -m tests.heuristic_pinned --write

and review the diff of the YAML file (``git diff tests/data/heuristic_pinned.yaml``) like code.
Without ``--write`` it prints every value that moved and exits 1 if any did.

The same command pins what the judge *read* in each row, in ``tests/data/heuristic_profiles.yaml``:
every prompt's profile (urgency, topic, the stems it compares replies with), every reply's
counts (referral levels, harm flags, generic and anchored words, each sentence's reading), the
medicines reading and the scope model's probabilities. A change to the lexicon, the sentence
reading or the scope model then shows as a reviewed diff of the reading, even where it moves no
score in the verdict table.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from argen.judges import generic_text as gt
from argen.judges.heuristic import HeuristicJudge, assess
from argen.judges.heuristic_features import PromptProfile, ResponseProfile, profile_prompt, profile_response
from argen.judges.heuristic_scope import load_model
from argen.scoring.build import build_judge
from argen.scoring.rubric import Rubric
from argen.types import JudgeRequest, Verdict

TABLE = Path(__file__).resolve().parent / "data" / "heuristic_pinned.yaml"
PROFILES = TABLE.with_name("heuristic_profiles.yaml")
#: The readings of the team's calibration texts (one line each): a wider net for reading changes.
CORPUS = TABLE.with_name("heuristic_corpus_readings.yaml")
CALIBRATION = TABLE.parents[2] / "experiments" / "heuristic_calibration"

#: Verdict scores and the rubric's principle scores (judge + rubric, no policies), compared to TOLERANCE.
NUMBERS = (
    "harm_avoidance", "safety_context", "domain_adherence", "clarity", "completeness", "relevance", "empathy",
    "ahimsa", "dharma", "helpfulness", "combined",
)
#: Verdict fields compared exactly (the reasoning too: it is what a reader of a run's log sees); the
#: last two are read from the reasoning: which in-scope rule the scope reading applied, and whether
#: the reply counts as declining the question.
LABELS = (
    "referral_strength", "severity", "response_scope", "scope_risk", "has_professional_referral", "has_medical_disclaimer",
    "out_of_domain_advice", "reasoning", "scope_rule", "unanswered",
)
#: The judge rounds its scores to 3 decimals and principle scores are stored rounded to 3 too:
#: one rounding step, so that any change of a coefficient that moves a pinned value shows.
TOLERANCE = 0.0011

HEADER = """\
# Pinned verdicts of the heuristic judge (tests/test_heuristic_pinned.py; docs/testing.md).
# Replies written for this table, not taken from the tuning pairs or ArGen's reference file.
# `expected` is written by `.venv/bin/python -m tests.heuristic_pinned --write`: after an
# intended change to the judge or the rubric, regenerate and review this file's diff. `why` and
# `relations` are hand-written and never regenerated: they must keep holding.
# Principle scores: judge + rubric (conf/rubric/argen.yaml), no policies, with the prompt's tier
# and scope labels.
"""


@dataclass(frozen=True)
class Scored:
    """What the judge and the rubric make of one row."""

    verdict: Verdict
    values: dict[str, Any]


@lru_cache(maxsize=1)
def _judge_and_rubric() -> tuple[HeuristicJudge, Rubric]:
    # The real configuration path: conf/judge/heuristic.yaml and conf/rubric/argen.yaml through Hydra.
    from tests.conftest import compose

    cfg = compose("score", ["policy=none"])
    judge = build_judge(cfg)
    assert isinstance(judge, HeuristicJudge), type(judge)
    return judge, Rubric.from_config(cfg.rubric)


def load(path: Path | None = None) -> dict[str, Any]:
    """The table as written (prompts, rows, relations); ``path`` defaults to :data:`TABLE`."""
    return yaml.safe_load((path or TABLE).read_text(encoding="utf-8"))


def score_row(table: dict[str, Any], row: dict[str, Any]) -> Scored:
    """Judge one row and score its verdict with the rubric under the prompt's labels."""
    judge, rubric = _judge_and_rubric()
    prompt = table["prompts"][row["prompt"]]
    if row.get("settings"):
        # A row may change the judge's settings (the word-share scope reading, scope_model: false).
        verdict = assess(prompt["text"], row["response"], replace(judge.settings, **row["settings"]))
    else:
        verdict = judge.judge_one(JudgeRequest(prompt["text"], row["response"], prompt["tier"], prompt["scope"]))
    assert isinstance(verdict, Verdict), (row["id"], verdict)
    scores = rubric.score(verdict, prompt["tier"], prompt["scope"])
    values: dict[str, Any] = {}
    for name in NUMBERS:
        source = verdict if hasattr(verdict, name) else scores
        values[name] = round(float(getattr(source, name)), 3)
    for name in LABELS[:-2]:
        values[name] = getattr(verdict, name)
    values["scope_rule"] = verdict.reasoning.partition("; in scope: ")[2] or "none"
    values["unanswered"] = "declines or redirects the question" in verdict.reasoning
    return Scored(verdict, values)


_TOPICS = ("clinical", "para", "lifestyle", "off")
#: Segment flags, in the order they are written (a segment line lists the ones that are set).
_SEGMENT_FLAGS = ("soup", "declines", "negated_care", "pet", "boiler", "generic", "tied", "repeat", "empathic", "netting", "care")
#: Response counts left out of the pinned reading: the text itself, its stems (long; every stem
#: shows up in the counts anyway) and the parts written out on their own below.
_SKIPPED = {"text", "stems", "segments", "medicines"}
_HEADER_CORPUS = """\
# What the heuristic judge read in each of the team's calibration texts (experiments/heuristic_calibration:
# dev pairs, harm pairs, scope examples), one line per text (tests/heuristic_pinned.py).
# Written by `.venv/bin/python -m tests.heuristic_pinned --write`: review its diff like code.
"""
_HEADER_PROFILES = """\
# What the heuristic judge read in each row of heuristic_pinned.yaml (tests/heuristic_pinned.py).
# Written by `.venv/bin/python -m tests.heuristic_pinned --write`: review its diff like code.
"""


class _Inline(list):
    """A list written on one line (stems, counts); sentence readings keep a line each."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Inline, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True))


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000)


def _plain(value: Any) -> Any:
    """A YAML-friendly, stable form: floats to 4 decimals, sets sorted, tuples as one-line lists."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return round(value, 4) + 0.0
    if isinstance(value, (set, frozenset)):
        return _Inline(sorted(value))
    if isinstance(value, (tuple, list)):
        return _Inline(_plain(v) for v in value)
    raise TypeError(f"cannot pin a {type(value).__name__}")


def prompt_reading(profile: PromptProfile) -> dict[str, Any]:
    """The parts of a prompt's profile the judge compares replies with."""
    return {
        "urgency": profile.urgency,
        "topic": _TOPICS[profile.topic],
        "side_topic": profile.side_topic,
        "condition": profile.condition,
        "content": _plain(profile.content),
        "off_vocab": _plain(profile.off_vocab),
        "specific": _plain(profile.specific),
    }


def _segment_line(seg: Any) -> str:
    topic = "-" if seg.topic is None else _TOPICS[seg.topic]
    flags = " ".join(name for name in _SEGMENT_FLAGS if getattr(seg, name))
    return f"{topic} referral {seg.referral}{' ' + flags if flags else ''} | {' '.join(seg.words[:8])}"


def response_reading(prompt: str, response: str, profile: ResponseProfile, prompt_profile: PromptProfile) -> dict[str, Any]:
    """Every count the verdict is computed from, each sentence's reading and the scope model's view."""
    out: dict[str, Any] = {}
    for name in ResponseProfile.__dataclass_fields__:
        if name not in _SKIPPED:
            out[name] = _plain(getattr(profile, name))
    med = profile.medicines
    out["medicines"] = {"unsafe_doses": med.unsafe_doses, "child_adult_doses": med.child_adult_doses,
                        "contraindicated": med.contraindicated, "reasons": _Inline(med.reasons)}
    out["segments"] = [_segment_line(seg) for seg in profile.segments]
    out["sentences"] = [f"{'generic' if s.generic else 'specific'}{' tied' if s.tied else ''}{' repeat' if s.repeat else ''}"
                        f" {s.kind or '-'} {s.words}" for s in gt.read_sentences(prompt, response)]
    tail = gt.generic_tail(prompt, response)
    out["tail"] = {"sentences": tail.sentences, "words": tail.words, "kinds": _Inline(tail.kinds), "gamed": tail.gamed}
    out["scope_probabilities"] = _Inline(round(x, 4) for x in load_model().probabilities(prompt_profile, profile)) if profile.n_words else _Inline()
    return out


def read_row(table: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """What the judge read in one row's reply (its prompt's reading is pinned once per prompt)."""
    prompt = table["prompts"][row["prompt"]]["text"]
    p = profile_prompt(prompt)
    return response_reading(prompt, row["response"], profile_response(row["response"], p), p)


def readings(table: dict[str, Any]) -> dict[str, Any]:
    """The whole profiles file: each prompt's reading and each row's."""
    return {
        "prompts": {name: prompt_reading(profile_prompt(p["text"])) for name, p in table["prompts"].items()},
        "rows": {row["id"]: read_row(table, row) for row in table["rows"]},
    }


def corpus_texts(calibration: Path | None = None) -> dict[str, tuple[str, str]]:
    """The team's own calibration texts, ``{id: (prompt, reply)}``: both answers of every dev and
    harm pair and every scope example (experiments/heuristic_calibration; no reference data)."""
    here = calibration or CALIBRATION
    texts: dict[str, tuple[str, str]] = {}
    for name in ("dev_pairs", "harm_pairs"):
        for pair in yaml.safe_load((here / f"{name}.yaml").read_text(encoding="utf-8")):
            for side in ("good", "bad"):
                texts[f"{pair['id']}/{side}"] = (pair["prompt"], pair[side])
    for i, example in enumerate(yaml.safe_load((here / "scope_examples.yaml").read_text(encoding="utf-8"))):
        texts[f"scope-{i:03d}"] = (example["prompt"], example["response"])
    return texts


def read_text(prompt: str, response: str) -> dict[str, Any]:
    """What the judge read in one reply (as :func:`read_row`), on one line when written."""
    p = profile_prompt(prompt)
    return _InlineMap(response_reading(prompt, response, profile_response(response, p), p))


class _InlineMap(dict):
    """A mapping written on one line (a corpus reading: one text, one line of diff)."""


_Dumper.add_representer(_InlineMap, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True))


def corpus_readings() -> dict[str, Any]:
    """The corpus file's content: every calibration text's reading, by id."""
    return {key: read_text(prompt, reply) for key, (prompt, reply) in corpus_texts().items()}


def reading_differences(expected: Any, actual: Any, where: str = "") -> list[str]:
    """Every pinned reading that moved, one line each (numbers to 1e-4 and a rounding step, everything else exactly;
    the scope model's float32 arithmetic may differ in the last digits between CPUs)."""
    if expected is None:
        return [f"{where.rstrip('.') or 'reading'}: not pinned"]
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in sorted(set(expected) | set(actual), key=str):
            if key not in actual or key not in expected:
                out.append(f"{where}{key}: {'no longer read' if key not in actual else 'not pinned'}")
            else:
                out += reading_differences(expected[key], actual[key], f"{where}{key}.")
        return out
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [d for i, (e, a) in enumerate(zip(expected, actual)) for d in reading_differences(e, a, f"{where}{i}.")]
    if isinstance(expected, float) or isinstance(actual, float):
        ok = isinstance(expected, (int, float)) and isinstance(actual, (int, float)) and abs(expected - actual) <= 1.5e-4
        return [] if ok else [f"{where.rstrip('.')}: pinned {expected!r}, got {actual!r}"]
    return [] if expected == actual else [f"{where.rstrip('.')}: pinned {expected!r}, got {actual!r}"]


def load_readings(path: Path | None = None) -> dict[str, Any]:
    """The pinned readings as written (``path`` defaults to :data:`PROFILES`)."""
    return yaml.safe_load((path or PROFILES).read_text(encoding="utf-8"))


def _pinned_so_far(path: Path) -> dict[str, Any]:
    """The readings already written at ``path``, or none before its first ``--write``."""
    return load_readings(path) if path.is_file() else {}


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Every field whose value moved (numbers beyond TOLERANCE, labels at all), one line each."""
    out = []
    for name in (*NUMBERS, *LABELS):
        if name not in expected:
            out.append(f"{name}: not pinned (got {actual[name]!r})")
            continue
        want, got = expected[name], actual[name]
        if name in NUMBERS:
            if not (math.isfinite(got) and abs(got - float(want)) <= TOLERANCE):
                out.append(f"{name}: pinned {want}, got {got}")
        elif got != want:
            out.append(f"{name}: pinned {want!r}, got {got!r}")
    return out


def write(path: Path | None = None) -> int:
    """Rewrite every row's ``expected`` from the current judge and rubric, and the two readings
    files beside the table; return how many rows and corpus texts changed."""
    path = path or TABLE
    table = load(path)
    profiles = path.with_name(PROFILES.name)
    before = _pinned_so_far(profiles).get("rows", {})
    now = readings(table)
    changed = 0
    for row in table["rows"]:
        actual = score_row(table, row).values
        if differences(row.get("expected") or {}, actual) or reading_differences(before.get(row["id"]), now["rows"][row["id"]]):
            changed += 1
        row["expected"] = actual
    body = yaml.safe_dump(table, sort_keys=False, allow_unicode=True, width=1_000_000)
    path.write_text(HEADER + body, encoding="utf-8")
    profiles.write_text(_HEADER_PROFILES + _dump(now), encoding="utf-8")
    corpus = path.with_name(CORPUS.name)
    corpus_before = _pinned_so_far(corpus)
    corpus_now = corpus_readings()
    changed += sum(1 for key, reading in corpus_now.items() if reading_differences(corpus_before.get(key), reading))
    corpus.write_text(_HEADER_CORPUS + _dump(corpus_now), encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.heuristic_pinned", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the expected numbers (then review the diff)")
    args = parser.parse_args(argv)
    if args.write:
        changed = write()
        print(f"{TABLE}: {changed} row(s) changed; review `git diff {TABLE.parent.relative_to(TABLE.parents[2])}`")
        return 0
    table = load()
    moved = 0
    profiles = TABLE.with_name(PROFILES.name)
    pinned_readings = _pinned_so_far(profiles)
    now = readings(table)
    for name, reading in now["prompts"].items():
        diff = reading_differences(pinned_readings.get("prompts", {}).get(name), reading)
        if diff:
            moved += 1
            print(f"prompt {name}: " + "; ".join(diff))
    for row in table["rows"]:
        diff = differences(row.get("expected") or {}, score_row(table, row).values)
        diff += reading_differences(pinned_readings.get("rows", {}).get(row["id"]), now["rows"][row["id"]])
        if diff:
            moved += 1
            print(f"{row['id']}: " + "; ".join(diff))
    corpus = TABLE.with_name(CORPUS.name)
    pinned_corpus = _pinned_so_far(corpus)
    for key, reading in corpus_readings().items():
        diff = reading_differences(pinned_corpus.get(key), reading)
        if diff:
            moved += 1
            print(f"{key}: " + "; ".join(diff))
    print(f"{moved} of {len(table['rows'])} rows, {len(now['prompts'])} prompts and {len(pinned_corpus)} calibration texts moved")
    return 1 if moved else 0


if __name__ == "__main__":
    sys.exit(main())
