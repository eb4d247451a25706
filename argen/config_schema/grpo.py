"""``grpo``: the GRPOConfig fields TRL receives, and ArGen's beta schedule beside them."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from argen.config_schema.base import to_plain
from argen.config_schema.values import _frozen, _mapping, is_number, one_of
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
}
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
        """Known field names, beta >= 0, learning rate > 0, and TRL's batch arithmetic."""
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
