"""Compose TRL's GRPOConfig from the grpo, hardware, model and logging groups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from argen.config_schema import TrainConfig, grpo_config_fields
from argen.errors import ConfigError


def checkpointing_field(fields: frozenset[str] | set[str]) -> str:
    """The name of the activation (gradient) checkpointing flag in this transformers' TrainingArguments.

    transformers 5.21 renamed ``gradient_checkpointing`` to ``activation_checkpointing`` and keeps
    the old name as a deprecated alias until v6; 5.17 to 5.20 (what vLLM 0.31's pin resolves to)
    know only the old name. So the name is taken from the installed field set, not assumed.
    """
    return "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"


def grpo_kwargs(settings: TrainConfig | Any, run_dir: Path, reward_weights: list[float]) -> dict[str, Any]:
    """Keyword arguments for GRPOConfig (plain data, so tests can check them without trl).

    ``settings``: the run's typed config (a composed config is parsed first). Every key is a field
    of the installed GRPOConfig (:func:`~argen.config_schema.grpo_config_fields`).
    """
    if not isinstance(settings, TrainConfig):
        settings = TrainConfig.parse(settings)
    # Only GRPOConfig fields: the schema keeps grpo.beta_schedule (ArGen's) apart. A callback
    # applies the schedule; TRL gets its start value as beta, so the reference model is loaded
    # exactly when the schedule starts above 0.
    kwargs: dict[str, Any] = dict(settings.grpo.trl)
    if settings.grpo.beta_schedule.start is not None:
        kwargs["beta"] = settings.grpo.beta_schedule.start
    hw = settings.hardware
    kwargs.update(
        output_dir=str(run_dir / "checkpoints"),
        seed=settings.seed,
        data_seed=settings.seed,
        reward_weights=list(reward_weights),
        report_to=["wandb"] if settings.logging.backend == "wandb" else [],
        bf16=hw.bf16,
        use_cpu=hw.use_cpu,
        run_name=str(run_dir.name),
        # ArGen logs its own metrics file; TRL's completion tables are opt-in via grpo.log_completions.
        disable_tqdm=False,
    )
    # Always explicit: TRL's GRPOConfig turns checkpointing on by default, which only costs time on
    # a small model. Its name depends on the transformers version (checkpointing_field).
    kwargs.setdefault(checkpointing_field(grpo_config_fields()), settings.model.gradient_checkpointing)
    kwargs.setdefault("save_only_model", False)  # optimizer + scheduler + RNG, so resume continues exactly
    return kwargs


def build_grpo_config(settings: TrainConfig, run_dir: Path, reward_weights: list[float]):
    """The GRPOConfig for this run."""
    from trl import GRPOConfig

    return GRPOConfig(**grpo_kwargs(settings, run_dir, reward_weights))


def longest_prompt_tokens(tokenizer: Any, dataset: Any) -> int:
    """Tokens of the longest training prompt, chat template and generation prompt included."""
    longest = 0
    for row in dataset:
        text = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False)
        longest = max(longest, len(tokenizer(text, add_special_tokens=False)["input_ids"]))
    return longest


def vllm_context_length(grpo: Any, longest_prompt: int) -> int:
    """vLLM's context length (GRPOConfig.vllm_max_model_length) for a run whose longest prompt
    takes ``longest_prompt`` tokens.

    ``grpo.vllm_max_model_length`` when set, checked: a prompt plus ``max_completion_length`` that
    does not fit would fail inside vLLM mid-run. Unset: exactly what the run needs, since vLLM
    would otherwise reserve the model's whole context (131,072 tokens for Llama-3.2) in KV cache.
    """
    completion = int(grpo.trl.get("max_completion_length") or 512)  # TRL 1.16 default: 512
    needed = longest_prompt + completion
    set_to = grpo.trl.get("vllm_max_model_length")
    if set_to is None:
        return needed
    if int(set_to) < needed:
        raise ConfigError("grpo.vllm_max_model_length",
                          f"{set_to} tokens do not hold the longest training prompt ({longest_prompt} tokens) plus "
                          f"grpo.max_completion_length ({completion}): set it to at least {needed}")
    return int(set_to)
