"""The one path every score takes: judge -> policies -> rubric.

Training rewards, evaluation and the ``score`` command all call :class:`Scorer`. It judges each
distinct (prompt, response, tier, scope) once: principle rewards that ask for the same batch at
the same time share one in-flight judge call, and recent results are memoised so that
synchronous callers asking one after another do not pay again either.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from argen.errors import JudgeError
from argen.judges.base import Judge
from argen.scoring.rubric import Rubric, RubricScores
from argen.types import JudgeFailure, JudgeRequest, PolicyEvaluator, PolicyOutcome, Verdict

log = logging.getLogger(__name__)

Key = tuple[str, str, str | None, str | None]


@dataclass(frozen=True)
class ScoredResponse:
    """The result for one response: scores, or ``error`` when no score could be had."""

    request: JudgeRequest
    verdict: Verdict | None
    scores: RubricScores | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.scores is not None

    def value(self, principle: str) -> float | None:
        """A principle's score (or ``combined``), ``None`` when the judge failed."""
        return None if self.scores is None else self.scores.principle(principle)

    def to_record(self) -> dict[str, Any]:
        """Flat JSON-ready row: scores (null on failure), verdict fields, violations, error."""
        row: dict[str, Any] = {}
        if self.scores is not None:
            row.update(self.scores.to_dict())
        else:
            row.update({"ahimsa": None, "dharma": None, "helpfulness": None, "combined": None, "violations": []})
        if self.verdict is not None:
            row["response_scope"] = self.verdict.response_scope
            row["referral_strength"] = self.verdict.referral_strength
            row["verdict"] = self.verdict.to_dict()
        else:
            row["response_scope"] = None
            row["referral_strength"] = None
        if self.error is not None:
            row["error"] = self.error
        return row


def request_key(req: JudgeRequest) -> Key:
    return (req.prompt, req.response, req.tier, req.scope)


class Scorer:
    """Scores batches of responses through one judge, the policies and the rubric.

    ``on_error='skip'`` leaves failed responses unscored (``None``) and counts them; when more
    than ``max_error_rate`` of a batch fails, or with ``on_error='raise'`` on any failure, a
    :class:`JudgeError` stops the caller.
    """

    def __init__(
        self,
        judge: Judge,
        rubric: Rubric,
        policies: PolicyEvaluator | None = None,
        *,
        on_error: str = "skip",
        max_error_rate: float = 0.5,
        memo_size: int = 8192,
    ):
        if on_error not in ("skip", "raise"):
            raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
        self.judge = judge
        self.rubric = rubric
        self.policies = policies
        self.on_error = on_error
        self.max_error_rate = max_error_rate
        self._memo: OrderedDict[Key, ScoredResponse] = OrderedDict()
        self._memo_size = memo_size
        self._inflight: dict[Key, asyncio.Future[ScoredResponse]] = {}
        self.failures = 0
        self.scored = 0
        self._runner: asyncio.Runner | None = None
        # Called with each score() call's results (e.g. to sample completions for reading, at no judge cost).
        self._listeners: list[Callable[[list[ScoredResponse]], None]] = []

    def add_listener(self, listener: Callable[[list[ScoredResponse]], None]) -> None:
        """Call ``listener(results)`` after every :meth:`score` call."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[list[ScoredResponse]], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def score(self, requests: Sequence[JudgeRequest]) -> list[ScoredResponse]:
        """Score ``requests`` (order kept). Each distinct request is judged at most once."""
        keys = [request_key(r) for r in requests]
        found: dict[Key, ScoredResponse] = {}
        todo: dict[Key, JudgeRequest] = {}
        waiting: dict[Key, asyncio.Future[ScoredResponse]] = {}
        for key, req in zip(keys, requests):
            if key in found or key in todo or key in waiting:
                continue
            if key in self._memo:
                found[key] = self._memo[key]
                self._memo.move_to_end(key)
            elif key in self._inflight:
                waiting[key] = self._inflight[key]
            else:
                todo[key] = req
        if todo:
            loop = asyncio.get_running_loop()
            futures = {k: loop.create_future() for k in todo}
            self._inflight.update(futures)
            try:
                results = await self._judge_and_score(list(todo.values()))
                for key, res in zip(todo, results):
                    found[key] = res
                    self._remember(key, res)
                    futures[key].set_result(res)
            except BaseException as exc:
                for fut in futures.values():
                    if not fut.done():
                        fut.set_exception(exc)
                        fut.exception()  # mark retrieved: the caller that owns the batch re-raises it
                raise
            finally:
                for key in todo:
                    self._inflight.pop(key, None)
        for key, fut in waiting.items():
            found[key] = await fut
        results = [found[k] for k in keys]
        for listener in self._listeners:
            listener(results)
        return results

    def score_blocking(self, requests: Sequence[JudgeRequest]) -> list[ScoredResponse]:
        """Synchronous :meth:`score`, for scripts and commands that have no event loop.

        One event loop serves every call, so a network judge keeps its connections between batches.
        """
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner.run(self.score(requests))

    def close(self) -> None:
        """Close the judge's clients and the event loop :meth:`score_blocking` uses."""
        if self._runner is not None:
            self._runner.run(self.judge.aclose())
            self._runner.close()
            self._runner = None

    def _remember(self, key: Key, res: ScoredResponse) -> None:
        self._memo[key] = res
        self._memo.move_to_end(key)
        while len(self._memo) > self._memo_size:
            self._memo.popitem(last=False)

    async def _judge_and_score(self, requests: list[JudgeRequest]) -> list[ScoredResponse]:
        verdicts = await self.judge.judge_batch(requests)
        if len(verdicts) != len(requests):
            raise RuntimeError(f"judge {self.judge.name} returned {len(verdicts)} verdicts for {len(requests)} requests")
        good = [(i, v) for i, v in enumerate(verdicts) if isinstance(v, Verdict)]
        outcomes: dict[int, PolicyOutcome] = {}
        if self.policies is not None and good:
            evaluated = self.policies.evaluate([requests[i] for i, _ in good], [v for _, v in good])
            outcomes = {i: o for (i, _), o in zip(good, evaluated)}
        results: list[ScoredResponse] = []
        failed = 0
        for i, (req, verdict) in enumerate(zip(requests, verdicts)):
            if isinstance(verdict, JudgeFailure):
                failed += 1
                results.append(ScoredResponse(req, None, None, error=verdict.error))
                continue
            outcome = outcomes.get(i, PolicyOutcome())
            scores = self.rubric.score(
                verdict,
                req.tier,
                req.scope,
                policy_factors=outcome.factors,
                policy_violations=outcome.violations,
                policy_severity=outcome.worst_severity,
                policy_caps=outcome.caps,
            )
            results.append(ScoredResponse(req, verdict, scores))
        self.scored += len(requests) - failed
        self.failures += failed
        if failed:
            first = next(r.error for r in results if r.error)
            log.warning("judge %s failed on %d of %d responses (first error: %s)", self.judge.name, failed, len(requests), first)
            if self.on_error == "raise":
                raise JudgeError(f"judge {self.judge.name} failed on {failed} of {len(requests)} responses: {first} (judge.on_error=raise)")
            if failed / len(requests) > self.max_error_rate:
                raise JudgeError(
                    f"judge {self.judge.name} failed on {failed} of {len(requests)} responses in one batch, "
                    f"above judge.max_error_rate={self.max_error_rate}: {first}"
                )
        return results
