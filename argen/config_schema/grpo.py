"""``grpo``: the GRPOConfig fields TRL receives, and ArGen's beta schedule beside them."""

from __future__ import annotations

import functools
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from argen.config_schema.base import to_plain
from argen.config_schema.values import Range, _frozen, _mapping, check_type, in_range, is_number, one_of
from argen.errors import ConfigError

# GRPOConfig fields the framework sets from other groups: a user setting them under grpo.* would be
# ignored. Each names the key that sets it.
MANAGED_GRPO_FIELDS = {
    "output_dir": "hydra.run.dir", "seed": "seed", "report_to": "logging.backend", "reward_weights": "reward.weights",
    "bf16": "hardware.bf16", "use_cpu": "hardware.use_cpu", "run_name": "hydra.run.dir",
    # Named differently by transformers 5.17-5.20 and 5.21+ (argen.training.grpo_args.checkpointing_field).
    "gradient_checkpointing": "model.gradient_checkpointing", "activation_checkpointing": "model.gradient_checkpointing",
    # The policy's dtype and device (argen.models.policy_init_kwargs).
    "model_init_kwargs": "model.dtype",
    # Set by argen.training.grpo_args: the data order follows the run's seed, the console is ArGen's.
    "data_seed": "seed", "disable_tqdm": "logging.verbose (ArGen's console)",
}
# ArGen's own keys under grpo (not GRPOConfig fields): split off into typed fields, never passed to TRL.
ARGEN_GRPO_KEYS = ("beta_schedule",)
BETA_KINDS = ("constant", "linear", "cosine")
VLLM_MODES = ("colocate", "server")


# Ranges ArGen knows for the numeric GRPOConfig fields a user sets (TRL checks few of them, and
# late: after the model has loaded). The type of every field comes from TRL's own annotations.
GRPO_RANGES: Mapping[str, Range] = MappingProxyType({
    "learning_rate": Range(0, low_open=True),
    "beta": Range(0),
    "num_generations": Range(2),  # GRPO compares completions within a group
    "per_device_train_batch_size": Range(1),
    "gradient_accumulation_steps": Range(1),
    "steps_per_generation": Range(1),
    "generation_batch_size": Range(1),
    "max_completion_length": Range(1),
    "temperature": Range(0, low_open=True),  # transformers refuses <= 0 at the first generation
    "top_p": Range(0, 1, low_open=True),
    "top_k": Range(0),
    "min_p": Range(0, 1),
    "repetition_penalty": Range(0, low_open=True),
    "max_steps": Range(1, also=(-1,)),  # -1: train for num_train_epochs
    "num_train_epochs": Range(0, low_open=True),
    "warmup_steps": Range(0),
    "epsilon": Range(0),
    "epsilon_high": Range(0),
    "delta": Range(0, low_open=True),
    "num_iterations": Range(1),
    "logging_steps": Range(0, low_open=True),
    "save_steps": Range(0, low_open=True),
    "eval_steps": Range(0, low_open=True),
    "save_total_limit": Range(1),
    "weight_decay": Range(0),
    "max_grad_norm": Range(0),
    "adam_beta1": Range(0, 1, high_open=True),
    "adam_beta2": Range(0, 1, high_open=True),
    "adam_epsilon": Range(0, low_open=True),
    "vllm_gpu_memory_utilization": Range(0, 1, low_open=True),
    "vllm_max_model_length": Range(1),
    "vllm_tensor_parallel_size": Range(1),
    "num_completions_to_print": Range(0),
})
# Plain-``str`` GRPOConfig fields that take one of a few values (TRL raises on a wrong one only
# inside the training loop, or never). Each set is stated in the field's help text.
GRPO_CHOICES: Mapping[str, tuple[Any, ...]] = MappingProxyType({
    "loss_type": ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"),
    "scale_rewards": ("group", "batch", "none", True, False),  # TRL maps true/false to group/none
    "vllm_mode": VLLM_MODES,
    "importance_sampling_level": ("token", "sequence"),
    "multi_objective_aggregation": ("sum_then_normalize", "normalize_then_sum"),
})


@functools.lru_cache(maxsize=1)
def grpo_field_types() -> Mapping[str, Any]:
    """Every GRPOConfig field and its type, resolved from TRL's (and transformers') own annotations
    (importing trl is slow-ish but loads no model)."""
    from trl import GRPOConfig

    return MappingProxyType(typing.get_type_hints(GRPOConfig))


def grpo_config_fields() -> frozenset[str]:
    """Names GRPOConfig accepts."""
    return frozenset(grpo_field_types())


def check_grpo_value(key: str, value: Any) -> Any:
    """One GRPOConfig field's value: TRL's type, then ArGen's choices and range; a ConfigError on ``grpo.<key>``."""
    name = f"grpo.{key}"
    if key in GRPO_CHOICES:
        if not any(value == c and type(value) is type(c) for c in GRPO_CHOICES[key]):
            shown = ", ".join(str(c).lower() if isinstance(c, bool) else str(c) for c in GRPO_CHOICES[key])
            raise ConfigError(name, f"must be one of {shown}, got {value!r}")
        return value
    check_type(value, grpo_field_types()[key], name)
    if key in GRPO_RANGES:
        in_range(value, GRPO_RANGES[key], name)
    return value


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
        one_of(kind, BETA_KINDS, f"{prefix}.kind")
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

    def scenarios_per_step(self, num_processes: int) -> tuple[int, str]:
        """The fewest scenarios a training step needs, and how that number is made.

        TRL's sampler draws ``generation_batch_size / num_generations`` distinct prompts for each
        generation and drops an incomplete last group, so fewer scenarios than that make an empty
        epoch: zero steps. (One group is enough: the Trainer counts a last, partial gradient
        accumulation as a step.)
        """
        trl = self.trl
        num_generations = int(trl.get("num_generations", 8))
        per_device = int(trl.get("per_device_train_batch_size", 8))
        if trl.get("generation_batch_size") is not None:
            gen_batch = int(trl["generation_batch_size"])
            how = f"generation_batch_size {gen_batch}"
        else:
            per_generation = int(trl.get("steps_per_generation") or trl.get("gradient_accumulation_steps", 1) or 1)
            gen_batch = per_device * num_processes * per_generation
            how = (f"per_device_train_batch_size {per_device} x processes {num_processes} x steps_per_generation "
                   f"{per_generation} = {gen_batch} completions")
        return gen_batch // num_generations, f"{how} / num_generations {num_generations}"

    @classmethod
    def parse(cls, node: Any, num_processes: int) -> "GrpoConfig":
        """Known field names, each value by TRL's type and ArGen's range, and TRL's batch arithmetic."""
        grpo = _mapping(node, "grpo")
        known = grpo_config_fields()
        for key in grpo:
            if key in ARGEN_GRPO_KEYS:
                continue
            if key not in known:
                raise ConfigError(f"grpo.{key}", "is not a GRPOConfig field (see docs/config.md for the list)")
            if key in MANAGED_GRPO_FIELDS:
                raise ConfigError(f"grpo.{key}", f"is set by ArGen from {MANAGED_GRPO_FIELDS[key]}; do not set it here")
        trl = {k: v for k, v in grpo.items() if k not in ARGEN_GRPO_KEYS}
        for key, value in trl.items():  # every key by TRL's own type first, then its range
            check_grpo_value(key, value)
        beta = trl.get("beta", 0.0)
        if beta is None:
            raise ConfigError("grpo.beta", "must be a number >= 0, got None")
        _check_batches(trl, num_processes)
        _check_hub(trl)
        schedule = BetaScheduleConfig.parse(grpo.get("beta_schedule"), beta)
        return cls(trl=_frozen(trl), beta_schedule=schedule)


def _check_hub(grpo: Mapping[str, Any]) -> None:
    """Pushing to the Hub (transformers' own push_to_hub) needs a named repo, and no token in the config."""
    if grpo.get("hub_token"):
        raise ConfigError("grpo.hub_token", "would be written into the run's config.yaml: leave it unset and "
                          "export HF_TOKEN (or run `hf auth login`) instead")
    if grpo.get("push_to_hub") and not grpo.get("hub_model_id"):
        raise ConfigError("grpo.hub_model_id", "grpo.push_to_hub=true needs the repo to push to: "
                          "grpo.hub_model_id=OWNER/NAME")


def _check_batches(grpo: Mapping[str, Any], num_processes: int) -> None:
    # Types and ranges are checked (check_grpo_value); num_generations null is TRL's default 8.
    num_generations = grpo.get("num_generations") or 8
    per_device = grpo.get("per_device_train_batch_size", 8)
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
