"""Rollout generation against this machine's decode limit: how close do the default run's rollouts
come to the speed of reading the weights?

A decode step of a batch reads every weight of the model once (on a CPU the weights do not fit
in cache), whatever the batch size; each step yields one token per sequence. So the fastest a
batch of B sequences can decode is ``B x bandwidth / bytes per step`` tokens per second, where
``bytes per step`` is the model's weights (the tied embedding read once, as the output layer)
plus the KV cache read by attention. This benchmark measures:

- ``bandwidth_gb_s``: memory bandwidth, the best of several large copies (1 GiB source, bytes
  read + bytes written per second), ``torch`` (its threads) and ``numpy`` (one thread), each
  also reported (``bandwidth_torch_gb_s``, ``bandwidth_numpy_gb_s``);
- ``weight_mb``: bytes of SmolLM2-135M's weights in float32; ``kv_mb_mean``: the KV cache read per
  step, averaged over the decode (it grows with every token);
- ``decode_tokens_per_s``: the default run's rollout shape (2 prompts x 4 completions, the bundled
  system prompt, exactly 64 new tokens each, sampling at temperature 1.0), the prefill timed apart
  (a 1-token generation) and taken off, in train mode as TRL generates rollouts, for the merged
  model (what ArGen's LoRA rollouts and a full fine-tuning run decode with) and
  ``decode_tokens_per_s_unmerged`` for the PEFT model with unmerged adapters (TRL's own LoRA path);
- ``decode_limit_tokens_per_s``: ``B x bandwidth / (weights + mean KV)``, and
  ``decode_efficiency`` = measured / limit.

The machine's 1-minute load is recorded: other processes take bandwidth and cores too.
Run: ``python -m bench.decode_limit [--quick]`` (prints the metrics as JSON).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from argen.runtime import quiet_openmp

quiet_openmp()

BATCH_PROMPTS = 2
GENERATIONS = 4
NEW_TOKENS = 64


def bandwidth(repeats: int = 5, size_bytes: int = 1 << 30) -> tuple[float, float]:
    """(torch, numpy) memory bandwidth in GB/s: best of ``repeats`` copies, read + write counted."""
    import numpy as np
    import torch

    src = torch.ones(size_bytes // 4, dtype=torch.float32)
    dst = torch.empty_like(src)
    dst.copy_(src)  # touch every page before timing
    best_torch = min(_timed(lambda: dst.copy_(src)) for _ in range(repeats))
    a = src.numpy()
    b = dst.numpy()
    best_numpy = min(_timed(lambda: np.copyto(b, a)) for _ in range(repeats))
    moved = 2 * size_bytes
    return moved / best_torch / 1e9, moved / best_numpy / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _prompts(tokenizer) -> dict[str, Any]:
    from argen.config import load_configured_scenarios
    from argen.data.dataset import chat_prompt
    from omegaconf import OmegaConf

    from argen.config import CONF_DIR

    data = OmegaConf.to_container(OmegaConf.load(Path(CONF_DIR) / "data" / "bundled.yaml"))
    scenarios = load_configured_scenarios(data, "train")[:BATCH_PROMPTS]
    chats = [chat_prompt(data.get("system_prompt"), s.prompt) for s in scenarios for _ in range(GENERATIONS)]
    texts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chats]
    return tokenizer(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)


def _decode_seconds(model, enc, pad_id: int, repeats: int) -> float:
    """Best decode time of ``NEW_TOKENS - 1`` steps: a full generation minus a 1-token one (the prefill)."""
    import torch

    def gen(n: int) -> float:
        torch.manual_seed(0)
        with torch.no_grad():
            start = time.perf_counter()
            model.generate(**enc, max_new_tokens=n, min_new_tokens=n, do_sample=True, temperature=1.0, top_k=0,
                           top_p=1.0, pad_token_id=pad_id)
            return time.perf_counter() - start

    gen(2)  # warm-up
    prefill = min(gen(1) for _ in range(repeats))
    full = min(gen(NEW_TOKENS) for _ in range(repeats))
    return full - prefill


def run(quick: bool = False) -> dict[str, Any]:
    """Measure bandwidth, the model's bytes per decode step and the rollouts' decode speed."""
    import torch
    from omegaconf import OmegaConf
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from argen.config import CONF_DIR
    from argen.models import resolve_model

    repeats = 1 if quick else 3
    load_before = os.getloadavg()[0]
    bw_torch, bw_numpy = bandwidth(3 if quick else 5)
    bw = max(bw_torch, bw_numpy)
    model_cfg = OmegaConf.to_container(OmegaConf.load(Path(CONF_DIR) / "model" / "smollm2.yaml"))
    path = resolve_model(model_cfg)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).train()  # as TRL generates
    enc = _prompts(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    batch, prompt_len = enc["input_ids"].shape
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())  # a tied matrix counted once
    c = model.config
    kv_per_token = 2 * c.num_hidden_layers * c.num_key_value_heads * (c.hidden_size // c.num_attention_heads) * 4
    mean_context = prompt_len + NEW_TOKENS / 2
    kv_bytes = kv_per_token * mean_context * batch
    steps = NEW_TOKENS - 1
    merged_s = _decode_seconds(model, enc, pad_id, repeats)
    lc = model_cfg["lora_config"]
    peft_model = get_peft_model(model, LoraConfig(r=int(lc["r"]), lora_alpha=int(lc["alpha"]), lora_dropout=0.0,
                                                  target_modules=lc["target_modules"], task_type="CAUSAL_LM")).train()
    unmerged_s = _decode_seconds(peft_model, enc, pad_id, repeats)
    limit = batch * bw * 1e9 / (weight_bytes + kv_bytes)
    measured = batch * steps / merged_s
    return {
        "shape": f"{BATCH_PROMPTS} prompts x {GENERATIONS} completions, {prompt_len} prompt tokens (padded), "
                 f"{NEW_TOKENS} new tokens, float32, {torch.get_num_threads()} torch threads",
        "bandwidth_gb_s": round(bw, 2),
        "bandwidth_torch_gb_s": round(bw_torch, 2),
        "bandwidth_numpy_gb_s": round(bw_numpy, 2),
        "weight_mb": round(weight_bytes / 1e6, 1),
        "kv_mb_mean": round(kv_bytes / 1e6, 1),
        "decode_step_limit_ms": round(1e3 * (weight_bytes + kv_bytes) / (bw * 1e9), 1),
        "decode_step_ms": round(1e3 * merged_s / steps, 1),
        "decode_step_ms_unmerged": round(1e3 * unmerged_s / steps, 1),
        "decode_limit_tokens_per_s": round(limit, 1),
        "decode_tokens_per_s": round(measured, 1),
        "decode_tokens_per_s_unmerged": round(batch * steps / unmerged_s, 1),
        "decode_efficiency": round(measured / limit, 3),
        "unmerged_over_merged": round(unmerged_s / merged_s, 3),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
