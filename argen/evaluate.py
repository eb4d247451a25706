"""Entry point: ``python -m argen.evaluate [group=option ...] [key=value ...]``.

Evaluates one model (``model=...``, optionally ``checkpoint=PATH``) on a scenario file, or,
with ``compare=[RUN_DIR_A,RUN_DIR_B]``, compares finished evaluation run dirs without a model
or a judge. Everything a user can get wrong (settings, scenario file, checkpoint, judge) is
checked before a model loads. See docs/evaluation.md.
"""

from __future__ import annotations

from argen.runtime import quiet_openmp

quiet_openmp()  # before torch loads

import logging  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from argen.config import CONF_DIR  # noqa: E402
from argen.errors import ConfigError, user_errors  # noqa: E402

if TYPE_CHECKING:
    from argen.config_schema import EvaluateConfig

log = logging.getLogger("argen.evaluate")


def check_settings(cfg: DictConfig) -> "EvaluateConfig":
    """Every key of the evaluate root by type and range (:class:`~argen.config_schema.EvaluateConfig`),
    and no API key written into the config; the first thing both modes do, before anything loads."""
    from argen.config import to_plain
    from argen.config_schema import EvaluateConfig
    from argen.judges.redaction import refuse_key_shaped_values

    # First: a key in a config file (under any key, known or not) never reaches the run's files.
    refuse_key_shaped_values({k: to_plain(cfg[k]) for k in cfg if k != "hydra"})
    return EvaluateConfig.parse(cfg)


def resolve_checkpoint(value: Any) -> Path:
    """``checkpoint=PATH``: a saved model dir, or a training run dir whose ``final_model/`` is used."""
    from argen.errors import ArgenError
    from argen.evaluation.generation import check_checkpoint

    path = Path(str(value))
    if (path / "final_model").is_dir() and not (path / "config.json").is_file():
        path = path / "final_model"
    try:
        return check_checkpoint(path)
    except ArgenError as exc:
        raise ConfigError("checkpoint", str(exc)) from None


def check_run_outputs(run_dir: Path, inputs: dict[str, Any]) -> None:
    """No input (the scenario file, the checkpoint) is a file this evaluation writes."""
    from argen.data.outputs import check_inputs_untouched
    from argen.evaluation.harness import META, PLOTS, REPORT, RESPONSES, SUMMARY

    names = (RESPONSES, SUMMARY, REPORT, META, *PLOTS, "evaluate.log")
    outputs = {f"the run dir's {name}": run_dir / name for name in names}
    check_inputs_untouched({**outputs, "the run dir's .hydra/": run_dir / ".hydra"}, inputs, key="hydra.run.dir")


def default_label(cfg: DictConfig, checkpoint: Path | None) -> str:
    """A readable run name: the label key, else the checkpoint's last two path parts, else the model name."""
    if cfg.get("label"):
        return str(cfg.label)
    if checkpoint is not None:
        return "/".join(checkpoint.resolve().parts[-2:])
    return str(cfg.model.get("name") or "model")


def run_compare(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """``compare=[A,B,...]``: side-by-side report of finished evaluation run dirs into ``run_dir``."""
    from argen.evaluation.compare import compare_runs

    settings = check_settings(cfg)
    assert settings.compare is not None  # main() sends only a comparison here
    result = compare_runs(list(settings.compare), run_dir, allow_mismatch=settings.compare_allow_mismatch)
    for line in result["headlines"].values():
        print(f"argen.evaluate: {line}", flush=True)
    from argen.evaluation.audit import lift_headline

    for name, lift in result["audit"].items():  # the lift under the audit judge too, when the runs were audited
        print(f"argen.evaluate: {name}: {lift_headline(lift)}", flush=True)
    print(f"argen.evaluate: comparison in {run_dir} ({', '.join(result['files'])})", flush=True)
    return result


def run_evaluate(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Validate everything, then generate, score and report into ``run_dir``."""
    from argen.config import load_configured_scenarios, scenario_path, to_plain
    from argen.models import check_cache_dir, check_model_config
    from argen.scoring.build import scorer_from_settings

    # --- user-fixable problems first, before a model loads
    typed = check_settings(cfg)
    checkpoint = resolve_checkpoint(typed.checkpoint) if typed.checkpoint else None
    check_run_outputs(run_dir, {"data.path": scenario_path(cfg.data, "eval"), "checkpoint": checkpoint})
    if checkpoint is None:
        check_model_config(to_plain(cfg.model))
        check_cache_dir(to_plain(cfg.model))  # a model built or converted once needs a writable cache dir
    scenarios = load_configured_scenarios(cfg.data, "eval")
    scorer = scorer_from_settings(typed.judge, typed.rubric, typed.policy)
    # The key now; the server only when a verdict is not in the cache (a cached re-run needs none).
    scorer.judge.preflight_lazy()
    from argen.evaluation.audit import build_audit_scorer

    audit = build_audit_scorer(typed.audit, typed.rubric, main=scorer)
    if audit is not None:
        audit.judge.preflight_lazy()

    from argen.evaluation.generation import GenerationSettings
    from argen.evaluation.harness import PLOTS, RESPONSES, evaluate_model
    from argen.models import resolve_model

    tracking = cfg.logging.get("backend") == "wandb"
    if tracking:
        from argen.reporting.tracking import setup_tracking

        setup_tracking(cfg, run_dir)
    settings = GenerationSettings(
        temperature=typed.temperature, max_new_tokens=typed.max_new_tokens, batch_size=typed.batch_size,
        seed=typed.seed, system_prompt=typed.data.system_prompt if typed.data else None,
    )
    label = default_label(cfg, checkpoint)
    try:
        model_path = str(checkpoint) if checkpoint is not None else resolve_model(to_plain(cfg.model))
        from argen.training.prompt_length import check_evaluation_prompts

        # Prompts in tokens against the model's positions, before the model loads.
        check_evaluation_prompts(model_path, scenarios, scenario_path(cfg.data, "eval"), settings.system_prompt,
                                 settings.max_new_tokens)
        summary = evaluate_model(
            model_path, scenarios, scorer, run_dir, settings, dtype=str(cfg.model.get("dtype", "float32")),
            checkpoint=str(checkpoint) if checkpoint else None, label=label,
            data_path=scenario_path(cfg.data, "eval"), progress=typed.progress, audit=audit,
        )
        if tracking:
            from argen.evaluation.tracking import log_evaluation
            from argen.reporting.metrics import read_jsonl

            log_evaluation("eval", summary, read_jsonl(run_dir / RESPONSES), images=[run_dir / p for p in PLOTS])
    finally:
        scorer.close()  # the judge's clients and the scoring event loop
        if audit is not None:
            audit.close()
        if tracking:
            import wandb

            if wandb.run is not None:
                wandb.finish()
    from argen.reporting.summaries import evaluation_line

    print(evaluation_line(summary, run_dir), flush=True)
    return summary


@hydra.main(config_path=CONF_DIR, config_name="evaluate", version_base=None)
def main(cfg: DictConfig) -> dict | None:
    """Evaluate one model, or compare evaluation run dirs."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from argen.reporting.console_output import library_output_to_log

    verbose = (cfg.get("logging") or {}).get("verbose", False) is True
    with user_errors("argen.evaluate"):
        from argen.data.run_lock import acquire_output_lock

        # One writer per run dir: responses.jsonl is resumed, so a second writer would duplicate rows.
        acquire_output_lock(run_dir, is_dir=True, key="hydra.run.dir", prog="argen.evaluate", what="run dir")
        with library_output_to_log(run_dir / "evaluate.log", verbose=verbose):
            if cfg.get("compare"):
                return run_compare(cfg, run_dir)
            return run_evaluate(cfg, run_dir)


def end_of_training_dir(argv: list[str]) -> Path | None:
    """``end_of_training=RUN_DIR`` on the command line (None without it); it takes no other argument,
    because it redoes the run's evaluation with the run's own settings."""
    from argen.evaluation.end_of_training import REDO_KEY

    given = [a.split("=", 1)[1] for a in argv if "=" in a and a.split("=", 1)[0].lstrip("+") == REDO_KEY]
    if not given:
        return None
    others = [a for a in argv if not ("=" in a and a.split("=", 1)[0].lstrip("+") == REDO_KEY)]
    if others or len(given) > 1:
        raise ConfigError(REDO_KEY, f"takes one run dir and nothing else (got {' '.join(argv)}): it redoes the run's "
                          "end-of-training evaluation with the run's own saved settings")
    return Path(given[0])


def redo_end_of_training_main(run_dir: Path) -> int:
    """Redo a training run's end-of-training evaluation; 0 when it succeeds, 3 when it fails again."""
    import sys

    from argen.errors import EXIT_EVALUATION_FAILED
    from argen.evaluation.end_of_training import redo_end_of_training

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with user_errors("argen.evaluate"):
        summary = redo_end_of_training(run_dir)
    evaluation = summary.get("evaluation") or {}
    if "error" in evaluation:
        print(f"argen.evaluate: error: the end-of-training evaluation of {run_dir} failed again: {evaluation['error']}",
              file=sys.stderr, flush=True)
        return EXIT_EVALUATION_FAILED
    print(f"argen.evaluate: {evaluation.get('headline')}; {run_dir / 'summary.json'} updated, report in "
          f"{evaluation.get('report')}", flush=True)
    return 0


if __name__ == "__main__":
    import sys

    from argen.command_line import lock_run_dir, redact_printed_config, refuse_secrets

    with user_errors("argen.evaluate"):
        refuse_secrets(sys.argv[1:])  # before Hydra records the command line anywhere
        redact_printed_config(sys.argv[1:])
        redo_dir = end_of_training_dir(sys.argv[1:])
        if redo_dir is not None and redo_dir.is_dir():
            from argen.data.run_lock import acquire_output_lock

            # The redo rewrites the training run's summary.json: one writer, as for train itself.
            acquire_output_lock(redo_dir, is_dir=True, key="end_of_training", prog="argen.evaluate", what="run dir")
    if redo_dir is not None:
        sys.exit(redo_end_of_training_main(redo_dir))
    with user_errors("argen.evaluate"):
        lock_run_dir(sys.argv[1:], "argen.evaluate")  # before Hydra writes .hydra/ into a run dir in use
    main()
