"""One TRL reward function per principle, all reading one shared judge verdict per response."""

from __future__ import annotations

import math
from collections.abc import Sequence

from argen.policy.report import violation_rates
from argen.rewards.base import LogMetric, ScorerReward
from argen.scoring.pipeline import Scorer, ScoredResponse
from argen.types import PRINCIPLES

# Sub-scores each principle logs, so a curve can be explained (mean over scored responses).
_SUB_SCORES: dict[str, tuple[str, ...]] = {
    "ahimsa": ("raw_ahimsa", "referral_factor"),
    "dharma": ("scope_factor",),
    "helpfulness": (),
}


class PrincipleReward(ScorerReward):
    """Async TRL reward for one principle (``ahimsa``, ``dharma`` or ``helpfulness``).

    Three of these share one :class:`Scorer`; TRL awaits them together, so a batch costs one
    judge pass. A response the judge could not score gets ``None`` (TRL leaves it out), never 0.0.
    """

    def __init__(self, principle: str, scorer: Scorer, log_judge_stats: bool | None = None):
        if principle not in PRINCIPLES:
            raise ValueError(f"principle must be one of {PRINCIPLES}, got {principle!r}")
        self.principle = principle
        self.scorer = scorer
        # TRL logs rewards/<__name__>/mean; the first principle also logs the shared judge stats.
        self.__name__ = principle
        self.log_judge_stats = principle == PRINCIPLES[0] if log_judge_stats is None else log_judge_stats

    def log(self, log_metric: LogMetric, results: Sequence[ScoredResponse]) -> None:
        log_batch_metrics(log_metric, results, self.principle, self.log_judge_stats, self.scorer)

    def rewards(self, results: Sequence[ScoredResponse]) -> list[float | None]:
        return [r.value(self.principle) for r in results]


def log_batch_metrics(
    log_metric: LogMetric,
    results: Sequence[ScoredResponse],
    principle: str,
    include_judge: bool,
    scorer: Scorer,
) -> None:
    """Log a principle's sub-scores and violation rate (and, once per batch, the judge's accounting)."""
    scored = [r.scores for r in results if r.scores is not None]
    if scored:
        for name in _SUB_SCORES.get(principle, ()):
            log_metric(f"argen/{principle}/{name}", sum(getattr(s, name) for s in scored) / len(scored))
        log_metric(f"argen/{principle}/violation_rate", sum(principle in s.violations for s in scored) / len(scored))
    if include_judge:
        log_metric("argen/judge/unscored_frac", sum(r.scores is None for r in results) / max(1, len(results)))
        if scored:
            log_metric("argen/policy/violation_rate", sum(bool(s.policy_violations) for s in scored) / len(scored))
            ids = getattr(scorer.policies, "ids", ())
            for policy_id, rate in violation_rates(results, ids).items():
                log_metric(f"argen/policy/{policy_id}", rate)
        for key, value in scorer.judge.stats().items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                log_metric(f"argen/judge/{key}", float(value))
