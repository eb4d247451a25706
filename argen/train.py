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

# OpenMP threads that spin while waiting slow training several-fold when another process shares
# the cores (tests, a second run, a benchmark); sleeping threads cost little when alone.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import logging
import sys
import time
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from argen.config import CONF_DIR
from argen.errors import ArgenError, ConfigError, user_errors


def _in_distributed_worker() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


@hydra.main(config_path=CONF_DIR, config_name="train", version_base=None)
def main(cfg: DictConfig) -> dict | None:
    """Train one configuration (one job of a sweep)."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    logging.getLogger("httpx").setLevel(logging.WARNING)
    started = time.monotonic()
    try:
        summary = _train(cfg, run_dir, isolate=multirun)
    except Exception as err:
        if _rank() == 0:
            _record_failure(run_dir, err, started)
        if not multirun:
            with user_errors("argen.train"):
                raise  # a user error: one line and exit status 2; anything else keeps its traceback
        # The sweep goes on: Hydra would end it on SystemExit and skip the summary on an exception.
        print(f"argen.train: job {hydra_cfg.job.num} failed ({run_dir}): {err}", file=sys.stderr, flush=True)
        return None
    if _rank() == 0:
        from argen.launch import write_status

        write_status(run_dir, (summary or {}).get("status", "completed"), wall_s=round(time.monotonic() - started, 1),
                     steps=(summary or {}).get("steps"))
    if summary and summary.get("status") == "interrupted":
        import signal

        print(
            f"argen.train: stopped by {summary['signal']} at step {summary['steps']}; "
            f"checkpoint {summary['checkpoint']}; continue with: python -m argen.train resume={summary['run_dir']}",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(128 + int(getattr(signal, summary["signal"])))
    if summary and _rank() == 0:  # other ranks hold no summary (rank 0 writes the run files)
        from argen.training.runner import summary_line

        print(summary_line(summary), flush=True)
    return summary


def _train(cfg: DictConfig, run_dir: Path, isolate: bool) -> dict | None:
    """Validate, then train here or in fresh worker processes (``isolate``: every multirun job)."""
    from argen.config import validate_train_config
    from argen.training.resume import resume_config

    cfg = resume_config(cfg, list(HydraConfig.get().overrides.task))
    if _in_distributed_worker():
        # Started by an outside launcher: the process count is what it started.
        with open_dict(cfg):
            cfg.hardware.num_processes = int(os.environ["WORLD_SIZE"])
            cfg.hardware.launcher = "external"
    validate_train_config(cfg)
    from argen.launch import needs_workers, preflight, run_after_training

    preflight(cfg)  # visible GPUs, the model's weights: before anything loads or starts
    if needs_workers(cfg, isolate) and not _in_distributed_worker():
        from argen.launch import launch_workers

        summary = launch_workers(cfg, run_dir)
    else:
        from argen.training.runner import run_training

        summary = run_training(cfg, run_dir)
    # The end evaluation: a fresh process, once training's processes (or this one's training) ended.
    return run_after_training(cfg, run_dir, summary) if _rank() == 0 else summary


def _record_failure(run_dir: Path, err: BaseException, started: float) -> None:
    """status.json says why the job failed; an unexpected error's traceback goes to error.txt."""
    from argen.launch import write_status

    fields = {"error": str(err), "error_type": type(err).__name__, "wall_s": round(time.monotonic() - started, 1)}
    if not isinstance(err, ArgenError):
        (run_dir / "error.txt").write_text("".join(traceback.format_exception(err)))
        fields["traceback"] = str(run_dir / "error.txt")
    write_status(run_dir, "failed", **fields)


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
    if _rank() != 0:
        argv = [*argv, "hydra.output_subdir=null", "hydra/job_logging=stdout"]
    return argv


if __name__ == "__main__":
    with user_errors("argen.train"):
        sys.argv[1:] = outside_launch_argv(sys.argv[1:])
    main()
