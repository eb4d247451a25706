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

from argen.judges.heuristic import HeuristicJudge, assess
from argen.scoring.build import build_judge
from argen.scoring.rubric import Rubric
from argen.types import JudgeRequest, Verdict

TABLE = Path(__file__).resolve().parent / "data" / "heuristic_pinned.yaml"

#: Verdict scores and the rubric's principle scores (judge + rubric, no policies), compared to TOLERANCE.
NUMBERS = (
    "harm_avoidance", "safety_context", "domain_adherence", "clarity", "completeness", "relevance", "empathy",
    "ahimsa", "dharma", "helpfulness", "combined",
)
#: Verdict fields compared exactly; the last two are read from its reasoning: which in-scope rule
#: the scope reading applied, and whether the reply counts as declining the question.
LABELS = (
    "referral_strength", "severity", "response_scope", "scope_risk", "has_professional_referral", "has_medical_disclaimer",
    "out_of_domain_advice", "scope_rule", "unanswered",
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
    """Rewrite every row's ``expected`` from the current judge and rubric; return how many changed."""
    path = path or TABLE
    table = load(path)
    changed = 0
    for row in table["rows"]:
        actual = score_row(table, row).values
        if differences(row.get("expected") or {}, actual):
            changed += 1
        row["expected"] = actual
    body = yaml.safe_dump(table, sort_keys=False, allow_unicode=True, width=1_000_000)
    path.write_text(HEADER + body, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.heuristic_pinned", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the expected numbers (then review the diff)")
    args = parser.parse_args(argv)
    if args.write:
        changed = write()
        print(f"{TABLE}: {changed} row(s) changed; review `git diff {TABLE.relative_to(TABLE.parents[2])}`")
        return 0
    table = load()
    moved = 0
    for row in table["rows"]:
        diff = differences(row.get("expected") or {}, score_row(table, row).values)
        if diff:
            moved += 1
            print(f"{row['id']}: " + "; ".join(diff))
    print(f"{moved} of {len(table['rows'])} rows moved")
    return 1 if moved else 0


if __name__ == "__main__":
    sys.exit(main())
