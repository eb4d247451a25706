"""Start a run's training processes from the Hydra process, without touching the accelerator here.

The Hydra process (``python -m argen.train``) composes and validates the config, then, when the
hardware asks for several processes (or when it is one job of a multirun), it:

1. writes the resolved config to ``RUN_DIR/worker_config.yaml`` (rank 0 writes ``config.yaml`` as in every run);
2. picks a free TCP port for the process group's rendezvous;
3. starts the worker processes (:mod:`argen.worker`), each reading that file:

   - ``hardware.launcher=torchrun`` (CPU): ``torchrun --nproc_per_node N --master_port P -m argen.worker CONFIG``
     (Accelerate's own launcher starts only one CPU process without mpirun);
   - ``hardware.launcher=accelerate`` (GPUs): ``accelerate launch --config_file F --num_processes N
     --main_process_port P -m argen.worker CONFIG``;
   - one process (a single-process job of a multirun): ``python -m argen.worker CONFIG``;

4. streams their output (also kept in ``RUN_DIR/workers.log``) and returns the summary rank 0
   wrote to ``RUN_DIR/summary.json``, or raises :class:`~argen.errors.ArgenError` naming the
   exit code when a worker fails.

After training, whatever runs on rank 0 alone (the end-of-training evaluation) runs in one more
fresh process, ``python -m argen.worker --after-training CONFIG RESULT_DIR``, started here once
every training process has exited (:func:`run_after_training`), on every path: several GPUs, one
GPU, one CPU process trained inside the Hydra process. No DeepSpeed, FSDP or process-group state
can reach it, and a crash there costs the run nothing but the evaluation.

Before anything starts, :func:`preflight` refuses a run that could only fail later: more
processes than visible GPUs, or a hub model that is neither cached nor reachable.

Nothing here creates an Accelerator or a process group, builds a GRPOConfig or loads a model
(importing a library is harmless; initialising it is not): each job starts from clean processes
and a fresh process group.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from argen.config_schema import HardwareConfig, launched_world_size
from argen.data.atomic import write_atomic
from argen.data.run_lock import held_lock_fds
from argen.errors import ArgenError, ConfigError, EnvironmentFault
from argen.reporting.console_output import console

# Variables a parent may carry from an earlier distributed context; a fresh launch sets its own.
_DISTRIBUTED_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR", "MASTER_PORT",
                    "TORCHELASTIC_RUN_ID", "ACCELERATE_MIXED_PRECISION")
# What `accelerate launch` sets for its ranks: the process after training must not inherit it
# (transformers would take the DeepSpeed ZeRO-3 or FSDP loading path, a collective with no peers).
_ENGINE_ENV_PREFIXES = ("ACCELERATE_", "FSDP_")
WORKER_MODULE = "argen.worker"
AFTER_TRAINING_FLAG = "--after-training"
AFTER_TRAINING_LOG = "after_training.log"
STATUS_FILE = "status.json"
WORKER_CONFIG = "worker_config.yaml"


def free_port() -> int:
    """A TCP port that is free on this machine right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config_file(run_dir: str | Path, machine_rank: int = 0) -> Path:
    """The resolved config the workers read (machine k > 0 of a multi-machine run: its own copy).

    Not ``config.yaml``: rank 0 writes that one as in every run, and a resumed run compares it
    with the new config, so the launcher must not overwrite it first.
    """
    return Path(run_dir) / (WORKER_CONFIG if machine_rank == 0 else f"worker_config.machine{machine_rank}.yaml")


def workers_log(run_dir: str | Path, machine_rank: int = 0) -> Path:
    """Where one machine's launcher output goes (machines of one run share the run dir)."""
    return Path(run_dir) / ("workers.log" if machine_rank == 0 else f"workers.machine{machine_rank}.log")


def write_worker_config(cfg: DictConfig, run_dir: str | Path, machine_rank: int = 0) -> Path:
    """Write the fully resolved config for the workers (write, then rename: never half a file)."""
    from omegaconf import OmegaConf

    from argen.config import to_plain

    path = config_file(run_dir, machine_rank)
    # Resolved here, once: `${now:}` and `${hydra:...}` mean the same thing in every rank.
    write_atomic(path, OmegaConf.to_yaml(OmegaConf.create(to_plain(cfg))))
    return path


def launcher_command(cfg: DictConfig, run_dir: str | Path, port: int) -> list[str]:
    """The command that starts this run's worker processes (pure: nothing is launched).

    ``torchrun`` and ``accelerate launch`` are run as ``python -m torch.distributed.run`` and
    ``python -m accelerate.commands.launch`` with this interpreter, so they work whether or not
    the virtualenv's ``bin/`` is on ``PATH``; the arguments are exactly the CLI ones.
    """
    hw = hardware_of(cfg)
    n, launcher, machines = hw.num_processes, hw.launcher, hw.num_machines
    target = ["-m", WORKER_MODULE, str(config_file(run_dir, hw.machine_rank))]
    if n == 1 and machines == 1 and launcher == "none":
        return [sys.executable, *target]
    if launcher == "torchrun":
        # Static rendezvous: machine 0 hosts the store at main_address:port, the others join it.
        where = ["--node_rank", str(hw.machine_rank)] if machines > 1 else []
        return [
            sys.executable, "-m", "torch.distributed.run",
            "--nnodes", str(machines),
            "--nproc_per_node", str(n),
            *where,
            "--master_addr", hw.main_address if machines > 1 else "127.0.0.1",
            "--master_port", str(port),
            *target,
        ]
    if launcher == "accelerate":  # the schema requires hardware.accelerate_config with it
        where = ["--machine_rank", str(hw.machine_rank), "--main_process_ip", str(hw.main_address)] if machines > 1 else []
        return [
            sys.executable, "-m", "accelerate.commands.launch",
            "--config_file", str(hw.accelerate_config_path),
            # Accelerate counts the processes of every machine; hardware.num_processes counts one machine's.
            "--num_processes", str(hw.world_size),
            "--num_machines", str(machines),
            *where,
            "--main_process_port", str(port),
            # One source of truth for precision: the hardware group (also GRPOConfig's bf16).
            "--mixed_precision", "bf16" if hw.bf16 else "no",
            *target,
        ]
    raise ConfigError(
        "hardware.launcher",
        f"must be torchrun (CPU processes) or accelerate (GPUs) for {n} processes, got {launcher!r}",
    )


def check_launch_requirements(cfg: DictConfig) -> None:
    """Fail with a clear message, before anything starts, when the launcher lacks a dependency."""
    hw = hardware_of(cfg)
    if hw.launcher != "accelerate" or hw.accelerate_config_path is None:
        return
    import importlib.util

    import yaml

    path = hw.accelerate_config_path
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError("hardware.accelerate_config", f"{path} is not valid YAML: {exc}") from None
    if raw.get("distributed_type") == "DEEPSPEED" and importlib.util.find_spec("deepspeed") is None:
        raise ConfigError("hardware.accelerate_config", f"{path} uses DeepSpeed, which is not installed: pip install -e '.[gpu]'")


def worker_env() -> dict[str, str]:
    """The workers' environment: ours, minus stale distributed variables, unbuffered output."""
    env = {k: v for k, v in os.environ.items() if k not in _DISTRIBUTED_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def after_training_env() -> dict[str, str]:
    """The after-training process's environment: the workers', minus every engine variable."""
    return {k: v for k, v in worker_env().items() if not k.startswith(_ENGINE_ENV_PREFIXES)}


def needs_workers(cfg: DictConfig, isolate: bool) -> bool:
    """Whether this job trains in worker processes rather than in the Hydra process.

    Several processes, a launcher named by the hardware (``hardware=ddp hardware.num_processes=1``
    still goes through ``accelerate launch``, so its engine config applies), or a multirun job.
    """
    hw = hardware_of(cfg)
    return hw.num_processes > 1 or hw.launcher in ("torchrun", "accelerate") or isolate or one_gpu_pin(hw) is not None


def one_gpu_pin(hw: HardwareConfig, gpus: int | None = None) -> str | None:
    """The one GPU (a ``CUDA_VISIBLE_DEVICES`` value) a one-process GPU run is shown, when it would see several.

    One training process that sees several GPUs is spread over all of them: TRL loads the model
    with ``device_map="auto"``, or transformers' Trainer wraps it in ``nn.DataParallel``. Such a
    run trains in a worker process that sees only the first visible GPU (``gpus``: the visible
    count, default :func:`visible_gpus`). None when there is nothing to pin.
    """
    if hw.use_cpu or hw.launched or hw.num_processes != 1:
        return None
    if (visible_gpus() if gpus is None else gpus) <= 1:
        return None
    seen = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    return seen.split(",")[0].strip() if seen else "0"


def hardware_of(cfg: Any) -> HardwareConfig:
    """The typed ``hardware`` node of a run config (a TrainConfig, or a composed config to parse)."""
    hw = getattr(cfg, "hardware", None)
    if isinstance(hw, HardwareConfig):
        return hw
    return HardwareConfig.parse(cfg["hardware"], launched_world_size())


def machine_rank_of(cfg: Any) -> int:
    """This machine's rank in a multi-machine run (0 on one machine, or when the config does not parse:
    the error is then reported by machine 0 too)."""
    try:
        return hardware_of(cfg).machine_rank
    except (ConfigError, KeyError, TypeError):
        return 0


def writes_run_files(cfg: Any) -> bool:
    """Whether this process writes the run's own files (status.json, the summary line): rank 0 of
    machine 0. The Hydra process of every other machine leaves them to that one."""
    from argen.runtime import rank

    return rank() == 0 and machine_rank_of(cfg) == 0


def machines_argv(argv: list[str], environ: Any = None) -> list[str]:
    """Hydra arguments for one machine of a multi-machine run (``python -m argen.train`` on each).

    Every machine runs the same command, so every machine must resolve the same run dir, which
    the timestamp in ``hydra.run.dir`` would not give them:

    - inside a SLURM step on several nodes, without ``hydra.run.dir``: the run dir becomes
      ``outputs/slurm-JOB.STEP`` (the same on every node);
    - outside SLURM, ``hardware.num_machines=N`` (N > 1) on the command line needs ``hydra.run.dir``
      (a ConfigError otherwise, before Hydra creates anything; a value set in a config file is
      checked after composition, :func:`check_one_run_dir`);
    - machines other than 0 write no ``.hydra/`` files and log to stdout only.

    Under an outside launcher (WORLD_SIZE set) and for a multirun nothing changes here: the
    launcher's ranks and Hydra's sweep dir (resolved once by the submitting process) decide.
    """
    from argen.runtime import slurm_step, world_size

    env = os.environ if environ is None else environ
    if world_size() > 1 or "-m" in argv or "--multirun" in argv:
        return argv
    step = slurm_step(env)
    multi_node_step = step is not None and step.num_nodes > 1
    given = _override(argv, "hardware.machine_rank")
    machine_rank = int(given) if given not in (None, "null") and given.isdigit() else (step.node_id if multi_node_step else 0)
    machines = _override(argv, "hardware.num_machines")
    extra: list[str] = []
    if _override(argv, "hydra.run.dir") is None:
        if multi_node_step:
            extra.append(f"hydra.run.dir=outputs/slurm-{step.name}")
        elif machines is not None and machines.isdigit() and int(machines) > 1:
            raise ConfigError("hydra.run.dir", f"is required with hardware.num_machines={machines} outside SLURM: every "
                              "machine must train in one shared run dir (each would resolve its own timestamp); add e.g. "
                              "hydra.run.dir=/shared/outputs/my-run on every machine")
    if machine_rank > 0:
        extra += [a for a in ("hydra.output_subdir=null", "hydra/job_logging=stdout")
                  if _override(argv, a.split("=")[0]) is None]
    return [*argv, *extra]


def _override(argv: list[str], key: str) -> str | None:
    """The value of ``key=...`` on a Hydra command line (the last one wins), else None."""
    value = None
    for arg in argv:
        name, sep, rest = arg.partition("=")
        if sep and name.lstrip("+~") == key:
            value = rest.strip("'\"")
    return value


def check_one_run_dir(settings: Any, hydra_cfg: Any) -> None:
    """Refuse a multi-machine job whose machines could each resolve a different run dir.

    ``hydra_cfg``: this job's Hydra node (``HydraConfig.get()``). A run needs ``hydra.run.dir`` given (by the user, or :func:`machines_argv` under SLURM); a
    multirun needs Hydra's submitit launcher (its sweep dir is resolved once, where the sweep is
    submitted) or ``hydra.sweep.dir`` given.
    """
    hw = hardware_of(settings)
    if hw.num_machines == 1 or hw.launched:
        return
    keys = {str(o).partition("=")[0].lstrip("+~") for o in hydra_cfg.overrides.hydra}
    from hydra.types import RunMode

    if hydra_cfg.mode == RunMode.MULTIRUN:
        if "submitit" in str(hydra_cfg.launcher.get("_target_", "")) or "hydra.sweep.dir" in keys:
            return
        raise ConfigError("hydra.sweep.dir", f"is required for a multirun on {hw.num_machines} machines without "
                          "hydra/launcher=slurm: every machine must use one sweep dir; add e.g. hydra.sweep.dir=/shared/multirun/my-sweep")
    if "hydra.run.dir" not in keys:
        raise ConfigError("hydra.run.dir", f"is required with hardware.num_machines={hw.num_machines} outside SLURM: "
                          "every machine must train in one shared run dir; add e.g. hydra.run.dir=/shared/outputs/my-run on every machine")


def visible_gpus() -> int:
    """CUDA devices this process may use (honours CUDA_VISIBLE_DEVICES; creates no CUDA context)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_gpu_count(hw: HardwareConfig | Any) -> None:
    """Refuse more GPU processes than visible GPUs, unless ``hardware.allow_more_processes_than_gpus``.

    Each GPU process takes one device; with too few, ranks share a device (slow, and out of memory
    for any real model) or fail at start-up with an error far from its cause.
    """
    if not isinstance(hw, HardwareConfig):
        hw = HardwareConfig.parse(hw)
    # A launched rank (WORLD_SIZE > 1): the launcher already started the processes it was asked for.
    if hw.use_cpu or hw.launched or hw.allow_more_processes_than_gpus:
        return
    n = hw.num_processes
    gpus = visible_gpus()
    if n > gpus:
        seen = os.environ.get("CUDA_VISIBLE_DEVICES")
        where = f" (CUDA_VISIBLE_DEVICES={seen})" if seen is not None else ""
        fix = f"set hardware.num_processes={gpus}" if gpus else "use hardware=cpu (or hardware=cpu_ddp2)"
        raise ConfigError("hardware.num_processes", f"{n} GPU process{'es' if n > 1 else ''} for hardware={hw.name}, "
                          f"but {gpus} GPU{'s are' if gpus != 1 else ' is'} visible{where}: {fix}, or set "
                          "hardware.allow_more_processes_than_gpus=true to start them anyway")


def preflight(cfg: DictConfig, settings: Any = None) -> None:
    """Checks of the machine itself, in the Hydra process, after the config validated and before
    anything loads or starts: visible GPUs, and the policy's weights (cached, or a reachable hub)."""
    from argen.models import check_cache_dir, check_model_available

    check_gpu_count(hardware_of(settings if settings is not None else cfg))
    check_model_available(cfg.model)
    check_cache_dir(cfg.model)  # ARGEN_CACHE_DIR (or HOME) a file, read-only: say so before anything loads


def write_status(run_dir: str | Path, status: str, **fields: Any) -> Path:
    """Record how a job ended (``completed`` | ``failed`` | ``interrupted``) in ``RUN_DIR/status.json``."""
    path = Path(run_dir) / STATUS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps({"status": status, **fields}, indent=2, default=str))
    return path


def launch_workers(cfg: DictConfig, run_dir: str | Path, settings: Any = None) -> dict[str, Any]:
    """Run this job's training in fresh worker processes; return the summary rank 0 wrote.

    ``settings``: the typed config the Hydra process validated (parsed from ``cfg`` when not given).
    """
    run_dir = Path(run_dir)
    typed = settings if settings is not None else cfg
    hw = hardware_of(typed)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_launch_requirements(typed)
    write_worker_config(cfg, run_dir, hw.machine_rank)
    summary_path = _result_dir(cfg, run_dir) / "summary.json"
    started = time.time()
    # One machine: any free port. Several: the port every machine was given (or SLURM's job id gave).
    cmd = launcher_command(typed, run_dir, hw.main_port if hw.main_port is not None else free_port())
    env = worker_env()
    pin = one_gpu_pin(hw)
    if pin is not None:
        print(f"argen.train: one training process, several GPUs visible: it trains on GPU {pin} alone "
              f"(CUDA_VISIBLE_DEVICES={pin}); hardware=ddp hardware.num_processes=N trains on N", file=console(), flush=True)
        env["CUDA_VISIBLE_DEVICES"] = pin
    log_path = workers_log(run_dir, hw.machine_rank)
    rc, last_lines, signum = _run_streaming(cmd, log_path, env)
    # A summary older than this launch belongs to an earlier attempt (e.g. the run being resumed).
    fresh = summary_path.is_file() and summary_path.stat().st_mtime >= started - 1
    summary = json.loads(summary_path.read_text()) if fresh else None
    if signum is not None:
        # Interrupted (Ctrl-C, preemption): the ranks checkpointed and rank 0 said so in its
        # summary (torchrun's agent exits non-zero after a signal even then). The caller reports
        # it and stops; without such a summary, stop here. Either way a sweep does not go on.
        if summary is not None and summary.get("status") == "interrupted":
            return summary
        raise SystemExit(128 + signum)
    if rc != 0:
        label = {"torchrun": "torchrun", "accelerate": "accelerate launch"}.get(hw.launcher, "worker")
        where = f" on machine {hw.machine_rank} of {hw.num_machines}" if hw.num_machines > 1 else ""
        # A worker stopped by its environment (exit 74, a full disk) keeps that status for the run.
        error = EnvironmentFault if rc == EnvironmentFault.exit_code else ArgenError
        raise error(_failure_message(label + where, rc, last_lines, log_path))
    if hw.machine_rank > 0:
        # Global rank 0 runs on machine 0 and writes the run's files; this machine's part is done
        # (its view of summary.json may lag behind on a network filesystem: it is not read here).
        print(f"argen.train: machine {hw.machine_rank} of {hw.num_machines} finished its processes; machine 0 writes "
              f"the run's files in {run_dir}", flush=True)
        return {"status": "completed", "machine_rank": hw.machine_rank, "run_dir": str(run_dir)}
    if summary is None:
        raise ArgenError(f"the workers exited cleanly but wrote no {summary_path}; see {log_path}")
    return summary


def after_training_command(run_dir: str | Path, result_dir: str | Path) -> list[str]:
    """The command of the process that runs after training (pure: nothing is launched)."""
    return [sys.executable, "-m", WORKER_MODULE, AFTER_TRAINING_FLAG, str(config_file(run_dir)), str(result_dir)]


def run_after_training(cfg: DictConfig, run_dir: str | Path, summary: dict[str, Any] | None) -> dict[str, Any] | None:
    """Run the rank-0-only work after training (the end evaluation) in a fresh process; return the
    summary it completed.

    Call it once every training process has exited (in the Hydra process, or on rank 0 under an
    outside launcher). Nothing runs for an interrupted run or with ``eval.at_end=false``. If the
    process fails, the run keeps its summary and the failure is recorded in it as ``evaluation``.
    """
    if not summary or summary.get("status") != "completed" or not cfg.eval.get("at_end") or machine_rank_of(cfg) > 0:
        return summary
    run_dir = Path(run_dir)
    result_dir = Path(summary.get("run_dir") or run_dir)
    if not config_file(run_dir).is_file():  # training ran in this process: nothing wrote it yet
        write_worker_config(cfg, run_dir)
    log_path = run_dir / AFTER_TRAINING_LOG
    rc, tail, signum = _run_streaming(after_training_command(run_dir, result_dir), log_path, after_training_env())
    summary_path = result_dir / "summary.json"
    updated = json.loads(summary_path.read_text()) if summary_path.is_file() else dict(summary)
    if rc == 0 and signum is None and "evaluation" in updated:
        return updated
    how = f"interrupted by signal {signum}" if signum is not None else _failure_message(
        "python -m argen.worker --after-training", rc, tail, log_path, what="end-of-training evaluation")
    from argen.evaluation.end_of_training import redo_command

    updated["evaluation"] = {
        "dir": str(result_dir / "eval"),
        "error": how,
        "headline": f"eval failed ({how}); redo it with: {redo_command(result_dir)}",
    }
    write_atomic(summary_path, json.dumps(updated, indent=2, default=str))
    if signum is not None:
        raise SystemExit(128 + signum)
    return updated


def _result_dir(cfg: DictConfig, run_dir: Path) -> Path:
    """Where rank 0 writes the summary: the run dir, or the original one when resuming."""
    resume = cfg.get("resume", False)
    if resume in (False, None, "false", "False", ""):
        return run_dir
    from argen.training.resume import resolve_resume

    resolved = resolve_resume(resume, run_dir)
    return resolved[0] if resolved else run_dir


def _run_streaming(cmd: Sequence[str], log_path: Path, env: dict[str, str]) -> tuple[int, list[str], int | None]:
    """Run ``cmd`` in its own process group, copying its output to our stdout and ``log_path``.

    Returns the exit status, the last lines of output, and the signal (SIGINT/SIGTERM) we
    received and forwarded while it ran, if any.
    """
    tail: collections.deque[str] = collections.deque(maxlen=400)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    partial = ""
    # Flushed as it arrives: a long run's progress shows up as it happens. Read in chunks rather
    # than lines so progress bars that redraw with "\r" still redraw in a terminal.
    # Unbuffered: a write the disk refuses leaves nothing behind that closing the file would retry.
    with open(log_path, "ab", buffering=0) as log_file:
        log: Any = log_file
        log.write(f"$ {' '.join(cmd)}\n".encode())
        proc = subprocess.Popen(
            list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
            # Its own session: a failure or an interrupt can stop the whole tree (launcher + ranks).
            start_new_session=True,
            # The run dir's lock goes with it: held while any of them still writes (argen.data.run_lock).
            pass_fds=held_lock_fds(),
        )
        with _forward_signals(proc) as received:
            assert proc.stdout is not None
            while chunk := proc.stdout.read1(65536):
                text = decoder.decode(chunk)
                sys.stdout.write(text)
                sys.stdout.flush()
                if log is not None:
                    try:
                        log.write(chunk)
                    except OSError as exc:  # a full disk: the output still reaches stdout, the run goes on
                        print(f"argen: {log_path} cannot be written ({exc.strerror or exc}); its output is only on "
                              "stdout from here", file=console(), flush=True)
                        log = None
                lines = (partial + text).replace("\r", "\n").split("\n")
                partial = lines.pop()
                tail.extend(line for line in lines if line.strip())
            rc = proc.wait()
        if partial.strip():
            tail.append(partial)
        sys.stdout.flush()
    return rc, list(tail), (int(received[0]) if received else None)


@contextlib.contextmanager
def _forward_signals(proc: subprocess.Popen) -> Iterator[list[int]]:
    """While the workers run, pass SIGINT/SIGTERM on to their process group (they checkpoint and stop).

    torchrun's agent (also inside ``accelerate launch``) gives its ranks 30 s after a SIGTERM
    before it kills them: enough to write a checkpoint of the models this project trains.
    """
    received: list[int] = []

    def forward(signum, _frame):
        received.append(signum)
        if len(received) > 1 and _signal_ranks_directly(proc.pid, signum):
            return  # the agent passed the first signal on; the next ones go to the ranks alone
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signum)

    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, forward)
    except ValueError:  # not the main thread: signals cannot be handled here, nothing to forward
        previous = {}
    try:
        yield received
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if proc.poll() is None:
            # Give the ranks time to save, then make sure nothing is left behind.
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _signal_ranks_directly(launcher_pid: int, signum: int) -> bool:
    """Send ``signum`` to the launcher's descendants in sessions of their own (torchrun's ranks);
    False when there are none (one worker process, in the launcher's own group).

    torchrun's agent (also inside ``accelerate launch``) starts each rank in a new session and
    passes the first signal on to them; a second one, which tells the ranks to stop at once
    (argen.training.preemption), it does not pass on reliably (it may kill them 30 s after the
    first, or send them a SIGTERM that would then be their third signal).
    """
    import psutil

    try:
        children = psutil.Process(launcher_pid).children(recursive=True)
    except psutil.Error:
        return False
    sent = False
    for child in children:
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            if os.getpgid(child.pid) != launcher_pid:
                os.kill(child.pid, signum)
                sent = True
    return sent


# The exception line of a Python traceback, as torch prints it from a rank ("[rank0]: ValueError: ...").
_EXCEPTION_LINE = re.compile(r"^(?:\[rank\d+\]:\s*)?((?:[\w.]+\.)?\w*(?:Error|Exception|Interrupt)(?::\s.*)?)$")
_WORKER_ERROR = re.compile(r"^(?:\[rank\d+\]:\s*)?" + re.escape(WORKER_MODULE) + r": error: (.*)$")


def _failure_message(label: str, rc: int, tail: Sequence[str], log_path: Path, what: str = "training workers") -> str:
    """Exit code, the workers' own one-line error (or the exception they died of), and the full log."""
    how = f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}"
    reason = None
    for pattern in (_WORKER_ERROR, _EXCEPTION_LINE):
        reason = next((m.group(1) for line in reversed(tail) if (m := pattern.match(line.strip()))), None)
        if reason:
            break
    msg = f"{what} failed ({label}, {how})"
    if reason:
        msg += f": {reason}"
    return msg + f"; full output in {log_path}"
