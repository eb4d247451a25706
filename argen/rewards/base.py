"""The TRL reward-function contract, once: turn TRL's batch into judge requests, score them with
the shared :class:`Scorer`, log, and hand back one reward (or ``None``) per completion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from argen.rewards.trl_inputs import judge_requests
from argen.scoring.pipeline import Scorer, ScoredResponse

LogMetric = Callable[[str, float], None]


class ScorerReward:
    """Base of ArGen's async TRL rewards; subclasses say which number each result gives."""

    scorer: Scorer

    async def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        tier: Sequence[str | None] | None = None,
        scope: Sequence[str | None] | None = None,
        log_metric: LogMetric | None = None,
        **_: Any,
    ) -> list[float | None]:
        results = await self.scorer.score(judge_requests(prompts, completions, tier, scope))
        if log_metric is not None:
            self.log(log_metric, results)
        return self.rewards(results)

    def log(self, log_metric: LogMetric, results: Sequence[ScoredResponse]) -> None:
        """Log what explains this reward's curve for one batch."""

    def rewards(self, results: Sequence[ScoredResponse]) -> list[float | None]:
        """One reward per result; ``None`` where the judge could not score (TRL leaves it out)."""
        raise NotImplementedError


__all__ = ["LogMetric", "ScorerReward"]
