"""One GRPO training run, in the current process (one rank of a multi-process run, or the only one).

Order matters: everything that can fail on user input (config, scenario files, judge settings,
policies) is checked before the model loads.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from argen.config import load_configured_scenarios, to_plain
from argen.config_schema import ModelConfig, TrainConfig, launched_world_size
from argen.data.atomic import write_atomic
from argen.data.dataset import build_dataset
from argen.data.jsonl import write_records
from argen.reporting.metrics import quarter_means, read_jsonl, series
from argen.reporting.tracking import setup_tracking
from argen.rewards.registry import build_reward_functions
from argen.runtime import is_main_process
from argen.scoring.build import scorer_from_settings
from argen.training.checkpoints import LatestPointerCallback, latest_checkpoint
from argen.training.preemption import PreemptionCallback, PreemptionGuard
from argen.training.resume import check_same_config, resolve_resume

log = logging.getLogger(__name__)


def save_resolved_config(cfg: DictConfig | dict[str, Any], run_dir: Path) -> Path:
    """Write the resolved config (no secrets: judges hold only the *name* of their key variable)."""
    path = run_dir / "config.yaml"
    # Write then rename: worker ranks read this file while rank 0 may be rewriting it.
    write_atomic(path, OmegaConf.to_yaml(OmegaConf.create(to_plain(cfg))))
    return path


def run_training(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Validate, train, save; return the run summary (also written to summary.json)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    # --- everything user-fixable was checked in the Hydra process (argen.training.validation);
    # reading the typed config is cheap, and what is built below checks itself again anyway.
    plain = to_plain(cfg)
    settings = TrainConfig.parse(cfg, launched_world_size())
    resumed = resolve_resume(settings.resume, run_dir)
    if resumed:
        run_dir, checkpoint = resumed  # keep training in the original run dir
        check_same_config(run_dir, plain, settings.resume_allow_changes)
    scenarios = load_configured_scenarios(settings.data, "train")
    scorer = scorer_from_settings(settings.judge, settings.rubric, settings.policy)
    scorer.judge.preflight()
    if settings.eval.at_end:
        from argen.evaluation.audit import preflight_audit_judge

        preflight_audit_judge(settings)  # eval.audit_judge: a wrong option or a dead server stops the run now
    # A reward that breaks TRL's contract stops the run; its return value or traceback goes to error.txt.
    reward_funcs, reward_weights = build_reward_functions(settings.reward, scorer, error_log=run_dir / "error.txt")
    eval_scenarios = None
    if settings.eval.any:
        eval_scenarios = load_configured_scenarios(settings.eval.scenarios, "eval")

    from argen.models import policy_init_kwargs, resolve_model, visible_gpus
    from argen.training.callbacks import bind_trainer, build_callbacks
    from argen.training.grpo_args import build_grpo_config

    if is_main_process():
        if resumed:
            truncate_metrics(run_dir / "metrics.jsonl", after_step=checkpoint_step(checkpoint))
        else:
            save_resolved_config(plain, run_dir)
    setup_tracking(settings.logging, run_dir, plain)
    model_path = resolve_model(dict(settings.model.node))
    args = build_grpo_config(settings, run_dir, reward_weights)
    # The process group is up now (TrainingArguments set it up): every rank must see one run dir.
    from argen.training.shared_run_dir import check_shared_run_dir

    check_shared_run_dir(run_dir)
    # Trained weights in float32, on the device the engine expects (argen.models.policy_init_kwargs).
    args.model_init_kwargs = policy_init_kwargs(settings.model, settings.hardware, visible_gpus=visible_gpus())

    from transformers import AutoTokenizer

    from argen.training.grpo_trainer import ArgenGRPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    from argen.training.prompt_length import check_training_prompts

    # Prompts in tokens against the model's positions: refused here, before the model loads.
    check_training_prompts(settings, model_path, tokenizer, scenarios, eval_scenarios, args.max_completion_length)
    peft_config = _peft_config(settings.model)
    train_dataset = build_dataset(scenarios, settings.data.system_prompt)
    if settings.grpo.use_vllm:
        from argen.training.grpo_args import longest_prompt_tokens, vllm_context_length

        # Checked before vLLM starts (it starts inside GRPOTrainer) and bounded to what the run needs.
        args.vllm_max_model_length = vllm_context_length(settings.grpo, longest_prompt_tokens(tokenizer, train_dataset))
    trainer = ArgenGRPOTrainer(
        model=model_path,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=build_callbacks(cfg, run_dir, settings=settings, scorer=scorer, tokenizer=tokenizer,
                                  eval_scenarios=eval_scenarios),
        merge_for_generation=settings.model.merge_for_generation,
        model_card=_card_writer(plain, run_dir, scorer),
    )
    bind_trainer(trainer)  # the beta schedule, adaptive weights and periodic evaluation act on the trainer
    guard = PreemptionGuard().install()
    trainer.add_callback(LatestPointerCallback(run_dir / "checkpoints"))
    trainer.add_callback(PreemptionCallback(guard))
    try:
        trainer.train(resume_from_checkpoint=str(checkpoint) if resumed else None)
    except BaseException:
        if guard.stopped_now is None:
            raise
        # A second signal: StopNow, or whatever it cut short (a peer rank left a collective).
    finally:
        guard.restore()
    if guard.received:
        latest = latest_checkpoint(run_dir / "checkpoints")
        summary = {"status": "interrupted", "signal": guard.name, "run_dir": str(run_dir),
                   "steps": trainer.state.global_step, "checkpoint": str(latest) if latest else None,
                   "stopped_at_once": guard.stopped_now is not None}
        if trainer.accelerator.is_main_process:
            (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        finish_tracking(summary)
        return summary

    final_dir = run_dir / "final_model"
    trainer.save_model(str(final_dir))
    summary: dict[str, Any] = {"status": "completed"}
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(str(final_dir))
        summary.update(summarise_run(cfg, run_dir, [getattr(f, "__name__", "reward") for f in reward_funcs], started))
        summary["model_path"] = model_path
        summary["final_model"] = str(final_dir)
        summary["world_size"] = trainer.accelerator.num_processes
        summary["judge"] = {"name": scorer.judge.name, **scorer.judge.stats(), "failures": scorer.failures,
                            "info": scorer.judge.info()}
        if "wandb" in sys.modules and sys.modules["wandb"].run is not None:
            summary["wandb_run_id"] = sys.modules["wandb"].run.id  # the end evaluation continues this run
        # The end-of-training evaluation is not run here: argen.launch starts it in a fresh process
        # once every training process has exited (argen.evaluation.end_of_training).
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    finish_tracking(summary)
    # The end evaluation runs next in another process, maybe on this GPU: hand back this one's memory.
    del trainer
    _free_gpu_memory()
    return summary


def _free_gpu_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def finish_tracking(summary: dict[str, Any]) -> None:
    """Close the wandb run (writes its config and summary files) with the run summary attached."""
    if "wandb" not in sys.modules:
        return
    import wandb

    if wandb.run is not None:
        quarters = summary.get("quarters", {})
        for key, q in quarters.items():
            wandb.run.summary[f"argen/{key}/first_quarter"] = q["first"]
            wandb.run.summary[f"argen/{key}/last_quarter"] = q["last"]
        wandb.finish()


def _card_writer(plain: dict[str, Any], run_dir: Path, scorer: Any):
    """``(steps, checkpoint) -> model card`` for every model this run saves (argen.reporting.model_card)."""
    from argen.reporting.model_card import card_for_run

    policies = tuple(getattr(scorer.policies, "names", ()) or ())
    return lambda steps, checkpoint: card_for_run(plain, run_dir, steps=steps, judge=scorer.judge.name,
                                                  policies=policies, checkpoint=checkpoint)


def _peft_config(model: ModelConfig):
    if not model.lora:
        return None
    from peft import LoraConfig

    lc = model.lora_config
    return LoraConfig(
        r=lc.r, lora_alpha=lc.alpha, lora_dropout=lc.dropout,
        target_modules=lc.target_modules if isinstance(lc.target_modules, str) else list(lc.target_modules),
        task_type="CAUSAL_LM",
    )


def checkpoint_step(checkpoint: Path) -> int:
    """The global step a checkpoint directory was saved at."""
    return int(json.loads((checkpoint / "trainer_state.json").read_text())["global_step"])


def truncate_metrics(path: Path, after_step: int) -> None:
    """Drop metrics logged after the checkpoint being resumed (they will be logged again)."""
    if not path.exists():
        return
    keep = [r for r in read_jsonl(path) if int(r.get("step", 0)) <= after_step]
    write_records(path, keep)


def summarise_run(cfg: DictConfig, run_dir: Path, reward_names: list[str], started: float) -> dict[str, Any]:
    """Reward curve PNG + first/last-quarter means of the total and per-principle rewards."""
    from argen.reporting.plots import plot_reward_curve

    rows = [r for r in read_jsonl(run_dir / "metrics.jsonl") if "reward" in r]
    plot = plot_reward_curve(run_dir / "metrics.jsonl", run_dir / "reward_curve.png", reward_names)
    summary: dict[str, Any] = {
        "run_dir": str(run_dir),
        "steps": max((r["step"] for r in rows), default=0),
        "wall_s": round(time.monotonic() - started, 1),
        "reward_curve": str(plot) if plot else None,
        "quarters": {},
    }
    for key in ["reward"] + [f"rewards/{n}/mean" for n in reward_names]:
        q = quarter_means(series(rows, key)[1])
        if q:
            summary["quarters"][key] = {"first": round(q[0], 4), "last": round(q[1], 4)}
    from argen.training.callbacks import watching_summary

    summary.update(watching_summary(run_dir / "metrics.jsonl"))  # resources, periodic eval, final reward weights
    return summary
