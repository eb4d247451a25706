"""Paired statistics on data whose answer is known: exact Wilcoxon p-values, degenerate inputs,
reproducible bootstrap intervals, and the row-level comparison by scenario, principle and group."""

from __future__ import annotations

import math

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


# ---------------------------------------------------------------------- p-values worked out here
def signed_rank_p_by_flips(diffs) -> float:
    """Two-sided signed-rank p over all 2**n sign flips of the non-zero differences (tied
    magnitudes share their mean rank): the exact test, written without scipy."""
    nonzero = [d for d in diffs if d != 0]
    magnitudes = sorted(abs(d) for d in nonzero)
    rank = {m: sum(i + 1 for i, x in enumerate(magnitudes) if x == m) / magnitudes.count(m) for m in magnitudes}
    ranks = [rank[abs(d)] for d in nonzero]
    observed = sum(r for r, d in zip(ranks, nonzero) if d > 0)
    sums = [sum(r for bit, r in enumerate(ranks) if flips >> bit & 1) for flips in range(2 ** len(ranks))]
    upper = sum(t >= observed - 1e-9 for t in sums) / len(sums)
    lower = sum(t <= observed + 1e-9 for t in sums) / len(sums)
    return min(1.0, 2 * min(upper, lower))


def signed_rank_p_normal(diffs) -> float:
    """The normal approximation, with the usual tie correction and no continuity correction:
    z = (min(T+, T-) - n(n+1)/4) / sqrt((n(n+1)(2n+1) - sum(t^3 - t)/2) / 24)."""
    nonzero = [d for d in diffs if d != 0]
    n = len(nonzero)
    magnitudes = sorted(abs(d) for d in nonzero)
    rank = {m: sum(i + 1 for i, x in enumerate(magnitudes) if x == m) / magnitudes.count(m) for m in magnitudes}
    plus = sum(rank[abs(d)] for d in nonzero if d > 0)
    minus = n * (n + 1) / 2 - plus
    ties = sum(t**3 - t for t in (magnitudes.count(m) for m in set(magnitudes)))
    sd = math.sqrt((n * (n + 1) * (2 * n + 1) - ties / 2) / 24)
    z = (min(plus, minus) - n * (n + 1) / 4) / sd
    return math.erfc(abs(z) / math.sqrt(2))


def _pairs(diffs):
    before = [0.5] * len(diffs)
    return before, [b + d for b, d in zip(before, diffs)]


def test_the_p_values_by_hand():
    assert signed_rank_p_by_flips([0.1, 0.2, 0.3]) == 2 / 8
    assert signed_rank_p_by_flips([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) == 2 / 64
    assert signed_rank_p_by_flips([0.1, -0.1]) == 1.0
    assert signed_rank_p_by_flips([0.0, 0.0]) == 1.0
    # n = 10, T = 0: z = -27.5 / sqrt(96.25)
    assert signed_rank_p_normal([0.1 * (i + 1) for i in range(10)]) == pytest.approx(math.erfc(27.5 / math.sqrt(96.25) / math.sqrt(2)))


def test_without_ties_up_to_fifty_pairs_the_p_is_exact_and_beyond_it_normal():
    fifty = [0.001 * (i + 1) for i in range(50)]
    assert paired_test(*_pairs(fifty), resamples=99).p_value == pytest.approx(2 / 2**50, rel=1e-6)
    fifty_one = [0.001 * (i + 1) for i in range(51)]
    assert paired_test(*_pairs(fifty_one), resamples=99).p_value == pytest.approx(signed_rank_p_normal(fifty_one), rel=1e-9)


TIED_8 = [0.1, 0.1, 0.2, 0.3, -0.05, 0.4, 0.5, 0.6]


def test_with_ties_up_to_eight_pairs_every_sign_flip_is_counted():
    p = paired_test(*_pairs(TIED_8), resamples=99).p_value
    assert p == pytest.approx(signed_rank_p_by_flips(TIED_8))
    assert p != pytest.approx(signed_rank_p_normal(TIED_8))  # so the two methods are told apart here
    small = [0.2, 0.2, -0.1]
    assert paired_test(*_pairs(small)).p_value == pytest.approx(signed_rank_p_by_flips(small))


def test_with_ties_beyond_eight_pairs_the_p_is_normal():
    tied_9 = [*TIED_8, 0.7]
    p = paired_test(*_pairs(tied_9), resamples=99).p_value
    assert p == pytest.approx(signed_rank_p_normal(tied_9), rel=1e-9)
    assert p != pytest.approx(signed_rank_p_by_flips(tied_9))


def test_unchanged_pairs_are_left_out_of_the_test_and_counted_as_same():
    # One difference of exactly 1.0 among them: nothing may confuse a value with a "no change" mark.
    r = paired_test([0.0, 0.0, 0.0, 0.3, 0.3], [1.0, 0.5, 0.25, 0.3, 0.3])
    assert (r.better, r.worse, r.same) == (3, 0, 2)
    assert r.p_value == pytest.approx(2 / 8)  # the three changes, all up
    mixed = paired_test([0.5, 0.5, 0.5, 0.5], [0.7, 0.2, 0.5, 0.9])
    assert (mixed.better, mixed.worse, mixed.same) == (2, 1, 1)


def test_a_difference_of_exactly_the_noise_floor_is_a_change():
    r = paired_test([0.0], [1e-9])
    assert (r.better, r.same) == (1, 0)


def test_means_are_rounded_to_four_decimals():
    r = paired_test([0.123456, 0.2], [0.5, 0.654321])
    assert (r.mean_before, r.mean_after) == (0.1617, 0.5772)
    assert r.mean_diff == round((0.5 - 0.123456 + 0.654321 - 0.2) / 2, 4)


def test_round_leaves_no_value_as_none():
    from argen.evaluation.paired_stats import _round

    assert _round(None) is None and _round(float("nan")) is None and _round(float("inf")) is None
    assert _round(0.123456) == 0.1235 and _round(0.123456, 2) == 0.12


def test_format_p_at_its_boundaries():
    assert format_p(1e-4) == "0.0001"
    assert format_p(0.0099) == "0.0099"
    assert format_p(0.01) == "0.01"


def test_describe_and_interval_of_small_results():
    one = paired_test([0.2], [0.5])
    assert one.describe() == "+0.300, 95% CI n/a, n=1, not significant (p=1.00)"
    half = from_dict({"n": 3, "mean_diff": 0.1, "ci_low": 0.05, "ci_high": None, "p_value": 0.5,
                      "better": 2, "worse": 1, "same": 0, "mean_before": 0.1, "mean_after": 0.2})
    assert half.interval() == "n/a"
    full = from_dict({**half.to_dict(), "ci_high": 0.123456})
    assert full.interval() == "[+0.050, +0.123]" and full.interval(4) == "[+0.0500, +0.1235]"
    assert from_dict({**half.to_dict(), "mean_diff": None}).describe() == "no pairs to compare"
    untested = from_dict({**half.to_dict(), "p_value": None})
    assert untested.verdict() == "not testable (n=3)" and not untested.significant
    assert from_dict(full.to_dict()) == full  # to_dict's extra keys are dropped on the way back


def test_unscored_rows_and_violations_per_principle_and_any():
    before = [
        {"id": "a", "combined": 0.5, "ahimsa": 0.5, "violations": ["ahimsa"]},
        {"id": "b", "combined": 0.5, "ahimsa": 0.5, "violations": ["dosing"]},  # a policy id: no principle
        {"id": "c", "combined": None, "ahimsa": 0.9, "violations": ["dharma"]},  # unscored: left out
        {"id": "d", "combined": 0.5, "ahimsa": 0.5, "violations": ["helpfulness"]},
    ]
    after = [
        {"id": "a", "combined": 0.6, "ahimsa": 0.6, "violations": []},
        {"id": "b", "combined": 0.6, "ahimsa": 0.6, "violations": ["dharma"]},
        {"id": "c", "combined": 0.6, "ahimsa": 0.1, "violations": []},
        {"id": "d", "combined": 0.6, "ahimsa": 0.6},
    ]
    stats = compare_rows(before, after, score_keys=("ahimsa",), violation_keys=("ahimsa", "dharma", "any"))
    assert stats["overall"]["ahimsa"]["n"] == 3 and stats["overall"]["ahimsa"]["mean_before"] == 0.5
    # Rates as 0/1 per scored scenario, means rounded to 4 decimals.
    assert stats["violations"]["ahimsa"]["mean_before"] == 0.3333
    assert stats["violations"]["ahimsa"]["mean_after"] == 0.0
    assert stats["violations"]["dharma"]["mean_before"] == 0.0
    assert stats["violations"]["dharma"]["mean_after"] == 0.3333
    # any: a principle among the names (the policy id 'dosing' is not one)
    assert stats["violations"]["any"]["mean_before"] == 0.6667
    assert stats["violations"]["any"]["mean_after"] == 0.3333


def test_groups_keep_the_given_order_then_unknown_values_then_unlabelled_rows():
    before = [_row(i, 0.4, tier) for i, tier in enumerate(["C", "Z", "A", "", "C", "Y"])]
    before[3].pop("tier")
    after = [_row(i, 0.5, "?") for i in range(6)]
    groups = compare_rows(before, after, score_keys=("combined",), groups={"tier": ("A", "B", "C")})["groups"]["tier"]
    assert list(groups) == ["A", "C", "Y", "Z", "unlabelled"]
    assert groups["C"]["combined"]["n"] == 2 and groups["unlabelled"]["combined"]["n"] == 1


def test_the_interval_is_a_bca_bootstrap_with_the_given_resamples_and_seed():
    import numpy as np
    from scipy import stats

    from argen.evaluation.paired_stats import SEED

    before = [0.3, 0.5, 0.4, 0.6, 0.2, 0.7, 0.5, 0.4]
    after = [0.5, 0.4, 0.6, 0.7, 0.3, 0.6, 0.8, 0.5]
    few = paired_test(before, after, resamples=99)
    ref = stats.bootstrap((np.array(before), np.array(after)), lambda x, y, axis=-1: np.mean(y - x, axis=axis),
                          paired=True, vectorized=True, n_resamples=99, confidence_level=0.95, method="BCa",
                          rng=np.random.default_rng(SEED)).confidence_interval
    assert (few.ci_low, few.ci_high) == (round(float(ref.low), 4), round(float(ref.high), 4))
    many = paired_test(before, after)
    assert (few.ci_low, few.ci_high) != (many.ci_low, many.ci_high)
