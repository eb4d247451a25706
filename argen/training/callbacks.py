"""Trainer callbacks: the run's metrics file, and the views and controls that watch a run learn.

- :class:`MetricsFileCallback`: every logged row, with step and wall time, to ``metrics.jsonl``.
- :class:`ResourceCallback`: seconds per step, tokens/s, RSS, GPU peak memory (``resources/*``).
- :class:`BetaScheduleCallback`: sets ``trainer.beta`` from ``grpo.beta_schedule``; logs ``beta``.
- :class:`AdaptiveWeightsCallback`: moves ``trainer.reward_weights`` towards lagging principles;
  logs ``reward_weight/<name>``.
- :class:`PeriodicEvalCallback`: ``eval/<principle>`` and ``eval/combined`` every N steps.
- :class:`CompletionsLogCallback`: a sample of completions with their verdicts to ``completions.jsonl``.
- :class:`ExactLoraMergeCallback`: a LoRA policy's merges (TRL's vLLM weight sync) leave its frozen
  base bit-identical.
- :class:`~argen.training.gaming_monitor.GamingMonitorCallback`: the share of completions ending in
  generic tails (``gaming/*``), every step.

Callbacks that change or read the trainer itself (beta, reward weights, the model to evaluate)
are handed it by :func:`bind_trainer` right after the trainer is built. Their scalar metrics go
into the trainer's own metric buffer, so TRL averages them over the logging window and they
reach ``metrics.jsonl`` and the trackers in the same row as the rewards.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from argen.data.jsonl import append_record as append_jsonl
from argen.data.jsonl import read_records as read_jsonl
from argen.runtime import is_main_process
from argen.training.policy_model import generation_model, on_loop, uses_adapters_as_reference

log = logging.getLogger(__name__)


class TrainerMetrics:
    """Scalar metrics for the trainer's next logged row.

    With a GRPOTrainer bound, values join TRL's metric buffer (``trainer._metrics['train']``),
    which TRL averages over the logging window and clears at each log, exactly like its own
    metrics. Without one, values wait here and :class:`MetricsFileCallback` writes them.
    """

    def __init__(self) -> None:
        self.trainer: Any = None
        self._pending: dict[str, list[float]] = defaultdict(list)

    def add(self, key: str, value: float) -> None:
        value = float(value)
        store = getattr(self.trainer, "_metrics", None)
        if isinstance(store, dict) and "train" in store:
            store["train"][key].append(value)
        else:
            self._pending[key].append(value)

    def pop_pending(self) -> dict[str, float]:
        """Means of the values added since the last call (no trainer buffer in use)."""
        out = {}
        for key, values in self._pending.items():
            finite = [v for v in values if math.isfinite(v)]
            out[key] = sum(finite) / len(finite) if finite else None
        self._pending.clear()
        return out


class TrainerAwareCallback(TrainerCallback):
    """A callback that needs the trainer; :func:`bind_trainer` hands it over."""

    trainer: Any = None

    def bind(self, trainer: Any) -> None:
        self.trainer = trainer

    def _need_trainer(self) -> Any:
        if self.trainer is None:
            raise RuntimeError(
                f"{type(self).__name__} needs the trainer: call argen.training.callbacks.bind_trainer(trainer) after building it"
            )
        return self.trainer


class MetricsFileCallback(TrainerCallback):
    """Append every logged dict, with step and wall time, to ``metrics.jsonl`` in the run dir."""

    def __init__(self, path: Path, metrics: TrainerMetrics | None = None):
        self.path = Path(path)
        self.metrics = metrics
        self._start = time.monotonic()

    def on_log(self, args, state, control, logs: dict[str, Any] | None = None, **kwargs):
        extra = self.metrics.pop_pending() if self.metrics is not None else {}
        if logs and state.is_world_process_zero:
            record = {"step": state.global_step, "epoch": state.epoch, "wall_s": round(time.monotonic() - self._start, 3)}
            record.update(extra)
            record.update(logs)
            append_jsonl(self.path, record)


class ResourceCallback(TrainerCallback):
    """``resources/*`` figures in every logged row (see :mod:`argen.training.resources`)."""

    def __init__(self, metrics: TrainerMetrics, also_log_at: Callable[[int, int], bool] | None = None):
        from argen.training.resources import ResourceMeter

        self.metrics = metrics
        self.meter = ResourceMeter()
        # Steps that will be logged although the logging interval does not say so (periodic evaluation).
        self.also_log_at = also_log_at

    def on_train_begin(self, args, state, control, **kwargs):
        try:
            import torch

            if torch.cuda.is_available() and torch.cuda.is_initialized():
                torch.cuda.reset_peak_memory_stats()
        except ImportError:
            pass

    def on_step_begin(self, args, state, control, **kwargs):
        self.meter.step_begin(state.num_input_tokens_seen)

    def on_step_end(self, args, state, control, **kwargs):
        self.meter.step_end(state.num_input_tokens_seen)
        extra = self.also_log_at is not None and self.also_log_at(state.global_step, state.max_steps)
        if control.should_log or extra:
            for key, value in self.meter.flush().items():
                self.metrics.add(key, value)


class BetaScheduleCallback(TrainerAwareCallback):
    """Sets ``trainer.beta`` before each optimizer step and logs it as ``beta``.

    TRL reads ``self.beta`` when it computes reference log-probs (generation) and the KL term
    (loss), so setting it before the step's generation applies it to that whole step.
    """

    def __init__(self, schedule, metrics: TrainerMetrics):
        self.schedule = schedule
        self.metrics = metrics

    def on_train_begin(self, args, state, control, **kwargs):
        trainer = self._need_trainer()
        # A LoRA policy is its own reference (adapters off); under FSDP trainer.model is the wrapper.
        if self.schedule.start > 0 and getattr(trainer, "ref_model", None) is None and not uses_adapters_as_reference(trainer):
            raise RuntimeError("beta schedule starts above 0 but the trainer has no reference model (was GRPOConfig.beta 0?)")

    def on_step_begin(self, args, state, control, **kwargs):
        self._need_trainer().beta = self.schedule.at_step(state.global_step, state.max_steps)

    def on_step_end(self, args, state, control, **kwargs):
        self.metrics.add("beta", self._need_trainer().beta)


class AdaptiveWeightsCallback(TrainerAwareCallback):
    """ArGen's adaptive reward weights, applied to TRL's ``trainer.reward_weights`` tensor in place.

    Each logged row's ``rewards/<name>/mean`` feeds the controller; the new weights are in force
    from the next generation on. The row of every step carries the weights that step used as
    ``reward_weight/<name>``. The rewards in a row are gathered over all processes, so every
    process computes the same weights.
    """

    def __init__(self, settings: dict[str, Any], metrics: TrainerMetrics, metrics_path: Path | None = None):
        self.settings = dict(settings)
        self.metrics = metrics
        self.metrics_path = metrics_path
        self.controller = None
        self.names: list[str] = []

    def on_train_begin(self, args, state, control, **kwargs):
        from argen.training.adaptive_weights import AdaptiveWeights

        trainer = self._need_trainer()
        self.names = list(trainer.reward_func_names)
        weights = [float(w) for w in trainer.reward_weights.tolist()]
        self.controller = AdaptiveWeights(self.names, weights, **self.settings)
        if state.global_step > 0 and self.metrics_path is not None:
            # A resumed run: the controller is deterministic, so replaying the rewards logged up to
            # the checkpoint rebuilds its exact state (running windows and weights).
            for row in read_jsonl(self.metrics_path):
                if row.get("step", 0) <= state.global_step:
                    self._observe(row)
            self._apply()

    def on_step_end(self, args, state, control, **kwargs):
        trainer = self._need_trainer()
        for name, weight in zip(self.names, trainer.reward_weights.tolist()):
            self.metrics.add(f"reward_weight/{name}", weight)

    def on_log(self, args, state, control, logs: dict[str, Any] | None = None, **kwargs):
        if not logs or self.controller is None:
            return
        if self._observe(logs):
            self._apply()

    def _observe(self, row: dict[str, Any]) -> bool:
        means = {n: row.get(f"rewards/{n}/mean") for n in self.names}
        if all(v is None for v in means.values()):
            return False  # not a training row (e.g. the end-of-training summary)
        self.controller.observe(means)
        return True

    def _apply(self) -> None:
        import torch

        weights = self.trainer.reward_weights
        # In place: TRL keeps this tensor and moves a copy to the device at each use.
        weights.copy_(torch.tensor(self.controller.weights, dtype=weights.dtype))


class PeriodicEvalCallback(TrainerAwareCallback):
    """Evaluate the policy every ``every`` steps, before the first step and at the last one."""

    def __init__(self, evaluator, every: int, metrics: TrainerMetrics, records_path: Path | None = None, recorder=None,
                 monitor=None):
        self.evaluator = evaluator
        self.every = every
        self.metrics = metrics
        self.records_path = records_path
        self.recorder = recorder
        self.monitor = monitor  # the gaming monitor: evaluation answers are not training completions

    def due(self, step: int, max_steps: int) -> bool:
        """Whether the step that just ended is evaluated."""
        return self.every > 0 and step > 0 and (step % self.every == 0 or step == max_steps)

    def on_train_begin(self, args, state, control, **kwargs):
        if state.global_step != 0:
            return  # resumed: the baseline was evaluated by the first session
        metrics = self._evaluate(state, kwargs.get("model"))
        from transformers import Trainer

        # A row of its own at step 0, written through the base Trainer.log (TRL's would flush its buffer).
        Trainer.log(self._need_trainer(), dict(metrics))

    def on_step_end(self, args, state, control, **kwargs):
        if not self.due(state.global_step, state.max_steps):
            return
        for key, value in self._evaluate(state, kwargs.get("model")).items():
            self.metrics.add(key, value)
        control.should_log = True  # the evaluation lands in this step's row

    def _evaluate(self, state, fallback_model) -> dict[str, float]:
        trainer = self._need_trainer()
        pause = contextlib.ExitStack()
        for listener in (self.recorder, self.monitor):
            if listener is not None:
                pause.enter_context(listener.paused())
        accelerator = trainer.accelerator
        # Merged as the trainer merges its rollouts (argen.training.grpo_trainer): the same policy, the same cost.
        merge = bool(getattr(trainer, "merge_for_generation", False))
        with pause, generation_model(trainer, fallback_model, merge=merge) as (model, lockstep):
            gather = None
            if accelerator.num_processes > 1:
                from accelerate.utils import gather_object

                gather = gather_object
            run_async = on_loop(getattr(trainer, "async_loop", None))
            metrics, records = self.evaluator.evaluate(
                model, state.global_step,
                shard=(accelerator.process_index, accelerator.num_processes), run_async=run_async, gather=gather,
                lockstep=lockstep,
            )
        if self.records_path is not None and state.is_world_process_zero:
            for row in records:
                append_jsonl(self.records_path, row)
        shown = metrics.get("eval/combined")
        # debug: the console line of the step shows it (argen.training.console)
        log.debug("periodic evaluation at step %d: eval/combined %s", state.global_step, f"{shown:.3f}" if shown is not None else "n/a")
        return metrics


class ExactLoraMergeCallback(TrainerAwareCallback):
    """A LoRA policy merges its adapters exactly and restores its frozen base bit for bit.

    TRL's vLLM weight sync calls the policy's ``merge_adapter()`` / ``unmerge_adapter()`` around
    every sync; PEFT's own pair drifts a bf16 base a little more each time (TRL issue 6688).
    Installed before the first step, on the unwrapped policy (:mod:`argen.training.lora_merge`).
    """

    def on_train_begin(self, args, state, control, **kwargs):
        from argen.training.lora_merge import use_exact_merge
        from argen.training.policy_model import is_peft, unwrapped_policy

        policy = unwrapped_policy(self._need_trainer())
        if is_peft(policy):
            use_exact_merge(policy)


class CompletionsLogCallback(TrainerCallback):
    """Every ``every`` steps (and at the last), a sample of the latest batch with verdicts, on rank 0."""

    def __init__(self, recorder, every: int, sample: int, path: Path, seed: int = 0, wandb_table: bool = False):
        self.recorder = recorder
        self.every = every
        self.sample = sample
        self.path = Path(path)
        self.seed = seed
        self.wandb_table = wandb_table
        self._latest: list = []

    def on_step_end(self, args, state, control, **kwargs):
        fresh = self.recorder.take()
        if fresh:  # steps that reuse a generation batch score nothing new
            self._latest = fresh
        step = state.global_step
        if not (step % self.every == 0 or step == state.max_steps) or not self._latest:
            return
        if state.is_world_process_zero:
            from argen.training.completions_log import completion_rows, log_wandb_table, write_rows

            rows = completion_rows(self._latest, step, self.sample, self.seed)
            write_rows(self.path, rows)
            if self.wandb_table:
                log_wandb_table(rows, step)

    def on_train_end(self, args, state, control, **kwargs):
        self.recorder.detach()  # the end-of-training evaluation scores through the same scorer


def bind_trainer(trainer: Any) -> None:
    """Hand the trainer to the callbacks that need it (call once, right after building the trainer),
    and put the compact console line in place of transformers' printed dict."""
    from argen.training.console import use_compact_console

    use_compact_console(trainer)
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TrainerAwareCallback):
            callback.bind(trainer)
    for callback in trainer.callback_handler.callbacks:
        metrics = getattr(callback, "metrics", None)
        if isinstance(metrics, TrainerMetrics):
            metrics.trainer = trainer


def build_callbacks(cfg, run_dir: Path, *, settings: Any = None, **context: Any) -> list[TrainerCallback]:
    """The callbacks a run uses.

    ``settings``: the run's typed config (:class:`argen.config_schema.TrainConfig`; parsed from
    ``cfg`` when not given). ``context`` carries what some of them need: ``scorer`` (the training
    scorer: periodic evaluation and the completions log read through it), ``tokenizer`` and
    ``eval_scenarios``. Call :func:`bind_trainer` once the trainer exists.
    """
    from argen.config_schema import TrainConfig
    from argen.training.beta_schedule import BetaSchedule

    if settings is None:
        settings = TrainConfig.parse(cfg)
    run_dir = Path(run_dir)
    metrics = TrainerMetrics()
    scorer = context.get("scorer")
    callbacks: list[TrainerCallback] = []

    recorder = None
    completions = settings.completions
    if scorer is not None and completions.every_n_steps > 0 and is_main_process():
        from argen.training.completions_log import CompletionRecorder

        recorder = CompletionRecorder()
        recorder.attach(scorer)

    # The gaming monitor: the share of training completions ending in generic tails, every step
    # (argen.training.gaming_monitor). Reading text only, it costs about 0.2 ms a completion.
    monitor = None
    if scorer is not None and is_main_process():
        from argen.training.gaming_monitor import GamingMonitor

        monitor = GamingMonitor()
        monitor.attach(scorer)

    periodic = None
    ev = settings.eval
    if ev.every_n_steps > 0:
        scenarios = context.get("eval_scenarios")
        tokenizer = context.get("tokenizer")
        if scorer is None or tokenizer is None or not scenarios:
            raise ValueError("eval.every_n_steps needs scorer, tokenizer and eval_scenarios in the callback context")
        from argen.training.periodic_eval import PeriodicEvaluator

        from argen.evaluation.generation import settings_from_config

        limit = ev.periodic_limit or ev.limit
        gen = settings_from_config(cfg)  # exactly the end-of-training evaluation's settings
        evaluator = PeriodicEvaluator(
            scorer, tokenizer, list(scenarios)[: int(limit)] if limit else list(scenarios),
            system_prompt=gen.system_prompt, max_new_tokens=gen.max_new_tokens, temperature=gen.temperature,
            batch_size=gen.batch_size, seed=gen.seed,
        )
        periodic = PeriodicEvalCallback(evaluator, ev.every_n_steps, metrics, run_dir / "periodic_eval.jsonl", recorder,
                                        monitor=monitor)

    # Order matters within one event: the step clock stops before evaluation starts.
    callbacks.append(ResourceCallback(metrics, also_log_at=periodic.due if periodic is not None else None))
    callbacks.append(BetaScheduleCallback(BetaSchedule.from_grpo(settings.grpo), metrics))
    if settings.model.lora:
        callbacks.append(ExactLoraMergeCallback())
    if settings.reward.adaptive:
        from argen.training.adaptive_weights import adapt_settings

        callbacks.append(AdaptiveWeightsCallback(adapt_settings(settings.reward), metrics, run_dir / "metrics.jsonl"))
    if recorder is not None:
        callbacks.append(CompletionsLogCallback(
            recorder, completions.every_n_steps, completions.sample,
            run_dir / "completions.jsonl", seed=settings.seed, wandb_table=settings.logging.backend == "wandb",
        ))
    if monitor is not None:
        from argen.training.gaming_monitor import GamingMonitorCallback

        callbacks.append(GamingMonitorCallback(monitor, metrics))
    if periodic is not None:
        callbacks.append(periodic)
    callbacks.append(MetricsFileCallback(run_dir / "metrics.jsonl", metrics))
    return callbacks


def watching_summary(metrics_path: Path) -> dict[str, Any]:
    """Summary entries from metrics.jsonl: ``resources`` always; ``periodic_eval`` (eval/* at the
    first and last evaluation), ``reward_weights`` (the last weights in force) and
    ``gaming_monitor`` (generic tails: trend tests, flagged when rising) when logged."""
    from argen.training.resources import summarise_resources

    rows = read_jsonl(metrics_path)
    out: dict[str, Any] = {"resources": summarise_resources(metrics_path)}
    evals = [r for r in rows if isinstance(r.get("eval/combined"), (int, float))]
    if evals:
        keys = sorted(k for k in evals[-1] if k.startswith("eval/") and k != "eval/seconds")
        out["periodic_eval"] = {
            "evaluations": len(evals),
            "first": {"step": evals[0]["step"], **{k: evals[0].get(k) for k in keys}},
            "last": {"step": evals[-1]["step"], **{k: evals[-1].get(k) for k in keys}},
        }
        from argen.training.learning_trend import periodic_trend

        out["periodic_eval"]["trend"] = periodic_trend(metrics_path.parent / "periodic_eval.jsonl")
    weighted = [r for r in rows if any(k.startswith("reward_weight/") for k in r)]
    if weighted:
        out["reward_weights"] = {k.split("/", 1)[1]: v for k, v in weighted[-1].items() if k.startswith("reward_weight/")}
    from argen.training.gaming_monitor import gaming_summary

    gaming = gaming_summary(metrics_path.parent)
    if gaming is not None:
        out["gaming_monitor"] = gaming
    return out
