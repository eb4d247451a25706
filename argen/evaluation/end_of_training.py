"""Evaluate the base and the trained model when training ends, and compare them.

Runs when ``cfg.eval.at_end`` is true, in a fresh process of its own (``python -m argen.worker
--after-training``) started by :mod:`argen.launch` once every training process has exited, so no
DeepSpeed, FSDP or process-group state from training can reach the models loaded here. Every
path takes this one route, a single CPU process included. :func:`evaluate_finished_run` is that
process's entry: it reads the run's ``summary.json``, evaluates and writes the result back.

It scores with the training configuration's judge and policies (a persistent judge cache, where
configured, keeps a response seen during training from being judged twice); only when training
used a rubric ablation is a full rubric put in front of the same judge, because evaluation always
reports ArGen's evaluation formula.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from argen.data.atomic import write_atomic
from argen.data.scenarios import Scenario
from argen.evaluation.compare import COMPARE_MD, COMPARE_PLOTS, compare_runs
from argen.evaluation.generation import settings_from_config
from argen.evaluation.harness import PLOTS, RESPONSES, evaluate_model
from argen.evaluation.summary import SCORE_KEYS
from argen.reporting.metrics import read_jsonl
from argen.scoring.pipeline import Scorer
from argen.types import PRINCIPLES

log = logging.getLogger(__name__)


def evaluation_scorer(cfg, scorer: Scorer) -> Scorer:
    """The training scorer, or the same judge and policies with the full rubric after an ablation."""
    if scorer.rubric.mode == "full":
        return scorer
    from argen.scoring.build import build_rubric

    log.info("training used rubric mode %s; evaluating with the full rubric", scorer.rubric.mode)
    return Scorer(scorer.judge, build_rubric(cfg, "full"), scorer.policies,
                  on_error=scorer.on_error, max_error_rate=scorer.max_error_rate)


def evaluate_base_and_trained(
    cfg,
    run_dir: str | Path,
    base_model_path: str | Path,
    trained_model_path: str | Path,
    scorer: Scorer,
    eval_scenarios: Sequence[Scenario] | None,
) -> dict[str, Any]:
    """Evaluate both models into ``run_dir/eval/{base,trained}``, compare them into
    ``run_dir/eval/compare.md``; return both models' means and violation rates, the deltas and
    a one-line ``headline`` for the run's final summary line.

    Training has finished and its model is saved by the time this runs, so a failure here (a
    judge outage, say) must not cost the run its summary: it is logged and returned as
    ``error`` with a headline saying how to evaluate again.
    """
    try:
        return _evaluate_base_and_trained(cfg, Path(run_dir), base_model_path, trained_model_path, scorer, eval_scenarios)
    except Exception as exc:  # noqa: BLE001 - reported in the result and the log, with traceback
        log.exception("end-of-training evaluation failed")
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return {
            "dir": str(Path(run_dir) / "eval"),
            "error": f"{type(exc).__name__}: {message}",
            "headline": f"eval failed ({message}); redo it with: {redo_command(run_dir)}",
        }


def _evaluate_base_and_trained(cfg, run_dir: Path, base_model_path, trained_model_path, scorer: Scorer,
                               eval_scenarios: Sequence[Scenario] | None) -> dict[str, Any]:
    from argen.config import load_configured_scenarios, scenario_path

    eval_dir = run_dir / "eval"
    ev = cfg.eval
    eval_data = {"path": ev.get("path"), "limit": ev.get("limit")}
    scenarios = list(eval_scenarios) if eval_scenarios is not None else load_configured_scenarios(eval_data, "eval")
    settings = settings_from_config(cfg)  # the same settings as the periodic evaluation
    scorer = evaluation_scorer(cfg, scorer)
    from argen.evaluation.audit import build_audit_scorer

    from argen.config_schema import RubricConfig
    from argen.config_schema.audit import audit_judge_config

    rubric = RubricConfig.parse(cfg["rubric"])
    audit = build_audit_scorer(audit_judge_config(ev.get("audit_judge"), ev.get("audit_judge_overrides"), rubric,
                                                  key="eval.audit_judge"), rubric, main=scorer)
    data_path = scenario_path(eval_data, "eval")
    dtype = str(cfg.model.get("dtype", "float32"))
    log.info("evaluating base and trained models on %d scenarios into %s", len(scenarios), eval_dir)
    summaries = {}
    try:
        for label, path in (("base", base_model_path), ("trained", trained_model_path)):
            summaries[label] = evaluate_model(path, scenarios, scorer, eval_dir / label, settings, dtype=dtype,
                                              label=label, data_path=data_path, audit=audit)
    finally:
        if audit is not None:
            audit.close()
    comparison = compare_runs([eval_dir / "base", eval_dir / "trained"], eval_dir, labels=["base", "trained"])
    base, trained = summaries["base"], summaries["trained"]
    rate_keys = (*PRINCIPLES, "any")
    result: dict[str, Any] = {
        "dir": str(eval_dir),
        "report": str(eval_dir / COMPARE_MD),
        "scenarios": len(scenarios),
        "base": dict(base["means"]),
        "trained": dict(trained["means"]),
        "delta": dict(comparison["deltas"]["trained"]["means"]),
        "violation_rates": {"base": dict(base["violation_rates"]), "trained": dict(trained["violation_rates"])},
        "violation_rate_delta": {k: comparison["deltas"]["trained"]["violation_rates"][k] for k in rate_keys},
        "unscored": {"base": base["unscored"], "trained": trained["unscored"]},
        "looping": {"base": base.get("looping"), "trained": trained.get("looping")},
        "paired": {k: comparison["paired"]["trained"][k] for k in ("pairs", "better", "worse", "unchanged")},
        # Paired tests (mean difference, 95% CI, Wilcoxon p, n) overall, per principle, tier and scope.
        "stats": comparison["stats"]["trained"],
        "headline": comparison["headlines"]["trained"],
        "warnings": comparison["warnings"],
    }
    if audit is not None:
        from argen.evaluation.audit import lift_headline

        # compare_runs computed the lift under both judges (compare.md, audit.md, audit.json).
        result["audit"] = comparison["audit"].get("trained") or None
        if result["audit"]:
            result["headline"] += "; " + lift_headline(result["audit"])
    if cfg.logging.get("backend") == "wandb":
        from argen.evaluation.tracking import log_evaluation

        delta = {f"eval/delta/{k}": v for k, v in result["delta"].items() if v is not None and k in SCORE_KEYS}
        for label in ("base", "trained"):
            rows = read_jsonl(eval_dir / label / RESPONSES)
            images = [eval_dir / label / name for name in PLOTS]
            if label == "trained":
                images += [eval_dir / name for name in COMPARE_PLOTS]
            log_evaluation(f"eval/{label}", summaries[label], rows, extra=delta if label == "trained" else None,
                           images=images)
    return result


SUMMARY = "summary.json"


def evaluate_finished_run(cfg, result_dir: str | Path) -> dict[str, Any]:
    """Evaluate a finished run (its ``summary.json`` names the base and the trained model) and write
    the result into that summary as ``evaluation``; return the updated summary.

    Each step after training is one entry of ``steps`` below, so another one (another judge's
    audit, say) is one more line there.
    """
    from argen.evaluation.final_card import write_final_card
    from argen.scoring.build import build_scorer

    result_dir = Path(result_dir)
    path = result_dir / SUMMARY
    summary = json.loads(path.read_text())
    tracking = _resume_tracking(cfg, result_dir, summary)
    try:
        scorer = build_scorer(cfg)
        steps = {
            "evaluation": lambda: evaluate_base_and_trained(
                cfg, result_dir, summary["model_path"], summary["final_model"], scorer, None),
            # final_model/README.md with the evaluation's table (argen.evaluation.final_card)
            "model_card": lambda: write_final_card(cfg, result_dir, summary, tuple(getattr(scorer.policies, "names", ()) or ())),
        }
        for key, step in steps.items():
            summary[key] = step()
            _write_summary(path, summary)  # a later step's failure cannot cost this one's result
    finally:
        if tracking is not None:
            tracking.finish()
    return summary


def _write_summary(path: Path, summary: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(summary, indent=2, default=str))


def _resume_tracking(cfg, result_dir: Path, summary: dict[str, Any]):
    """Continue the training's wandb run (its id is in the summary), so the evaluation lands in it."""
    run_id = summary.get("wandb_run_id")
    if cfg.logging.get("backend") != "wandb" or not run_id:
        return None
    import wandb

    from argen.reporting.tracking import wandb_mode

    mode = wandb_mode(cfg.logging)  # the rule training used
    return wandb.init(id=run_id, resume="allow", project=str(cfg.logging.get("project", "argen")),
                      entity=cfg.logging.get("entity"), dir=str(result_dir), mode=mode)


# ---------------------------------------------------------------- redoing a failed end evaluation
REDO_KEY = "end_of_training"


def redo_command(result_dir: str | Path) -> str:
    """The command that redoes a run's end-of-training evaluation exactly (:func:`redo_end_of_training`)."""
    return f"python -m argen.evaluate {REDO_KEY}={result_dir}"


def redo_end_of_training(result_dir: str | Path) -> dict[str, Any]:
    """``python -m argen.evaluate end_of_training=RUN_DIR``: evaluate a finished training run's base
    and trained models again, with the run's own saved settings (``worker_config.yaml``, the file the
    process after training read: scenarios, their number, tokens, temperature, batch size, seeds,
    judge, audit judge), into its ``eval/``, and write the result into its ``summary.json``.

    Rows already in ``eval/`` are kept (generation is seeded per batch, so they are what a fresh
    run would write); everything else is answered and judged. Returns the updated summary; its
    ``evaluation`` holds ``error`` when this attempt failed too.
    """
    from omegaconf import OmegaConf

    from argen.errors import ConfigError
    from argen.scoring.build import build_scorer

    run = Path(result_dir)
    if not run.is_dir():
        raise ConfigError(REDO_KEY, f"{run} is not a training run dir" + (" (it does not exist)" if not run.exists() else ""))
    path = run / SUMMARY
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(REDO_KEY, f"{path} cannot be read ({exc}): not a finished training run dir") from None
    if summary.get("status") != "completed" or not summary.get("model_path") or not summary.get("final_model"):
        raise ConfigError(REDO_KEY, f"{run}: training did not complete (status {summary.get('status')!r}); "
                          f"resume it first: python -m argen.train resume={run}")
    config = next((run / name for name in ("worker_config.yaml", "config.yaml") if (run / name).is_file()), None)
    if config is None:
        raise ConfigError(REDO_KEY, f"{run} has neither worker_config.yaml nor config.yaml: not an ArGen run dir")
    cfg = OmegaConf.load(config)
    scorer = build_scorer(cfg)
    try:
        scorer.judge.preflight()  # a judge that is still down: one line now, before two models load
    finally:
        scorer.close()
    log.info("redoing the end-of-training evaluation of %s with the settings in %s", run, config)
    return evaluate_finished_run(cfg, run)
