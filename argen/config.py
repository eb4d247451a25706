"""Validate a composed run config before anything slow starts.

Every check names the config key at fault. :func:`validate_train_config` runs in the Hydra
process, before a model, a dataset or an accelerator is touched, and in multi-process runs
before any worker starts.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from argen.data.scenarios import Scenario, bundled_path, load_scenarios
from argen.errors import ConfigError
from argen.models import check_model_config
from argen.rewards.registry import check_reward_config

LOGGING_BACKENDS = ("none", "wandb")
# GRPOConfig fields the framework sets from other groups: a user setting them under grpo.* would be ignored.
MANAGED_GRPO_FIELDS = ("output_dir", "seed", "report_to", "reward_weights", "bf16", "use_cpu", "run_name")


def to_plain(node: Any) -> Any:
    """A resolved plain-Python copy of a config node."""
    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=True)
    return node


@functools.lru_cache(maxsize=1)
def grpo_config_fields() -> frozenset[str]:
    """Names GRPOConfig accepts (importing trl is slow-ish but loads no model)."""
    from trl import GRPOConfig

    return frozenset(f.name for f in dataclasses.fields(GRPOConfig))


def check_grpo_config(grpo: Mapping[str, Any], num_processes: int) -> None:
    """GRPO hyperparameters: known field names, beta >= 0, and TRL's batch arithmetic."""
    known = grpo_config_fields() | {"beta_schedule"}  # beta_schedule: ArGen's, stripped before GRPOConfig
    for key in grpo:
        if key not in known:
            raise ConfigError(f"grpo.{key}", "is not a GRPOConfig field (see docs/config.md for the list)")
        if key in MANAGED_GRPO_FIELDS:
            raise ConfigError(f"grpo.{key}", "is set by ArGen from other config groups; do not set it here")
    beta = grpo.get("beta", 0.0)
    if beta is None or beta < 0:
        raise ConfigError("grpo.beta", f"must be >= 0, got {beta}")
    lr = grpo.get("learning_rate", 1e-6)
    if lr is None or lr <= 0:
        raise ConfigError("grpo.learning_rate", f"must be > 0, got {lr}")
    num_generations = int(grpo.get("num_generations", 8))
    if num_generations < 2:
        raise ConfigError("grpo.num_generations", f"must be >= 2 (GRPO compares completions within a group), got {num_generations}")
    per_device = int(grpo.get("per_device_train_batch_size", 8))
    if per_device < 1:
        raise ConfigError("grpo.per_device_train_batch_size", f"must be >= 1, got {per_device}")
    global_batch = per_device * num_processes
    steps_per_gen = grpo.get("steps_per_generation") or grpo.get("gradient_accumulation_steps", 1)
    gen_batch = grpo.get("generation_batch_size")
    if gen_batch is not None and grpo.get("steps_per_generation") is not None:
        raise ConfigError("grpo.generation_batch_size", "set either it or grpo.steps_per_generation, not both")
    if gen_batch is None:
        gen_batch = global_batch * int(steps_per_gen)
        key = "grpo.per_device_train_batch_size"
        how = f"per_device_train_batch_size ({per_device}) x processes ({num_processes}) x steps_per_generation ({steps_per_gen})"
    else:
        key = "grpo.generation_batch_size"
        how = f"generation_batch_size {gen_batch}"
        if gen_batch % global_batch:
            raise ConfigError(key, f"{gen_batch} must be divisible by the global batch {global_batch} (per device x processes)")
    if gen_batch % num_generations:
        raise ConfigError(
            key,
            f"the generation batch ({how} = {gen_batch}) must be divisible by grpo.num_generations ({num_generations})",
        )
    if grpo.get("max_completion_length", 1) is not None and int(grpo.get("max_completion_length", 1)) < 1:
        raise ConfigError("grpo.max_completion_length", "must be >= 1")


_PACKAGE_DIR = Path(__file__).resolve().parent
# The configs: inside the package when argen is installed from a wheel (setup.py ships conf/ as
# argen/conf), else the repository's top-level conf/ (a source checkout or an editable install).
CONF_DIR = str(_PACKAGE_DIR / "conf" if (_PACKAGE_DIR / "conf" / "train.yaml").is_file() else _PACKAGE_DIR.parent / "conf")
# The directory holding conf/: relative paths in the config that are not found from the working
# directory (e.g. hardware.accelerate_config: conf/accelerate/ddp.yaml) are looked up here.
REPO_ROOT = Path(CONF_DIR).parent
# external: the processes were started by an outside launcher (set by argen.train, not by users).
LAUNCHERS = ("none", "torchrun", "accelerate", "external")


def resolve_config_path(value: Any) -> Path:
    """A file named in the config: absolute as given; relative to the working directory if it
    exists there, else relative to the repository root (so runs work from any directory)."""
    path = Path(str(value)).expanduser()
    if path.is_absolute() or path.exists():
        return path.resolve() if path.exists() else path
    return REPO_ROOT / path


def check_hardware_config(hw: Mapping[str, Any]) -> int:
    """Return the number of processes after checking the hardware node."""
    n = hw.get("num_processes", 1)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError("hardware.num_processes", f"must be a positive integer, got {n!r}")
    launcher = hw.get("launcher") or "none"
    if launcher not in LAUNCHERS:
        raise ConfigError("hardware.launcher", f"must be one of {', '.join(LAUNCHERS)}, got {launcher!r}")
    if n > 1 and launcher == "none":
        raise ConfigError("hardware.launcher", f"must be torchrun (CPU) or accelerate (GPUs) to start {n} processes, got none")
    if launcher == "accelerate" and hw.get("use_cpu"):
        # Accelerate's CPU launcher needs mpirun for more than one process (see docs/sweeps.md).
        raise ConfigError("hardware.launcher", "accelerate launch starts only one CPU process without mpirun: use launcher=torchrun on a CPU (hardware=cpu_ddp2)")
    cfg_file = hw.get("accelerate_config")
    if launcher == "accelerate" and not cfg_file:
        raise ConfigError("hardware.accelerate_config", "is required when hardware.launcher=accelerate (see conf/accelerate/)")
    if cfg_file and not resolve_config_path(cfg_file).is_file():
        raise ConfigError("hardware.accelerate_config", f"file {cfg_file} does not exist (looked in {Path.cwd()} and {REPO_ROOT})")
    return n


VLLM_MODES = ("colocate", "server")


def check_generation_backend(cfg: DictConfig) -> None:
    """vLLM generation (grpo.use_vllm) needs a GPU, a known mode and the vllm package."""
    grpo = cfg.grpo
    if not grpo.get("use_vllm", False):
        return
    mode = grpo.get("vllm_mode", "colocate")
    if mode not in VLLM_MODES:
        raise ConfigError("grpo.vllm_mode", f"must be one of {', '.join(VLLM_MODES)}, got {mode!r}")
    if cfg.hardware.get("use_cpu"):
        raise ConfigError("grpo.use_vllm", f"vLLM generates on GPUs; hardware={cfg.hardware.get('name')} runs on the CPU")
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise ConfigError("grpo.use_vllm", "needs the vllm package on the GPU machine: "
                          "pip install -e '.[gpu]' (vllm 0.22.0-0.31.0, the range TRL 1.16 supports)")


def check_eval_config(ev: Mapping[str, Any]) -> None:
    for key in ("limit", "max_new_tokens", "batch_size"):
        value = ev.get(key)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"eval.{key}", f"must be a positive integer, got {value!r}")
    every = ev.get("every_n_steps", 0)
    if not isinstance(every, int) or every < 0:
        raise ConfigError("eval.every_n_steps", f"must be an integer >= 0, got {every!r}")
    if ev.get("require_path") and not ev.get("path") and (ev.get("at_end") or every):
        # An experiment that names no default benchmark (experiment=paper_llama1b).
        raise ConfigError("eval.path", "is required here: add eval.path=/path/to/benchmark.jsonl (the scenarios to evaluate on)")
    temp = ev.get("temperature", 0.2)
    if temp is None or temp < 0:
        raise ConfigError("eval.temperature", f"must be >= 0, got {temp}")


def scenario_path(data: Mapping[str, Any], split: str) -> Path:
    """The configured scenario file, or the bundled set for ``split``."""
    return Path(str(data["path"])) if data.get("path") else bundled_path(split)


def load_configured_scenarios(data: Mapping[str, Any], split: str) -> list[Scenario]:
    """Load (and fully validate) the scenarios a command uses."""
    limit = data.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ConfigError("data.limit", f"must be a positive integer or null, got {limit!r}")
    return load_scenarios(scenario_path(data, split), limit)


def check_no_missing_values(cfg: DictConfig) -> None:
    """A mandatory value (``???``, e.g. ``model=local`` without ``model.path``) left unset."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(missing[0], f"is required and has no value: add {missing[0]}=... on the command line")


def validate_train_config(cfg: DictConfig) -> None:
    """Every check a training run needs before it loads anything heavy. Raises ArgenError."""
    check_no_missing_values(cfg)
    check_model_config(to_plain(cfg.model))
    check_reward_config(to_plain(cfg.reward))
    n = check_hardware_config(to_plain(cfg.hardware))
    check_grpo_config(to_plain(cfg.grpo), n)
    check_eval_config(to_plain(cfg.eval))
    _check_watching(cfg)
    backend = cfg.logging.get("backend", "none")
    if backend not in LOGGING_BACKENDS:
        raise ConfigError("logging.backend", f"must be one of {', '.join(LOGGING_BACKENDS)}, got {backend!r}")
    check_generation_backend(cfg)
    if cfg.model.get("lora") and not _has_peft():
        raise ConfigError("model.lora", "needs the peft package: pip install -e '.[gpu]'")
    # Reading the scenario files is cheap and finds every bad line here, in the Hydra process,
    # before any worker starts (the runner reads them again where they are used).
    load_configured_scenarios(cfg.data, "train")
    if cfg.eval.get("at_end") or cfg.eval.get("every_n_steps"):
        load_configured_scenarios({"path": cfg.eval.get("path"), "limit": cfg.eval.get("limit")}, "eval")


def _has_peft() -> bool:
    import importlib.util

    return importlib.util.find_spec("peft") is not None


def _check_watching(cfg: DictConfig) -> None:
    """Periodic evaluation, adaptive weights, the beta schedule and the completions log (docs/watching.md)."""
    from argen.training.adaptive_weights import check_adaptive_config
    from argen.training.beta_schedule import check_beta_schedule
    from argen.training.completions_log import check_completions_config
    from argen.training.periodic_eval import check_periodic_eval_config

    check_periodic_eval_config(to_plain(cfg.eval))
    check_adaptive_config(to_plain(cfg.reward))
    check_beta_schedule(to_plain(cfg.grpo))
    check_completions_config(to_plain(cfg.get("completions")))
