"""One training process started by :mod:`argen.launch`: ``python -m argen.worker RUN_DIR/worker_config.yaml``.

``python -m argen.worker --after-training RUN_DIR/worker_config.yaml RESULT_DIR`` is the one
process that runs after every training process has exited: the end-of-training evaluation
(:func:`argen.evaluation.end_of_training.evaluate_finished_run`), with no engine state around.

Every rank reads the same resolved config (written by the Hydra process, which never runs in
here) and trains in the same run dir: the directory holding that file. Rank 0 alone writes
checkpoints, metrics, plots and ``summary.json`` (the runner and its callbacks check the rank).
A user-fixable error prints one line, ``argen.worker: error: ...``, and exits with status 2; the
launcher quotes that line in the job's failure.
"""

from __future__ import annotations

from argen.runtime import quiet_openmp, rank

quiet_openmp()  # before torch loads

import logging  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from argen.errors import ArgenError, DataError, environment_fault, user_errors  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Train from a resolved config file; return the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    with user_errors("argen.worker"):
        after_training = bool(argv) and argv[0] == "--after-training"
        if after_training:
            argv = argv[1:]
        if len(argv) != (2 if after_training else 1):
            raise ArgenError("usage: python -m argen.worker RUN_DIR/worker_config.yaml | "
                             "python -m argen.worker --after-training RUN_DIR/worker_config.yaml RESULT_DIR")
        config_path = Path(argv[0])
        if not config_path.is_file():
            raise DataError(str(config_path), "resolved config not found (the launcher writes it before starting workers)")
        logging.basicConfig(
            level=logging.INFO if rank() == 0 else logging.WARNING,
            format=f"[rank {rank()}] %(asctime)s %(name)s %(levelname)s: %(message)s",
        )
        logging.getLogger("httpx").setLevel(logging.WARNING)
        from omegaconf import OmegaConf

        cfg = OmegaConf.load(config_path)
        from argen.reporting.console_output import library_output_to_log

        from argen.launch import AFTER_TRAINING_LOG

        # The libraries' output (and every log record) to the run's train.log, or after_training.log
        # for the evaluation after training; ArGen's lines go back to the launcher's console.
        verbose = (cfg.get("logging") or {}).get("verbose", False) is True
        log_name = AFTER_TRAINING_LOG if after_training else "train.log"
        with library_output_to_log(config_path.parent / log_name, verbose=verbose):
            if after_training:
                from argen.evaluation.end_of_training import evaluate_finished_run

                evaluate_finished_run(cfg, argv[1])
                return 0
            from argen.training.runner import run_training

            try:
                run_training(cfg, config_path.parent)
            except Exception as exc:
                fault = environment_fault(exc, config_path.parent)  # a full disk: one line naming path and cause
                if fault is None:
                    raise
                raise fault from exc
            finally:
                _close_process_group()
    return 0


def _close_process_group() -> None:
    # Leave no process group behind (torch warns, and a hung peer would block exit otherwise).
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
