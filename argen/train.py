"""Entry point: ``python -m argen.train [group=option ...] [key=value ...]``.

One Hydra process composes and validates the config. A single-process run trains here; a
multi-process hardware option, and every job of a multirun (``-m``), hands the resolved config to
:mod:`argen.launch`, which starts fresh worker processes (Hydra never runs inside them), so no
accelerator state, process group or tracker run leaks from one sweep job into the next.

Each job records how it ended in ``RUN_DIR/status.json``. In a multirun a failed job is recorded
and the sweep goes on; a single run exits with status 2 on a user error.

Under an outside launcher (``accelerate launch -m argen.train ...``: WORLD_SIZE is set) Hydra runs
in every rank; ``hydra.run.dir=...`` is then required so all ranks share one run dir, only rank 0
writes ``.hydra/``, and multirun is refused (see docs/sweeps.md).
"""

from __future__ import annotations

import os

from argen.runtime import quiet_openmp, rank, world_size

quiet_openmp()  # before torch loads

import logging  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from hydra.types import RunMode  # noqa: E402
from omegaconf import DictConfig, open_dict  # noqa: E402

from argen.config import CONF_DIR  # noqa: E402
from argen.errors import ArgenError, ConfigError, DataError, EnvironmentFault, environment_fault, one_line, user_errors  # noqa: E402


def _in_distributed_worker() -> bool:
    return world_size() > 1


@hydra.main(config_path=CONF_DIR, config_name="train", version_base=None)
def main(cfg: DictConfig) -> dict | None:
    """Train one configuration (one job of a sweep)."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    from argen.command_line import on_first_machine

    if rank() == 0 and on_first_machine(sys.argv[1:]):  # one writer per run dir (argen.data.run_lock)
        from argen.data.run_lock import acquire_output_lock

        with user_errors("argen.train"):
            acquire_output_lock(run_dir, is_dir=True, key="hydra.run.dir", prog="argen.train", what="run dir")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    started = time.monotonic()
    resuming = cfg.get("resume") not in (False, None, "false", "False", "")
    from argen.launch import writes_run_files
    from argen.reporting.console_output import library_output_to_log

    writer = writes_run_files(cfg)  # rank 0 of machine 0: the one Hydra process that records the run
    earlier = _earlier_sessions(run_dir) if resuming and writer else {}
    try:
        # The libraries' bars, warnings and logs go to the run's train.log; the console keeps ArGen's lines.
        with library_output_to_log(run_dir / "train.log", verbose=_verbose(cfg)):
            summary = _train(cfg, run_dir, isolate=multirun)
    except Exception as caught:
        # A full disk, a cache or checkpoints dir that cannot be written: one line naming the path
        # and the cause (exit 74), the traceback in error.txt where it can still be written.
        fault = environment_fault(caught, run_dir)
        if fault is not None and fault is not caught:
            fault = _with_resume_hint(fault, run_dir)
        err = fault or caught
        # A resume refused before it started changed nothing: the run keeps the record it had.
        if writer and not (resuming and isinstance(caught, (ConfigError, DataError, EnvironmentFault))):
            _record_failure(run_dir, err, started, earlier, cause=caught)
        if not multirun:
            with user_errors("argen.train"):
                if fault is not None:
                    raise fault from caught
                raise  # a user error: one line and exit status 2; anything else keeps its traceback
        # The sweep goes on: Hydra would end it on SystemExit and skip the summary on an exception.
        print(f"argen.train: job {hydra_cfg.job.num} failed ({run_dir}): {one_line(err)}", file=sys.stderr, flush=True)
        return None
    evaluation = (summary or {}).get("evaluation")
    eval_error = evaluation.get("error") if isinstance(evaluation, dict) else None
    if writer:
        from argen.launch import write_status

        write_status(run_dir, (summary or {}).get("status", "completed"), **_wall(started, earlier),
                     steps=(summary or {}).get("steps"), **({"evaluation_error": eval_error} if eval_error else {}))
    if summary and summary.get("status") == "interrupted":
        import signal

        at_once = summary.get("stopped_at_once")
        how = (f"stopped at once by a second {summary['signal']} during step {summary['steps'] + 1}" if at_once
               else f"stopped by {summary['signal']} at step {summary['steps']}")
        resume = (f"{'last complete ' if at_once else ''}checkpoint {summary['checkpoint']}; continue with: "
                  f"python -m argen.train resume={summary['run_dir']}" if summary.get("checkpoint")
                  else "no checkpoint was saved yet (nothing to resume)")
        print(f"argen.train: {how}; {resume}", file=sys.stderr, flush=True)
        raise SystemExit(128 + int(getattr(signal, summary["signal"])))
    if summary and writer:  # other ranks and machines hold no summary (rank 0 of machine 0 writes the run files)
        from argen.reporting.summaries import training_line

        print(training_line(summary), flush=True)
        if eval_error and not multirun:
            # Trained, but not evaluated: not a success (exit 3); the model and checkpoints are kept.
            from argen.errors import EXIT_EVALUATION_FAILED
            from argen.evaluation.end_of_training import redo_command

            print(f"argen.train: error: trained, but the end-of-training evaluation failed ({eval_error}); redo it "
                  f"with: {redo_command(summary.get('run_dir') or run_dir)}", file=sys.stderr, flush=True)
            raise SystemExit(EXIT_EVALUATION_FAILED)
    return summary


def _verbose(cfg: DictConfig) -> bool:
    """``logging.verbose=true``: library output on the console too (checked as a bool by the schema)."""
    return (cfg.get("logging") or {}).get("verbose", False) is True


def _train(cfg: DictConfig, run_dir: Path, isolate: bool) -> dict | None:
    """Validate, then train here or in fresh worker processes (``isolate``: every multirun job)."""
    from argen.training.resume import resume_config
    from argen.training.validation import validate_train_config

    cfg = resume_config(cfg, list(HydraConfig.get().overrides.task))
    if _in_distributed_worker():
        # Started by an outside launcher: the process count is what it started (recorded in
        # config.yaml; the typed hardware node knows it is a launched rank from WORLD_SIZE).
        with open_dict(cfg):
            cfg.hardware.num_processes = int(os.environ["WORLD_SIZE"])
    # Every check, the judge's, the rubric's and the policies' included, before anything loads or starts.
    settings = validate_train_config(cfg)
    check_run_outputs(cfg, run_dir)
    check_checkpoints_dir(run_dir)
    from argen.launch import check_one_run_dir, needs_workers, preflight, run_after_training

    check_one_run_dir(settings, HydraConfig.get())  # several machines: one shared run dir

    preflight(cfg, settings)  # visible GPUs, the model's weights: before anything loads or starts
    if needs_workers(settings, isolate) and not _in_distributed_worker():
        from argen.launch import launch_workers

        summary = launch_workers(cfg, run_dir, settings)
    else:
        from argen.training.runner import run_training

        summary = run_training(cfg, run_dir)
    # The end evaluation: a fresh process, once training's processes (or this one's training) ended.
    return run_after_training(cfg, run_dir, summary) if rank() == 0 else summary


def _earlier_sessions(run_dir: Path) -> dict:
    """Wall time and session count the run's status.json recorded before this resume."""
    import json

    try:
        status = json.loads((run_dir / "status.json").read_text())
    except (OSError, ValueError):
        return {}
    wall = status.get("wall_s")
    if not isinstance(wall, (int, float)):
        return {}
    return {"wall_s": float(wall), "sessions": int(status.get("sessions", 1) or 1)}


def _wall(started: float, earlier: dict) -> dict:
    """``wall_s`` over every session of the run (a resumed run adds this one to the earlier ones)."""
    session = round(time.monotonic() - started, 1)
    if not earlier:
        return {"wall_s": session}
    return {"wall_s": round(earlier["wall_s"] + session, 1), "session_wall_s": session, "sessions": earlier["sessions"] + 1}


# What a run writes into its run dir (files, then directories): no input may be one of them.
RUN_FILES = ("config.yaml", "metrics.jsonl", "summary.json", "status.json", "worker_config.yaml", "workers.log",
             "error.txt", "after_training.log", "completions.jsonl", "periodic_eval.jsonl", "reward_curve.png", "train.log")
RUN_DIRS = ("checkpoints", "final_model", "eval", "wandb", ".hydra")


def check_run_outputs(cfg: DictConfig, run_dir: Path) -> None:
    """No input (scenario files, a local model) is a file or directory this run writes."""
    from argen.data.outputs import check_inputs_untouched

    model = cfg.model.get("path") if cfg.model.get("source") == "local" else None
    inputs = {"data.path": cfg.data.get("path"), "eval.path": cfg.eval.get("path"), "model.path": model}
    outputs = {f"the run's {name}": run_dir / name for name in RUN_FILES}
    outputs.update({f"the run's {name}/": run_dir / name for name in RUN_DIRS})
    check_inputs_untouched(outputs, inputs, key="hydra.run.dir")


def _with_resume_hint(fault: EnvironmentFault, run_dir: Path) -> EnvironmentFault:
    """A fault in the middle of a run: say how to go on once the machine is fixed."""
    from argen.training.checkpoints import latest_checkpoint

    try:
        checkpoint = latest_checkpoint(run_dir / "checkpoints")
    except OSError:
        checkpoint = None
    if checkpoint is None:
        return fault
    return EnvironmentFault(f"{fault}; once that is fixed, continue from {checkpoint.name} with: "
                            f"python -m argen.train resume={run_dir}")


def check_checkpoints_dir(run_dir: Path) -> None:
    """The run's checkpoints/ can be written (not a file, not read-only or immutable), before anything loads."""
    from argen.data.outputs import writable_problem

    problem = writable_problem(run_dir / "checkpoints")
    if problem:
        raise EnvironmentFault(f"{run_dir / 'checkpoints'} cannot be written: {problem}; the run saves its checkpoints "
                               "there (fix it, or choose another hydra.run.dir)")


def _record_failure(run_dir: Path, err: BaseException, started: float, earlier: dict | None = None,
                    cause: BaseException | None = None) -> None:
    """status.json says why the job failed (``err``); the traceback of an unexpected error or of the
    OSError behind an environment fault (``cause``) goes to error.txt. What cannot be written (a
    full disk) is said on stderr instead."""
    from argen.data.atomic import write_atomic
    from argen.launch import write_status

    fields = {"error": str(err), "error_type": type(err).__name__, **_wall(started, earlier or {})}
    unwritten: list[str] = []
    if not isinstance(cause or err, ArgenError):  # a user error's one line says it all
        try:  # whole or not at all: a full disk must not leave an empty error.txt
            write_atomic(run_dir / "error.txt", "".join(traceback.format_exception(cause or err)))
            fields["traceback"] = str(run_dir / "error.txt")
        except OSError as exc:
            unwritten.append(f"{run_dir / 'error.txt'} ({exc.strerror or exc})")
    try:
        write_status(run_dir, "failed", **fields)
    except OSError as exc:
        unwritten.append(f"{run_dir / 'status.json'} ({exc.strerror or exc})")
    if unwritten:
        print(f"argen.train: the failure could not be recorded in {' or '.join(unwritten)}; it is only here",
              file=sys.stderr, flush=True)


def outside_launch_argv(argv: list[str]) -> list[str]:
    """Hydra arguments for one rank started by an outside launcher (WORLD_SIZE > 1).

    Every rank runs Hydra then: they must share one run dir, so ``hydra.run.dir`` is required
    (each rank would otherwise resolve its own timestamp), a multirun is refused (jobs would
    share the ranks' process group and engine state), and ranks other than 0 write no
    ``.hydra/`` files and log to stdout only.
    """
    if not _in_distributed_worker():
        return argv
    world = os.environ.get("WORLD_SIZE")
    if "-m" in argv or "--multirun" in argv:
        raise ConfigError("hydra.mode", f"a multirun cannot run inside {world} launched ranks: run `python -m argen.train -m ...` "
                          "without a launcher and set hardware=... (ArGen starts the processes of each job)")
    if not any(a.lstrip("+").split("=", 1)[0] == "hydra.run.dir" for a in argv):
        raise ConfigError("hydra.run.dir", f"is required under an outside launcher (WORLD_SIZE={world}): each rank would "
                          "resolve its own timestamped run dir; add e.g. hydra.run.dir=outputs/my-run")
    if rank() != 0:
        argv = [*argv, "hydra.output_subdir=null", "hydra/job_logging=stdout"]
    return argv


_FALSE = ("false", "False", "", "null", "None")


def _override_value(argv: list[str], key: str) -> str | None:
    """The value of ``key=...`` on the command line (the last one wins, as in Hydra), else None."""
    value = None
    for arg in argv:
        name, sep, rest = arg.partition("=")
        if sep and name.lstrip("+~") == key:
            value = rest
    return value


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _quote(value: str) -> str:
    # Hydra's override grammar: a quoted value keeps spaces, '=', ',' and brackets literal.
    if re.fullmatch(r"[\w./~+@:-]+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _no_output_subdir(argv: list[str]) -> list[str]:
    return [] if _override_value(argv, "hydra.output_subdir") is not None else ["hydra.output_subdir=null"]


def resume_argv(argv: list[str]) -> list[str]:
    """``resume=RUN_DIR`` runs in that run dir: add ``hydra.run.dir=RUN_DIR`` and no ``.hydra/``.

    Without this Hydra would make a fresh ``outputs/<date>/<time>/`` (even when the resume then
    fails) and record the resumed run's status and logs there. The original ``.hydra/`` files
    stay as they were: they describe what was trained. A resume that cannot work (a path that
    does not exist, no complete checkpoint) is refused here, before Hydra creates anything.
    """
    raw = _override_value(argv, "resume")
    if raw is None or _unquote(raw) in _FALSE or "-m" in argv or "--multirun" in argv:
        return argv
    from argen.training.resume import resolve_resume

    given = _override_value(argv, "hydra.run.dir")
    value = _unquote(raw)
    if value in ("true", "True"):
        if given is None:
            raise ConfigError("resume", "resume=true continues the run in hydra.run.dir, which is not set; "
                              "pass resume=RUN_DIR instead")
        resolve_resume(True, Path(_unquote(given)))
        return [*argv, *_no_output_subdir(argv)]
    resolved = resolve_resume(value, Path("."))
    assert resolved is not None
    run_dir = resolved[0]
    if given is not None and Path(_unquote(given)).resolve() != run_dir.resolve():
        raise ConfigError("hydra.run.dir", f"a resumed run continues in its own run dir ({run_dir}); "
                          "drop hydra.run.dir or set it to that dir")
    extra = [] if given is not None else [f"hydra.run.dir={_quote(str(run_dir))}"]
    return [*argv, *extra, *_no_output_subdir(argv)]


def exit_if_finished(argv: list[str]) -> None:
    """A finished run resumed: one line, exit status 0, nothing written (before Hydra, which would
    append to its log). Only a raised ``grpo.max_steps`` trains on."""
    raw = _override_value(argv, "resume")
    if raw is None or _unquote(raw) in _FALSE or any(a.startswith("-") for a in argv):  # -m, --cfg job, --help
        return
    from argen.training.resume import finished_message

    line = finished_message(_unquote(raw), Path(_unquote(_override_value(argv, "hydra.run.dir") or ".")),
                            [a for a in argv if "=" in a])
    if line:
        print(line, flush=True)
        raise SystemExit(0)


if __name__ == "__main__":
    from argen.command_line import lock_run_dir, redact_printed_config, refuse_secrets

    with user_errors("argen.train"):
        refuse_secrets(sys.argv[1:])  # before Hydra records the command line anywhere
        redact_printed_config(sys.argv[1:])
        from argen.launch import machines_argv

        sys.argv[1:] = machines_argv(outside_launch_argv(resume_argv(sys.argv[1:])))
        if rank() == 0:
            lock_run_dir(sys.argv[1:], "argen.train")  # before Hydra writes .hydra/ into a run dir in use
        exit_if_finished(sys.argv[1:])
    main()
