"""Prompts measured in tokens against the room the model has for them, before any model loads.

A scenario file limits a prompt to 20,000 characters when it is read, but a model sees tokens: the
system prompt and the chat template's own tokens included. A prompt longer than the model's
positions minus the tokens kept for the answer (``grpo.max_completion_length`` in training,
``eval.max_new_tokens`` / ``max_new_tokens`` in evaluation) runs past the position embeddings.

ArGen refuses such a file; it does not truncate. A prompt cut to fit loses its start or its end,
so the policy would answer, and the judge would score, a different question from the one in the
file. The error names the file and line of the longest prompt, its tokens, the room there is
and how many prompts are too long. The tokenizer is cheap to load; the model is not loaded yet.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from argen.data.dataset import chat_prompt
from argen.data.scenarios import Scenario, iter_jsonl
from argen.errors import ConfigError, DataError

# A tokenizer's model_max_length above this is its "no limit" placeholder (1e30), not a context.
_NO_LIMIT = 10**8


def model_context(model_path: str | Path, tokenizer: Any = None, limit: int | None = None) -> int | None:
    """Positions the model has (``max_position_embeddings`` or its synonyms), at most ``limit``
    (e.g. vLLM's ``vllm_max_model_length``); a LoRA adapter dir is read through its base model."""
    from transformers import AutoConfig

    path = Path(str(model_path))
    try:
        source = str(model_path)
        adapter = path / "adapter_config.json"
        if adapter.is_file() and not (path / "config.json").is_file():
            source = json.loads(adapter.read_text())["base_model_name_or_path"]
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no readable config here: loading the model reports what is wrong
    context = next((v for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
                    if isinstance(v := getattr(config, name, None), int) and v > 0), None)
    if context is None and tokenizer is not None and 0 < int(getattr(tokenizer, "model_max_length", 0) or 0) < _NO_LIMIT:
        context = int(tokenizer.model_max_length)
    if limit:
        context = min(context, int(limit)) if context else int(limit)
    return context


def prompt_tokens(tokenizer: Any, system_prompt: str | None, prompt: str) -> int:
    """Tokens of one scenario as the policy sees it: system prompt, chat template, generation prompt."""
    messages = chat_prompt(system_prompt, prompt)
    if getattr(tokenizer, "chat_template", None):
        encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    else:
        encoded = tokenizer("\n".join(m["content"] for m in messages))
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
    return len(ids)


def _line_of(path: Path, scenario: Scenario) -> int | None:
    """The file line of a scenario (its id is ``line-N`` unless the file gave one)."""
    if scenario.id.startswith("line-") and scenario.id[5:].isdigit():
        return int(scenario.id[5:])
    for line, obj in iter_jsonl(path):
        if str(obj.get("id")) == scenario.id:
            return line
    return None


def check_prompt_lengths(scenarios: Sequence[Scenario], path: str | Path, *, tokenizer: Any, system_prompt: str | None,
                         context: int | None, reserve: int, reserve_key: str) -> None:
    """Refuse scenarios whose prompt does not fit ``context - reserve`` tokens (see the module docstring)."""
    if not context:
        return  # a model that states no context: nothing to check against
    room = context - reserve
    if room < 1:
        raise ConfigError(reserve_key, f"{reserve:,} tokens for the answer leave no room for a prompt: the model has "
                          f"{context:,} positions")
    over = [(n, s) for s in scenarios if (n := prompt_tokens(tokenizer, system_prompt, s.prompt)) > room]
    if not over:
        return
    tokens, worst = max(over, key=lambda pair: pair[0])
    more = f"; {len(over) - 1} more prompt{'s are' if len(over) > 2 else ' is'} too long" if len(over) > 1 else ""
    raise DataError(path, f"the prompt is {tokens:,} tokens with the system prompt and chat template, more than the "
                    f"{room:,} the model has for it ({context:,} positions - {reserve_key} {reserve:,}){more}; "
                    f"shorten it{f', or lower {reserve_key}' if tokens < context else ''}", _line_of(Path(path), worst))


def check_training_prompts(settings: Any, model_path: str, tokenizer: Any, scenarios: Sequence[Scenario],
                           eval_scenarios: Sequence[Scenario] | None, max_completion_length: int) -> None:
    """The training scenarios against ``grpo.max_completion_length``; the evaluation scenarios (when
    the run evaluates) against ``eval.max_new_tokens``."""
    from argen.config import scenario_path

    vllm_limit = settings.grpo.trl.get("vllm_max_model_length") if settings.grpo.use_vllm else None
    context = model_context(model_path, tokenizer, vllm_limit)
    system_prompt = settings.data.system_prompt
    check_prompt_lengths(scenarios, scenario_path({"path": settings.data.path}, "train"), tokenizer=tokenizer,
                         system_prompt=system_prompt, context=context, reserve=int(max_completion_length),
                         reserve_key="grpo.max_completion_length")
    if eval_scenarios:
        check_prompt_lengths(eval_scenarios, scenario_path({"path": settings.eval.path}, "eval"), tokenizer=tokenizer,
                             system_prompt=system_prompt, context=context, reserve=int(settings.eval.max_new_tokens or 0),
                             reserve_key="eval.max_new_tokens")


def check_evaluation_prompts(model_path: str, scenarios: Sequence[Scenario], path: str | Path, system_prompt: str | None,
                             max_new_tokens: int) -> None:
    """``argen.evaluate``: the scenarios against the model's positions minus ``max_new_tokens``."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    check_prompt_lengths(scenarios, path, tokenizer=tokenizer, system_prompt=system_prompt,
                         context=model_context(model_path, tokenizer), reserve=int(max_new_tokens),
                         reserve_key="max_new_tokens")
