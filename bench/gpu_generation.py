"""GPU generation: Llama-3.2-1B-Instruct trained with HF generation against vLLM colocate generation.

Only on a machine with a CUDA GPU and the model: from the hub (or the HF cache), or a local copy
named by ``ARGEN_BENCH_LLAMA_PATH=/path/to/Llama-3.2-1B-Instruct``. Without
one it returns ``{"gpu": "none available", "skipped": true}`` at once, which is what it does on
the CPU machines this project is developed on: these figures have not been measured here.

Each side is ``python -m argen.train experiment=paper_llama1b`` (ArGen's published settings:
12 completions per step, 6 per prompt, up to 256 tokens, beta 0.1 so a reference model is
loaded, two iterations per generation, bf16 on one GPU) with the offline heuristic judge, no
periodic or end-of-run evaluation, stopped after N steps (8; 4 with ``--quick``):

- ``hf_*``: ``grpo.use_vllm=false`` (transformers ``generate``);
- ``vllm_*``: ``grpo.use_vllm=true grpo.vllm_mode=colocate`` (vLLM shares the training GPU;
  needs the ``vllm`` package, else this side is reported as skipped).

Figures per side: ``s_per_step`` (wall seconds between the first and last step's logged row,
per step; the first step warms up and is left out), ``tokens_per_s`` (TRL's prompt + completion
token count over that span), ``torch_peak_mb`` (PyTorch's peak allocation, ArGen's
``resources/gpu_peak_mb``) and ``gpu_used_peak_mb`` (the device's used memory as nvidia-smi
reports it, sampled every second: it includes vLLM's own pool). ArGen reported about 10-12 s per
step on one A100 at these settings.

Run: ``python -m bench.gpu_generation [--quick]`` (prints the metrics as JSON).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

from argen.data.jsonl import read_records
from bench._proc import StepWatcher, run_child, seconds_per_step, training_rows


def gpu_available() -> str | None:
    """The first CUDA GPU's name, or None (checked without importing torch when there is no driver)."""
    if not shutil.which("nvidia-smi"):
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(0)


def _gpu_used_mb() -> float | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
                             capture_output=True, text=True, timeout=10).stdout
        return float(out.strip().splitlines()[0])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


class _Poller:
    """Follows the run's metrics and samples the GPU's used memory once a second."""

    def __init__(self, metrics: Path):
        self.watcher = StepWatcher(metrics)
        self.peak_used_mb: float | None = None
        self._next = 0.0

    def __call__(self, pid: int) -> None:
        self.watcher.poll(pid)
        now = time.monotonic()
        if now >= self._next:
            self._next = now + 1.0
            used = _gpu_used_mb()
            if used is not None:
                self.peak_used_mb = max(used, self.peak_used_mb or 0.0)


def _side(work: Path, tag: str, steps: int, vllm: bool) -> dict[str, Any]:
    run_dir = work / tag
    poller = _Poller(run_dir / "metrics.jsonl")
    args = [sys.executable, "-m", "argen.train", "experiment=paper_llama1b", "judge=heuristic", "logging=none",
            f"grpo.max_steps={steps}", f"grpo.save_steps={steps}", "eval.at_end=false", "eval.every_n_steps=0",
            f"grpo.use_vllm={'true' if vllm else 'false'}", "grpo.vllm_mode=colocate", f"hydra.run.dir={run_dir}"]
    local = os.environ.get("ARGEN_BENCH_LLAMA_PATH")
    if local:  # a local copy of Llama-3.2-1B-Instruct: no hub needed
        args += ["model.source=local", f"model.path={local}"]
    child = run_child(args, work / f"{tag}.log", poll=poller, timeout_s=1500)
    if child.returncode != 0:
        raise RuntimeError(f"{tag}: argen.train failed (exit {child.returncode}):\n{child.output_tail}")
    rows = read_records(run_dir / "metrics.jsonl")
    timing = seconds_per_step(rows)
    steps_rows = training_rows(rows)
    span = float(steps_rows[-1]["wall_s"]) - float(steps_rows[0]["wall_s"])
    tokens = float(steps_rows[-1]["num_tokens"]) - float(steps_rows[0]["num_tokens"])
    torch_peak = [float(r["resources/gpu_peak_mb"]) for r in rows if isinstance(r.get("resources/gpu_peak_mb"), (int, float))]
    return {
        f"{tag}_s_per_step": round(timing["wall_s_per_step"], 3),
        f"{tag}_tokens_per_s": round(tokens / span, 1),
        f"{tag}_torch_peak_mb": round(max(torch_peak), 1) if torch_peak else None,
        f"{tag}_gpu_used_peak_mb": poller.peak_used_mb,
        f"{tag}_peak_rss_mb": child.peak_rss_mb,
    }


def run(quick: bool = False) -> dict[str, Any]:
    """HF against vLLM colocate generation on one GPU; skipped at once without a GPU."""
    gpu = gpu_available()
    if gpu is None:
        return {"gpu": "none available", "skipped": True}
    steps = 4 if quick else 8
    out: dict[str, Any] = {"gpu": gpu, "skipped": False,
                           "model": os.environ.get("ARGEN_BENCH_LLAMA_PATH") or "unsloth/Llama-3.2-1B-Instruct",
                           "settings": "experiment=paper_llama1b (ArGen's GRPO settings), heuristic judge",
                           "steps_per_side": steps}
    with tempfile.TemporaryDirectory(prefix="argen-bench-gpu-") as tmp:
        work = Path(tmp)
        out.update(_side(work, "hf", steps, vllm=False))
        if importlib.util.find_spec("vllm") is None:
            out["vllm_skipped"] = "the vllm package is not installed (pip install -e '.[gpu]')"
        else:
            out.update(_side(work, "vllm", steps, vllm=True))
            out["vllm_speedup"] = round(out["hf_s_per_step"] / out["vllm_s_per_step"], 2)
    return out


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
