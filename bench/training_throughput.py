"""Training throughput of the default run, shortened: tokens/s, seconds per step, peak RSS.

Runs ``python -m argen.train grpo.max_steps=N eval.at_end=false eval.every_n_steps=0`` with every other setting at
its default (SmolLM2-135M-Instruct, the balanced reward over the heuristic judge and the Rego
policies, 8 completions of up to 64 tokens per step, CPU). The default run has 28 steps and
evaluates the base and trained model at the end; this one stops after N steps (6; 3 with
``--quick``) and skips the evaluation, so its per-step figures are the default run's, its total
time is not.

Figures (steady state: the first step, which warms up, is left out):

- ``s_per_step``: wall seconds between the first and the last step's logged row, per step;
- ``cpu_s_per_step``: the training process's CPU seconds over the same span, per step (less
  disturbed by other processes on a shared machine);
- ``tokens_per_s``: prompt + completion tokens TRL counted (``num_tokens``) over that span per
  wall second; ``completion_tokens_per_s`` the generated tokens alone;
- ``peak_rss_mb``: the training process's peak resident memory (``wait4``'s ``ru_maxrss``);
- ``first_step_logged_s``: from process start to the first step's row (imports, model load,
  first step).

Run: ``python -m bench.training_throughput [--quick]`` (prints the metrics as JSON).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from argen.data.jsonl import read_records
from bench._proc import StepWatcher, run_child, seconds_per_step, training_rows


def _prepare_model() -> str:
    """Convert the packaged SmolLM2 once before timing anything (a no-op when it is cached)."""
    from omegaconf import OmegaConf

    from argen.config import CONF_DIR
    from argen.models import resolve_model

    return resolve_model(OmegaConf.to_container(OmegaConf.load(Path(CONF_DIR) / "model" / "smollm2.yaml")))


def run(quick: bool = False) -> dict[str, Any]:
    """Train the default configuration for a few steps and report its throughput and memory."""
    steps = 3 if quick else 6
    _prepare_model()
    with tempfile.TemporaryDirectory(prefix="argen-bench-throughput-") as tmp:
        run_dir = Path(tmp) / "run"
        watcher = StepWatcher(run_dir / "metrics.jsonl")
        # Periodic evaluation (on by default) runs between steps: kept out of the training throughput.
        args = [sys.executable, "-m", "argen.train", f"grpo.max_steps={steps}", "eval.at_end=false",
                "eval.every_n_steps=0", f"hydra.run.dir={run_dir}"]
        launched = time.monotonic()
        child = run_child(args, Path(tmp) / "train.log", poll=watcher.poll)
        if child.returncode != 0:
            raise RuntimeError(f"argen.train failed (exit {child.returncode}):\n{child.output_tail}")
        rows = read_records(run_dir / "metrics.jsonl")
        config = (run_dir / "config.yaml").read_text()
    timing = seconds_per_step(rows, watcher.cpu_at_step)
    steps_rows = training_rows(rows)
    first, last = steps_rows[0], steps_rows[-1]
    span = float(last["wall_s"]) - float(first["wall_s"])
    tokens = float(last["num_tokens"]) - float(first["num_tokens"])
    later = steps_rows[1:]
    # completions/mean_length is per completion; each step generates batch-size completions.
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(config)
    completions = int(cfg.grpo.per_device_train_batch_size) * int(cfg.grpo.gradient_accumulation_steps)
    completion_tokens = sum(float(r["completions/mean_length"]) * completions for r in later)
    out: dict[str, Any] = {
        "run": f"default config, shortened: grpo.max_steps={steps}, eval.at_end=false, eval.every_n_steps=0",
        "model": str(cfg.model.name),
        "steps": steps,
        "completions_per_step": completions,
        "max_completion_length": int(cfg.grpo.max_completion_length),
        "s_per_step": round(timing["wall_s_per_step"], 3),
        "trl_step_time_s": round(timing["trl_step_time"], 3),
        "tokens_per_s": round(tokens / span, 1),
        "completion_tokens_per_s": round(completion_tokens / span, 1),
        "peak_rss_mb": child.peak_rss_mb,
        "first_step_logged_s": round(watcher.seen_at[int(first["step"])] - launched, 1) if watcher.seen_at else None,
        "total_wall_s": round(child.wall_s, 1),
    }
    if "cpu_s_per_step" in timing:
        out["cpu_s_per_step"] = round(timing["cpu_s_per_step"], 3)
    return out


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
