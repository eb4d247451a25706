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
from typing import Any  # noqa: E402

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig, ListConfig  # noqa: E402

from argen.config import CONF_DIR  # noqa: E402
from argen.errors import ConfigError, user_errors  # noqa: E402

log = logging.getLogger("argen.evaluate")


def check_settings(cfg: DictConfig) -> None:
    """Generation keys and the logging backend, each error naming its key."""
    from argen.config_schema import LoggingConfig, is_int, is_number, positive_int

    temp = cfg.get("temperature")
    if not is_number(temp) or temp < 0:
        raise ConfigError("temperature", f"must be a number >= 0 (0 = greedy), got {temp!r}")
    for key in ("max_new_tokens", "batch_size"):
        positive_int(cfg.get(key), key)
    if not is_int(cfg.get("seed")):
        raise ConfigError("seed", f"must be an integer, got {cfg.get('seed')!r}")
    LoggingConfig.parse(cfg.logging)


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

    dirs = cfg.compare
    if not isinstance(dirs, (ListConfig, list)):
        raise ConfigError("compare", f"must be a list of run dirs, e.g. compare=[RUN_A,RUN_B]; got {dirs!r}")
    result = compare_runs([str(d) for d in dirs], run_dir, allow_mismatch=bool(cfg.get("compare_allow_mismatch", False)))
    for line in result["headlines"].values():
        print(f"argen.evaluate: {line}", flush=True)
    from argen.evaluation.audit import write_audit_comparison

    for line in write_audit_comparison([Path(str(d)) for d in dirs], run_dir):
        print(f"argen.evaluate: {line}", flush=True)
    print(f"argen.evaluate: comparison in {run_dir} ({', '.join(result['files'])})", flush=True)
    return result


def run_evaluate(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Validate everything, then generate, score and report into ``run_dir``."""
    from argen.config import load_configured_scenarios, scenario_path, to_plain
    from argen.models import check_model_config
    from argen.scoring.build import build_scorer

    # --- user-fixable problems first, before a model loads
    check_settings(cfg)
    checkpoint = resolve_checkpoint(cfg.checkpoint) if cfg.get("checkpoint") else None
    check_run_outputs(run_dir, {"data.path": scenario_path(cfg.data, "eval"), "checkpoint": checkpoint})
    if checkpoint is None:
        check_model_config(to_plain(cfg.model))
    scenarios = load_configured_scenarios(cfg.data, "eval")
    scorer = build_scorer(cfg)
    scorer.judge.preflight()
    from argen.evaluation.audit import build_audit_scorer

    audit = build_audit_scorer(cfg, cfg.get("audit_judge"), cfg.get("audit_judge_overrides"), main=scorer)
    if audit is not None:
        audit.judge.preflight()

    from argen.evaluation.generation import GenerationSettings
    from argen.evaluation.harness import PLOTS, RESPONSES, evaluate_model
    from argen.models import resolve_model

    tracking = cfg.logging.get("backend") == "wandb"
    if tracking:
        from argen.reporting.tracking import setup_tracking

        setup_tracking(cfg, run_dir)
    settings = GenerationSettings(
        temperature=float(cfg.temperature), max_new_tokens=int(cfg.max_new_tokens), batch_size=int(cfg.batch_size),
        seed=int(cfg.seed), system_prompt=cfg.data.get("system_prompt"),
    )
    label = default_label(cfg, checkpoint)
    try:
        model_path = str(checkpoint) if checkpoint is not None else resolve_model(to_plain(cfg.model))
        summary = evaluate_model(
            model_path, scenarios, scorer, run_dir, settings, dtype=str(cfg.model.get("dtype", "float32")),
            checkpoint=str(checkpoint) if checkpoint else None, label=label,
            data_path=scenario_path(cfg.data, "eval"), progress=bool(cfg.get("progress", True)), audit=audit,
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
    with user_errors("argen.evaluate"), library_output_to_log(run_dir / "evaluate.log", verbose=verbose):
        if cfg.get("compare"):
            return run_compare(cfg, run_dir)
        return run_evaluate(cfg, run_dir)


if __name__ == "__main__":
    main()
