"""ArGen's combined mode: one TRL reward function with the combined training formula."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from argen.rewards.principle import log_batch_metrics
from argen.rewards.trl_inputs import judge_requests
from argen.scoring.pipeline import Scorer
from argen.scoring.verdict import PRINCIPLES


class CombinedReward:
    """Async TRL reward: :meth:`Rubric.training_combined` of the three principles, weighted by name."""

    __name__ = "combined"

    def __init__(self, scorer: Scorer, weights: Mapping[str, float]):
        self.scorer = scorer
        self.weights = {p: float(weights[p]) for p in PRINCIPLES}

    async def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        tier: Sequence[str | None] | None = None,
        scope: Sequence[str | None] | None = None,
        log_metric: Callable[[str, float], None] | None = None,
        **_: Any,
    ) -> list[float | None]:
        results = await self.scorer.score(judge_requests(prompts, completions, tier, scope))
        if log_metric is not None:
            for i, principle in enumerate(PRINCIPLES):
                log_batch_metrics(log_metric, results, principle, i == 0, self.scorer)
                scored = [r.value(principle) for r in results if r.scores is not None]
                if scored:
                    log_metric(f"argen/{principle}/mean", sum(scored) / len(scored))
        rubric = self.scorer.rubric
        return [None if r.scores is None else rubric.training_combined(r.scores, self.weights) for r in results]
