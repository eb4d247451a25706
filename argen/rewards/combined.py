"""ArGen's combined mode: one TRL reward function with the combined training formula."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from argen.rewards.base import LogMetric, ScorerReward
from argen.rewards.principle import log_batch_metrics
from argen.scoring.pipeline import Scorer, ScoredResponse
from argen.types import PRINCIPLES


class CombinedReward(ScorerReward):
    """Async TRL reward: :meth:`Rubric.training_combined` of the three principles, weighted by name."""

    __name__ = "combined"

    def __init__(self, scorer: Scorer, weights: Mapping[str, float]):
        self.scorer = scorer
        self.weights = {p: float(weights[p]) for p in PRINCIPLES}

    def log(self, log_metric: LogMetric, results: Sequence[ScoredResponse]) -> None:
        for i, principle in enumerate(PRINCIPLES):
            log_batch_metrics(log_metric, results, principle, i == 0, self.scorer)
            scored = [r.value(principle) for r in results if r.scores is not None]
            if scored:
                log_metric(f"argen/{principle}/mean", sum(scored) / len(scored))

    def rewards(self, results: Sequence[ScoredResponse]) -> list[float | None]:
        rubric = self.scorer.rubric
        return [None if r.scores is None else rubric.training_combined(r.scores, self.weights) for r in results]
