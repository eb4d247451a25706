"""Paired statistics on data whose answer is known: exact Wilcoxon p-values, degenerate inputs,
reproducible bootstrap intervals, and the row-level comparison by scenario, principle and group."""

from __future__ import annotations

import pytest

from argen.evaluation.paired_stats import compare_rows, format_p, from_dict, paired_test


def test_all_positive_differences_over_twenty_pairs_are_significant():
    before = [0.40 + 0.01 * i for i in range(20)]
    after = [b + 0.05 + 0.002 * i for i, b in enumerate(before)]
    r = paired_test(before, after)
    # Exact two-sided Wilcoxon with every rank on one side: 2 / 2**20.
    assert r.p_value == pytest.approx(2 / 2**20, rel=1e-6) and r.p_value < 0.01
    assert r.significant and r.verdict() == "significant (p=<0.0001)"
    assert r.n == 20 and r.better == 20 and r.worse == 0
    assert r.mean_diff == pytest.approx(0.05 + 0.002 * 9.5, abs=1e-4)
    assert 0.05 <= r.ci_low < r.mean_diff < r.ci_high <= 0.088  # inside the range of the differences


def test_identical_runs_are_not_significant():
    scores = [0.1, 0.5, 0.9, 0.3, 0.7]
    r = paired_test(scores, list(scores))
    assert (r.mean_diff, r.ci_low, r.ci_high, r.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert not r.significant and r.verdict() == "not significant (p=1.00)"
    assert r.same == 5 and r.describe() == "+0.000, 95% CI [+0.000, +0.000], n=5, not significant (p=1.00)"


def test_small_all_positive_sample_has_its_exact_p_and_is_not_significant():
    # n=4 all better: the smallest two-sided p the test can give is 2/16 = 0.125.
    r = paired_test([0.1, 0.2, 0.3, 0.4], [0.2, 0.4, 0.6, 0.8])
    assert r.p_value == pytest.approx(0.125)
    assert r.verdict() == "not significant (p=0.12)"


def test_symmetric_changes_cancel():
    before = [0.5] * 10
    after = [0.5 + d for d in (0.1, -0.1, 0.2, -0.2, 0.3, -0.3, 0.05, -0.05, 0.15, -0.15)]
    r = paired_test(before, after)
    assert r.p_value == pytest.approx(1.0) and r.mean_diff == pytest.approx(0.0, abs=1e-9)
    assert r.ci_low < 0 < r.ci_high


def test_degenerate_inputs_answer_without_errors():
    empty = paired_test([], [])
    assert empty.n == 0 and empty.p_value is None and empty.verdict() == "no pairs"
    assert empty.describe() == "no pairs to compare"
    one = paired_test([0.2], [0.5])
    assert one.n == 1 and one.ci_low is None and one.interval() == "n/a" and one.p_value == pytest.approx(1.0)
    constant = paired_test([0.1, 0.2, 0.3, 0.4, 0.5], [0.2, 0.3, 0.4, 0.5, 0.6])
    assert constant.ci_low == constant.ci_high == pytest.approx(0.1)  # zero-width: every pair moved by 0.1
    assert constant.p_value == pytest.approx(2 / 32)
    with pytest.raises(ValueError, match="needs pairs"):
        paired_test([0.1], [0.1, 0.2])


def test_float_noise_counts_as_no_change():
    r = paired_test([0.1, 0.2, 0.3], [0.1 + 1e-12, 0.2 - 1e-12, 0.3])
    assert r.same == 3 and r.p_value == 1.0


def test_bootstrap_interval_is_reproducible_and_depends_on_the_seed():
    before = [0.3, 0.5, 0.4, 0.6, 0.2, 0.7, 0.5, 0.4]
    after = [0.5, 0.4, 0.6, 0.7, 0.3, 0.6, 0.8, 0.5]
    a, b = paired_test(before, after), paired_test(before, after)
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    other = paired_test(before, after, seed=1)
    assert (other.ci_low, other.ci_high) != (a.ci_low, a.ci_high)
    assert a.ci_low < a.mean_diff < a.ci_high


def test_format_p():
    assert [format_p(p) for p in (0.00001, 0.0042, 0.049, 0.5)] == ["<0.0001", "0.0042", "0.05", "0.50"]


def _row(i: int, combined: float, tier: str, violations=()):
    return {"id": f"s{i}", "tier": tier, "scope": "S0", "combined": combined, "ahimsa": combined,
            "dharma": 1.0, "helpfulness": combined, "violations": list(violations)}


def test_compare_rows_pairs_by_id_and_tests_each_principle_and_group():
    before = [_row(i, 0.4, "A" if i < 12 else "C", ["helpfulness"]) for i in range(24)]
    # The after run answered in another order and scored one scenario it was never paired with.
    after = [_row(i, 0.6, "A" if i < 12 else "C") for i in reversed(range(24))] + [_row(99, 0.0, "A")]
    after[0]["combined"] = None  # judge failed for s23: left out, not counted as a zero
    stats = compare_rows(before, after, score_keys=("ahimsa", "dharma", "combined"),
                         violation_keys=("helpfulness", "any"), groups={"tier": ("A", "B", "C")})
    assert stats["n_pairs"] == 24
    combined = from_dict(stats["overall"]["combined"])
    assert combined.n == 23 and combined.significant and combined.mean_diff == pytest.approx(0.2)
    assert stats["overall"]["dharma"]["verdict"] == "not significant (p=1.00)"
    # Violations as 0/1 per scenario: the rate fell from 100% to 0% in all 23 scored pairs.
    assert stats["violations"]["helpfulness"]["mean_diff"] == pytest.approx(-1.0)
    assert stats["violations"]["helpfulness"]["significant"]
    groups = stats["groups"]["tier"]
    assert list(groups) == ["A", "C"]  # B is absent; order follows the tiers
    assert groups["A"]["combined"]["n"] == 12 and groups["C"]["combined"]["n"] == 11
