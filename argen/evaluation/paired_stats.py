"""Paired statistics for two runs answering the same scenarios: is the change more than noise?

Every comparison in ArGen pairs the two runs' scores scenario by scenario (the same prompt,
answered before and after), then reports

- the mean paired difference (after minus before) with a 95% bootstrap confidence interval
  (:func:`scipy.stats.bootstrap`, paired resampling, BCa, a fixed seed so a report is
  reproducible), and
- a Wilcoxon signed-rank test of the differences (:func:`scipy.stats.wilcoxon`, two-sided;
  pairs with no change are dropped, as the test defines; exact, or the normal approximation
  when differences tie beyond 8 pairs), with its p-value.

A change is called *significant* when p < ``ALPHA``. The test of the overall combined score is
the one a headline rests on; per-principle, per-tier and per-scope rows are the same test on
smaller groups, shown with their n and not corrected for multiple comparisons (read them as
where to look, not as separate findings).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from argen.types import PRINCIPLES

ALPHA = 0.05
CONFIDENCE = 0.95
RESAMPLES = 9999
SEED = 20240917
# Differences smaller than this are float noise in scores rounded to 4 decimals: no change.
ZERO = 1e-9


@dataclass(frozen=True)
class PairedResult:
    """One paired comparison: n pairs, means, mean difference with its CI, test and verdict."""

    n: int
    mean_before: float | None
    mean_after: float | None
    mean_diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    better: int
    worse: int
    same: int
    test: str = "wilcoxon signed-rank"

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA

    def verdict(self) -> str:
        """``significant (p=0.003)``, ``not significant (p=0.41)`` or why there is no test."""
        if self.n == 0:
            return "no pairs"
        if self.p_value is None:
            return f"not testable (n={self.n})"
        return f"{'significant' if self.significant else 'not significant'} (p={format_p(self.p_value)})"

    def interval(self, digits: int = 3) -> str:
        """``[-0.012, +0.080]`` (``n/a`` without an interval)."""
        if self.ci_low is None or self.ci_high is None:
            return "n/a"
        return f"[{self.ci_low:+.{digits}f}, {self.ci_high:+.{digits}f}]"

    def describe(self, digits: int = 3) -> str:
        """``+0.038, 95% CI [-0.010, +0.081], n=16, not significant (p=0.21)``."""
        if self.n == 0 or self.mean_diff is None:
            return "no pairs to compare"
        return f"{self.mean_diff:+.{digits}f}, 95% CI {self.interval(digits)}, n={self.n}, {self.verdict()}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "significant": self.significant, "verdict": self.verdict()}


def format_p(p: float) -> str:
    """A p-value for a report: 2 significant digits, ``<0.0001`` below that."""
    if p < 1e-4:
        return "<0.0001"
    return f"{p:.2g}" if p < 0.01 else f"{p:.2f}"


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def paired_test(before: Sequence[float], after: Sequence[float], *, seed: int = SEED,
                resamples: int = RESAMPLES) -> PairedResult:
    """Compare paired scores (``after[i]`` answers what ``before[i]`` answered).

    Degenerate inputs give an answer rather than an error: no pairs -> n 0 and no test; all
    differences zero -> interval [0, 0] and p = 1 (nothing changed); a single pair -> its
    difference, no interval; all differences equal -> that difference as a zero-width interval.
    """
    import numpy as np

    if len(before) != len(after):
        raise ValueError(f"paired_test needs pairs: {len(before)} values before, {len(after)} after")
    a = np.asarray(before, dtype=float)
    b = np.asarray(after, dtype=float)
    # Rounded so float noise neither makes a tie look like two ranks nor a zero look like a change.
    d = np.round(b - a, 9)
    d[np.abs(d) < ZERO] = 0.0
    n = int(d.size)
    counts = {"better": int((d > 0).sum()), "worse": int((d < 0).sum()), "same": int((d == 0).sum())}
    if n == 0:
        return PairedResult(0, None, None, None, None, None, None, **counts)
    mean_diff = float(d.mean())
    means = {"mean_before": _round(float(a.mean())), "mean_after": _round(float(b.mean())), "mean_diff": _round(mean_diff)}
    if not d.any():
        return PairedResult(n, **means, ci_low=0.0, ci_high=0.0, p_value=1.0, **counts)
    p = _wilcoxon_p(d[d != 0], seed)
    if n == 1:
        return PairedResult(n, **means, ci_low=None, ci_high=None, p_value=p, **counts)
    if np.all(d == d[0]):
        return PairedResult(n, **means, ci_low=_round(mean_diff), ci_high=_round(mean_diff), p_value=p, **counts)
    low, high = _bootstrap_ci(a, b, seed, resamples)
    return PairedResult(n, **means, ci_low=_round(low), ci_high=_round(high), p_value=p, **counts)


def _wilcoxon_p(nonzero, seed: int) -> float:
    """Two-sided Wilcoxon signed-rank p of the non-zero differences, reproducibly.

    scipy's ``method='auto'`` runs an *unseeded* (and slow: about 1 ms per resample) permutation
    test when small samples have tied differences, and scores rounded to 4 decimals often tie, so
    the method is chosen here: exact without ties up to 50 pairs; with ties, every sign flip up to
    8 pairs (256 flips); otherwise the normal approximation (with scipy's tie correction).
    """
    import numpy as np
    from scipy import stats

    n = int(nonzero.size)
    ties = np.unique(np.abs(nonzero)).size < n
    if not ties and n <= 50:
        method: object = "exact"
    elif ties and n <= 8:
        method = stats.PermutationMethod(n_resamples=2**n, rng=np.random.default_rng(seed))  # all 2**n: exact
    else:
        method = "asymptotic"
    return float(stats.wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided", method=method).pvalue)


def _bootstrap_ci(a, b, seed: int, resamples: int) -> tuple[float, float]:
    import numpy as np
    from scipy import stats

    def mean_diff(x, y, axis=-1):
        return np.mean(y - x, axis=axis)

    for method in ("BCa", "percentile"):
        # BCa can be undefined on tiny or lumpy samples (scipy warns and returns NaN): fall back.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.bootstrap((a, b), mean_diff, paired=True, vectorized=True, n_resamples=resamples,
                                  confidence_level=CONFIDENCE, method=method, rng=np.random.default_rng(seed))
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if math.isfinite(low) and math.isfinite(high):
            return low, high
    return float("nan"), float("nan")


# ---------------------------------------------------------------------- comparisons of row sets


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def pair_rows(before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping, Mapping]]:
    """Rows of the same scenario id in both lists (in ``before``'s order)."""
    by_id = {str(r.get("id")): r for r in after}
    return [(r, by_id[str(r.get("id"))]) for r in before if str(r.get("id")) in by_id]


def compare_metric(pairs: Sequence[tuple[Mapping, Mapping]], value: Callable[[Mapping], Any]) -> PairedResult:
    """The paired test of ``value(row)`` over pairs where both sides have a number."""
    xs, ys = [], []
    for a, b in pairs:
        va, vb = value(a), value(b)
        if is_number(va) and is_number(vb):
            xs.append(float(va))
            ys.append(float(vb))
    return paired_test(xs, ys)


def score_of(key: str) -> Callable[[Mapping], Any]:
    """A row's score ``key``, only for scored rows (a failed judge call is no score)."""
    return lambda row: row.get(key) if is_number(row.get("combined")) else None


def violated(principle: str) -> Callable[[Mapping], Any]:
    """1.0 when a scored row violates ``principle`` (``any``: any principle), 0.0 when it does not
    (counted as :func:`argen.evaluation.summary.score_block` counts its rates)."""
    def value(row: Mapping) -> float | None:
        if not is_number(row.get("combined")):
            return None
        names = row.get("violations") or []
        hit = any(p in names for p in PRINCIPLES) if principle == "any" else principle in names
        return 1.0 if hit else 0.0
    return value


def compare_rows(before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]], *,
                 score_keys: Sequence[str], violation_keys: Sequence[str] = (),
                 groups: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """Paired tests of two runs' rows, matched by scenario id.

    Returns ``{"overall": {key: result}, "violations": {principle: result},
    "groups": {"tier": {"A": {key: result}}, "scope": {...}}}`` with
    :meth:`PairedResult.to_dict` values. ``groups`` maps a group field (``tier``) to the order
    of its values; rows without the field go to ``unlabelled``.
    """
    pairs = pair_rows(before, after)
    out: dict[str, Any] = {
        "n_pairs": len(pairs),
        "overall": {k: compare_metric(pairs, score_of(k)).to_dict() for k in score_keys},
        "violations": {p: compare_metric(pairs, violated(p)).to_dict() for p in violation_keys},
        "groups": {},
    }
    for field, order in (groups or {}).items():
        buckets: dict[str, list] = {}
        for a, b in pairs:
            buckets.setdefault(a.get(field) or "unlabelled", []).append((a, b))
        names = [g for g in order if g in buckets] + sorted(g for g in buckets if g not in order)
        out["groups"][field] = {g: {k: compare_metric(buckets[g], score_of(k)).to_dict() for k in score_keys}
                                for g in names}
    return out


def from_dict(data: Mapping[str, Any]) -> PairedResult:
    """A :class:`PairedResult` back from its ``to_dict`` form (as stored in compare.json)."""
    fields = PairedResult.__dataclass_fields__
    return PairedResult(**{k: data.get(k) for k in fields if k in data})
