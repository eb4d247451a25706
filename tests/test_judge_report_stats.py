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
