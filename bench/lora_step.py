"""A LoRA step against a full fine-tuning step of the default run, side by side: ``lora_step_ratio``.

Sides (each a fresh ``python -m argen.train`` process, alternated, the order rotated every
repetition, so both see the same load):

- ``lora``: the default run (SmolLM2-135M-Instruct, LoRA r 16 on every linear layer), rollouts
  generated with the adapters merged (``model.merge_for_generation=true``, the default);
- ``full``: the same run training every weight (``model.lora=false``);
- ``lora_unmerged`` (full runs only): LoRA with rollouts generated through the adapters, as TRL
  does (``model.merge_for_generation=false``): what the merge saves.

Every side runs the default config shortened (``grpo.max_steps=N``, no end or periodic
evaluation) with every completion forced to its full 64 tokens
(``+grpo.generation_kwargs.min_new_tokens=64``): the sides then generate and backpropagate the
same number of tokens at every step, so the ratio is the cost of the method, not of how long
each policy's answers happen to be.

A step's cost is the interval between consecutive logged rows (:func:`bench._proc.seconds_per_step`:
process start, model load and the warm-up first step left out), the median over a run's steps,
then over a side's repetitions. ``lora_step_ratio`` is LoRA's median over full's (target <= 1.05,
issue 26); ``*_cpu`` the same from the process's CPU seconds; ``*_runs_s_per_step`` each
repetition, for the spread. The machine's 1-minute load is recorded around each run.

Run: ``python -m bench.lora_step [--quick]`` (prints the metrics as JSON).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from argen.data.jsonl import read_records
from bench._proc import StepWatcher, run_child, seconds_per_step

SIDES = {
    "lora": ["model.lora=true", "model.merge_for_generation=true"],
    "full": ["model.lora=false"],
    "lora_unmerged": ["model.lora=true", "model.merge_for_generation=false"],
}
COMMON = ["eval.at_end=false", "eval.every_n_steps=0", "+grpo.generation_kwargs.min_new_tokens=64",
          "grpo.save_strategy=no"]


def _prepare_model() -> None:
    """Convert the packaged SmolLM2 once before timing anything (a no-op when it is cached)."""
    from omegaconf import OmegaConf

    from argen.config import CONF_DIR
    from argen.models import resolve_model

    resolve_model(OmegaConf.to_container(OmegaConf.load(Path(CONF_DIR) / "model" / "smollm2.yaml")))


def _one_run(side: str, steps: int, tmp: Path, rep: int) -> dict[str, Any]:
    run_dir = tmp / f"{side}-{rep}"
    watcher = StepWatcher(run_dir / "metrics.jsonl")
    args = [sys.executable, "-m", "argen.train", f"grpo.max_steps={steps}", *COMMON, *SIDES[side],
            f"hydra.run.dir={run_dir}"]
    load = os.getloadavg()[0]
    child = run_child(args, tmp / f"{side}-{rep}.log", poll=watcher.poll)
    if child.returncode != 0:
        raise RuntimeError(f"{side} run failed (exit {child.returncode}):\n{child.output_tail}")
    timing = seconds_per_step(read_records(run_dir / "metrics.jsonl"), watcher.cpu_at_step)
    return {**timing, "load_before": load, "load_after": os.getloadavg()[0], "peak_rss_mb": child.peak_rss_mb}


def run(quick: bool = False) -> dict[str, Any]:
    """Alternate the sides; report each side's median step and LoRA's ratios to full."""
    steps, reps = (4, 1) if quick else (6, 3)
    sides = ["lora", "full"] if quick else ["lora", "full", "lora_unmerged"]
    _prepare_model()
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    with tempfile.TemporaryDirectory(prefix="argen-bench-lora-") as tmp:
        for rep in range(reps):
            order = sides[rep % len(sides):] + sides[:rep % len(sides)]
            for side in order:
                runs[side].append(_one_run(side, steps, Path(tmp), rep))
                keep = os.environ.get("ARGEN_BENCH_KEEP")
                if keep:
                    Path(keep).mkdir(parents=True, exist_ok=True)
                    (Path(keep) / f"lora_step-{side}-{rep}.json").write_text(json.dumps(runs[side][-1]))
    out: dict[str, Any] = {
        "run": f"default config, {steps} steps, every completion 64 tokens, no evaluation; sides alternated",
        "steps": steps,
        "repetitions": reps,
    }
    med: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for side in sides:
        walls = [r["wall_s_per_step"] for r in runs[side]]
        med[side] = statistics.median(walls)
        out[f"{side}_s_per_step"] = round(med[side], 3)
        out[f"{side}_runs_s_per_step"] = ", ".join(f"{w:.2f}" for w in walls)
        cpus = [r["cpu_s_per_step"] for r in runs[side] if "cpu_s_per_step" in r]
        if len(cpus) == len(walls):
            cpu[side] = statistics.median(cpus)
            out[f"{side}_cpu_s_per_step"] = round(cpu[side], 3)
        out[f"{side}_peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs[side])
    out["lora_step_ratio"] = round(med["lora"] / med["full"], 3)
    if "lora" in cpu and "full" in cpu:
        out["lora_step_ratio_cpu"] = round(cpu["lora"] / cpu["full"], 3)
    if "lora_unmerged" in med:
        out["lora_unmerged_step_ratio"] = round(med["lora_unmerged"] / med["full"], 3)
        if "lora_unmerged" in cpu and "full" in cpu:
            out["lora_unmerged_step_ratio_cpu"] = round(cpu["lora_unmerged"] / cpu["full"], 3)
    loads = [r[k] for rs in runs.values() for r in rs for k in ("load_before", "load_after")]
    out["load_min"], out["load_max"] = round(min(loads), 2), round(max(loads), 2)
    return out


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
