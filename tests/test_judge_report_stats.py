"""The validity report's length-controlled statistics (experiments/heuristic_calibration/judge_report.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

HERE = Path(__file__).resolve().parents[1] / "experiments" / "heuristic_calibration"
sys.path.insert(0, str(HERE))
judge_report = pytest.importorskip("judge_report")


def test_partial_spearman_removes_agreement_that_is_only_length():
    rng = np.random.default_rng(0)
    length = rng.integers(10, 400, size=600)
    a = length + rng.normal(0, 40, size=600)  # both follow length, nothing else in common
    b = -(length + rng.normal(0, 40, size=600))
    assert spearmanr(a, b).statistic < -0.8
    assert abs(judge_report.partial_spearman(a, b, length)) < 0.1


def test_partial_spearman_keeps_agreement_on_content():
    rng = np.random.default_rng(1)
    length = rng.integers(10, 400, size=600)
    content = rng.normal(size=600)
    a = content + 0.001 * length
    b = content - 0.01 * length  # one score carries a length bias, the other does not
    assert judge_report.partial_spearman(a, b, length) > 0.8


def test_length_tertiles_split_by_length_and_cover_every_response():
    words = [5, 300, 40, 41, 7, 250, 90, 12, 600]
    parts = judge_report.length_tertiles(words)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(words)))
    assert max(words[i] for i in parts[0]) <= min(words[i] for i in parts[1])
    assert max(words[i] for i in parts[1]) <= min(words[i] for i in parts[2])


def _rows_and_verdicts(n=40, seed=0):
    """Synthetic Gemini rows and two verdict lists: one that tracks Gemini, one that errs apart."""
    from argen.judges.heuristic import empty_verdict

    rng = np.random.default_rng(seed)
    rows, good, other = [], [], []
    for i in range(n):
        x = float(rng.uniform(0.1, 0.9))
        noise = float(rng.uniform(0.1, 0.9))
        rows.append({"prompt": f"p{i % 8}", "tier": "C", "scope": "S0", "combined_score": x, "ahimsa_score": x,
                     "dharma_score": x, "helpfulness_score": x})
        base = empty_verdict("synthetic")
        fields = dict(harm_avoidance=x, safety_context=x, domain_adherence=x, clarity=x, completeness=x, relevance=x, empathy=x)
        good.append(base.__class__(**{**base.__dict__, **fields}))
        fields = {k: noise for k in fields}
        other.append(base.__class__(**{**base.__dict__, **fields}))
    return rows, good, other


def test_learned_agreement_of_a_judge_with_itself_is_perfect():
    rows, good, _ = _rows_and_verdicts()
    out = judge_report.learned_agreement(rows, good, good, judge_report._rubric(), resamples=50)
    for v in out["per_principle"].values():
        assert v["spearman_heuristic_learned"] == pytest.approx(1.0) and v["ci95"][0] == pytest.approx(1.0)
        assert v["differ_by_0.2"] == 0


def test_learned_agreement_says_which_judge_is_closer_where_they_differ():
    rows, good, other = _rows_and_verdicts(n=80)
    out = judge_report.learned_agreement(rows, good, other, judge_report._rubric(), resamples=50)
    combined = out["per_principle"]["combined"]
    assert combined["heuristic_vs_gemini"] > 0.95 and abs(combined["learned_vs_gemini_in_sample"]) < 0.4
    assert combined["differ_by_0.2"] > 10 and combined["heuristic_closer_share"] == 1.0 and combined["sign_test_p"] < 0.01
    swapped = judge_report.learned_agreement(rows, other, good, judge_report._rubric(), resamples=50)
    assert swapped["per_principle"]["combined"]["heuristic_closer_share"] == 0.0
