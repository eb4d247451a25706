"""Batched response generation for evaluation, with transformers.

Prompts are built exactly as in training (:func:`argen.data.dataset.chat_prompt` with the
configured system prompt, then the tokenizer's chat template), left-padded so that a batch of
prompts of different lengths can be generated together, and decoded without the prompt.
:func:`generate_batch` is the one generation function: evaluation of a saved model
(:class:`ResponseGenerator`) and the periodic evaluation of the policy during training both
call it with the same :class:`GenerationSettings` (:func:`settings_from_config`).
"""

from __future__ import annotations

import gc
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argen.data.dataset import chat_prompt
from argen.errors import ArgenError


@dataclass(frozen=True)
class GenerationSettings:
    """How responses are sampled. ``temperature`` 0 means greedy decoding."""

    temperature: float = 0.2
    max_new_tokens: int = 256
    batch_size: int = 8
    seed: int = 42
    system_prompt: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "max_new_tokens": self.max_new_tokens,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "system_prompt": self.system_prompt,
        }


def settings_from_config(cfg) -> GenerationSettings:
    """The evaluation's generation settings from a training config (``eval.*``, ``seed``,
    ``data.system_prompt``): the periodic and the end-of-training evaluation use exactly these."""
    ev = cfg.get("eval") or {}
    data = cfg.get("data") or {}
    return GenerationSettings(
        temperature=float(ev.get("temperature", 0.2)),
        max_new_tokens=int(ev.get("max_new_tokens", 96)),
        batch_size=int(ev.get("batch_size", 8)),
        seed=int(cfg.get("seed", 42) or 0),
        system_prompt=data.get("system_prompt"),
    )


@dataclass(frozen=True)
class Generation:
    """One generated response and how many new tokens it took (``truncated``: hit the limit)."""

    text: str
    new_tokens: int
    truncated: bool


def check_checkpoint(path: str | Path) -> Path:
    """A directory ``from_pretrained`` can load (full weights or a LoRA adapter), else ArgenError."""
    p = Path(path)
    if not p.exists():
        raise ArgenError(f"checkpoint {p} does not exist")
    if not p.is_dir():
        raise ArgenError(f"checkpoint {p} is not a directory (expected a saved model directory)")
    if not ((p / "config.json").is_file() or (p / "adapter_config.json").is_file()):
        raise ArgenError(f"checkpoint {p} has neither config.json nor adapter_config.json: not a saved model")
    return p


class ResponseGenerator:
    """A policy model and its tokenizer, loaded once, generating answers batch by batch."""

    def __init__(self, model_path: str | Path, *, dtype: str = "float32", device: str | None = None):
        import torch
        from transformers import AutoTokenizer

        from argen.models import torch_dtype

        self.model_path = str(model_path)
        if device is None:
            device = f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        # Left padding: every prompt ends where generation starts, so a batch decodes correctly.
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if not getattr(self.tokenizer, "chat_template", None):
            raise ArgenError(f"model {self.model_path} has no chat template: evaluation prompts are chats")
        self.model = load_for_generation(self.model_path, torch_dtype(dtype))
        self.model.to(device)
        self.model.eval()

    def prompt_text(self, system_prompt: str | None, user_prompt: str) -> str:
        """The exact text the model is conditioned on for one scenario."""
        return prompt_text(self.tokenizer, system_prompt, user_prompt)

    def generate(self, prompts: Sequence[str], settings: GenerationSettings, batch_key: str = "") -> list[Generation]:
        """Answer one batch of user prompts with :func:`generate_batch`."""
        return generate_batch(self.model, self.tokenizer, prompts, settings, batch_key=batch_key)

    def close(self) -> None:
        """Free the model's memory (the trained model is loaded right after the base model)."""
        import torch

        del self.model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def load_for_generation(path: str | Path, dtype: Any):
    """A saved model ready to generate: full weights as saved, a LoRA adapter merged into its base.

    Merging (W + BA * scale, once) gives the same function as the adapter kept apart, but each
    decode step then reads one weight matrix per linear layer instead of three: on a CPU, where
    decoding is bound by reading weights, an unmerged adapter made the evaluation markedly slower.
    """
    from transformers import AutoModelForCausalLM

    p = Path(path)
    if (p / "adapter_config.json").is_file() and not (p / "config.json").is_file():
        from peft import AutoPeftModelForCausalLM

        return AutoPeftModelForCausalLM.from_pretrained(str(p), dtype=dtype).merge_and_unload()
    return AutoModelForCausalLM.from_pretrained(str(p), dtype=dtype)


def prompt_text(tokenizer, system_prompt: str | None, user_prompt: str) -> str:
    """The exact text a model is conditioned on for one scenario (as in training)."""
    return tokenizer.apply_chat_template(chat_prompt(system_prompt, user_prompt), add_generation_prompt=True, tokenize=False)


def generate_batch(model, tokenizer, prompts: Sequence[str], settings: GenerationSettings, *,
                   batch_key: str = "", synced_gpus: bool = False) -> list[Generation]:
    """Answer one batch of user prompts: the one generation function of every evaluation.

    The end-of-training evaluation, ``argen.evaluate`` and the periodic evaluation during
    training all generate here, so their numbers are comparable: the same prompt text, left
    padding, sampling (``temperature``; top-p 1 and top-k off, whatever the model's own
    generation config says; 0 = greedy), token limit and seeding. Sampling is seeded from
    ``settings.seed`` and ``batch_key`` (the batch's first scenario id), so a resumed
    evaluation, and the same scenarios at a later training step, draw the same random numbers.
    Callers that must not disturb a global random stream fork it around this call.
    ``synced_gpus``: every process keeps stepping until all are done (parameters sharded by
    FSDP or ZeRO-3 make each forward pass a collective).
    """
    import torch

    texts = [prompt_text(tokenizer, settings.system_prompt, p) for p in prompts]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    # Left padding: every prompt ends where generation starts, so a batch decodes correctly.
    # The chat template already starts with the special tokens it needs.
    enc = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
    enc = {k: v.to(device) for k, v in enc.items()}
    kwargs: dict[str, Any] = {"max_new_tokens": int(settings.max_new_tokens), "pad_token_id": pad_id}
    if settings.temperature > 0:
        kwargs.update(do_sample=True, temperature=float(settings.temperature), top_p=1.0, top_k=0)
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    if synced_gpus:
        kwargs["synced_gpus"] = True
    torch.manual_seed(settings.seed + zlib.crc32(batch_key.encode("utf-8")))
    # no_grad, as TRL generates, not inference_mode: the periodic evaluation generates with the
    # training policy, and a tensor created under inference mode (a buffer a module caches, the
    # full parameters FSDP gathers) is an inference tensor that later training steps cannot save
    # for backward.
    with torch.no_grad():
        out = model.generate(**enc, **kwargs)
    new = out[:, enc["input_ids"].shape[1]:]
    eos_ids = _eos_ids(model, tokenizer)
    results = []
    for row in new.tolist():
        # Count tokens up to and including the first end-of-sequence token (the rest is padding).
        n = next((i + 1 for i, t in enumerate(row) if t in eos_ids), len(row))
        ended = bool(row) and row[n - 1] in eos_ids
        text = tokenizer.decode(row[:n], skip_special_tokens=True).strip()
        results.append(Generation(text=text, new_tokens=n, truncated=not ended))
    return results


def _eos_ids(model, tokenizer) -> set[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), tokenizer):
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return ids
