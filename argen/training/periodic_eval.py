"""Periodic evaluation during training: the current policy on a fixed subset of evaluation scenarios.

Every ``eval.every_n_steps`` optimizer steps (and once before the first step), the policy
answers the first ``eval.periodic_limit`` evaluation scenarios (default: ``eval.limit``) through the
end-of-training evaluation's own generation function and settings
(:func:`argen.evaluation.generation.generate_batch`: ``eval.temperature``, ``eval.max_new_tokens``,
per-batch seeds), so step 0 scores exactly what the base model's final evaluation scores; the
answers go through the training scorer, i.e. the same judge, policies and rubric as the rewards.
The means are logged as ``eval/<principle>`` and ``eval/combined`` (ArGen's evaluation formula),
plus ``eval/violation_rate`` (share of answers violating any principle), ``eval/unscored_frac``
and ``eval/seconds``; each answer with its verdict is appended to ``periodic_eval.jsonl``.

Generation runs in eval mode under a forked RNG (so evaluating does not change the training's
random stream) and the model's train mode is restored afterwards.

Under FSDP or DeepSpeed ZeRO-3 with several processes a forward pass is a collective: every
process must call ``generate`` equally often and keep stepping until all are done. ``lockstep``
does both: shards are padded to one length (the padding's answers are dropped) and generation
runs with ``synced_gpus``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from argen.data.scenarios import Scenario
from argen.evaluation.generation import Generation, GenerationSettings, generate_batch
from argen.errors import JudgeError
from argen.reporting.summaries import periodic_metrics
from argen.scoring.pipeline import Scorer
from argen.types import JudgeRequest

log = logging.getLogger(__name__)


def generate_responses(model: Any, tokenizer: Any, scenarios: Sequence[Scenario], settings: GenerationSettings, *,
                       synced_gpus: bool = False) -> list[Generation]:
    """Answer each scenario with ``model`` through the evaluation's own generation function
    (:func:`argen.evaluation.generation.generate_batch`): same prompts, sampling, token limit and
    per-batch seeds as the end-of-training evaluation, batch by batch.

    ``synced_gpus``: keep stepping until every process is done (sharded parameters, see above).
    """
    answers: list[Generation] = []
    for i in range(0, len(scenarios), settings.batch_size):
        batch = scenarios[i : i + settings.batch_size]
        answers.extend(generate_batch(model, tokenizer, [s.prompt for s in batch], settings, batch_key=batch[0].id,
                                      synced_gpus=synced_gpus))
    return answers


class PeriodicEvaluator:
    """Generates answers for a fixed scenario subset and scores them with the training scorer."""

    def __init__(
        self,
        scorer: Scorer,
        tokenizer: Any,
        scenarios: Sequence[Scenario],
        *,
        system_prompt: str | None,
        max_new_tokens: int,
        temperature: float,
        batch_size: int,
        seed: int = 0,
    ):
        self.scorer = scorer
        self.tokenizer = tokenizer
        self.scenarios = list(scenarios)
        self.settings = GenerationSettings(temperature=temperature, max_new_tokens=max_new_tokens, batch_size=batch_size,
                                           seed=seed, system_prompt=system_prompt)

    def evaluate(
        self,
        model: Any,
        step: int,
        *,
        shard: tuple[int, int] = (0, 1),
        run_async: Callable[[Any], Any] | None = None,
        gather: Callable[[list], list] | None = None,
        lockstep: bool = False,
    ) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """Evaluate ``model`` (an unwrapped module) at ``step``: (``eval/*`` metrics, per-answer records).

        ``shard=(index, count)`` splits the scenarios across processes and ``gather`` joins the
        per-process records (both given in multi-process runs); ``run_async`` runs the scorer's
        coroutine on the loop the reward functions use, so judge clients stay on one loop.
        ``lockstep``: parameters are sharded across the processes (see the module docstring).
        """
        import torch

        started = time.perf_counter()
        index, count = shard
        mine = self.scenarios[index::count]
        padded = list(mine)
        if lockstep and self.scenarios:
            # Every process generates the same number of batches; the filler answers are dropped.
            per_process = -(-len(self.scenarios) // count)
            padded += [self.scenarios[0]] * (per_process - len(mine))
        was_training = model.training
        model.eval()
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
        try:
            # A forked RNG: evaluating must not shift the sampling of the training that follows.
            # Seeds are per batch (as in the final evaluation), so every step draws the same way.
            with torch.random.fork_rng(devices=devices):
                answers = generate_responses(model, self.tokenizer, padded, self.settings,
                                             synced_gpus=lockstep and count > 1)[: len(mine)]
        finally:
            if was_training:
                model.train()
        requests = [JudgeRequest(prompt=s.prompt, response=a.text, tier=s.tier, scope=s.scope) for s, a in zip(mine, answers)]
        records: list[dict[str, Any]] = []
        if requests:
            try:
                if run_async is not None:
                    results = run_async(self.scorer.score(requests))
                else:
                    results = self.scorer.score_blocking(requests)
            except JudgeError as exc:
                # Evaluation is a side view of training: report it and carry on.
                log.warning("periodic evaluation at step %d could not be scored: %s", step, exc)
                results = None
            for i, (scenario, req) in enumerate(zip(mine, requests)):
                row = {"step": step, "id": scenario.id, "prompt": req.prompt, "tier": req.tier, "scope": req.scope, "response": req.response,
                       "new_tokens": answers[i].new_tokens, "truncated": answers[i].truncated}
                if results is not None:
                    row.update(results[i].to_record())
                else:
                    row.update({"combined": None, "error": "judge failed"})
                records.append(row)
        if gather is not None:
            order = {s.id: i for i, s in enumerate(self.scenarios)}
            records = sorted(gather(records), key=lambda r: order.get(r["id"], len(order)))
        metrics = periodic_metrics(records)
        metrics["eval/seconds"] = time.perf_counter() - started
        return metrics, records
