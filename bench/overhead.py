"""Framework overhead: ``python -m argen.train`` against GRPOTrainer called directly.

Both sides train the same tiny model (conf/model/tiny.yaml: 2 layers, 64 hidden, SmolLM2's
tokenizer) from the same seed on the same bundled scenarios, on the CPU, with identical
GRPOConfig settings: the default run's batch shape (8 completions per step, 4 per prompt)
with shorter completions. The settings are checked, not assumed: after each ArGen run its
GRPOConfig arguments are rebuilt from the run's saved config.yaml and compared with the bare
side's; any difference stops the benchmark.

Sides (each a fresh process, alternated, the order rotated every repetition):

- ``argen``: ``python -m argen.train`` with its default reward (three principle rewards over the
  heuristic judge, the bundled Rego policies and the rubric) and everything the framework adds:
  Hydra config, validation, async reward adapters with sub-score logging, the callbacks
  (resources, beta schedule, completions log, metrics.jsonl, latest-checkpoint pointer,
  preemption guard).
- ``bare`` (:mod:`bench.bare_trl`): GRPOTrainer with three plain synchronous reward functions
  over the same heuristic judge and rubric, *without* the policies. This is the headline
  comparison: policy evaluation counts as framework overhead.
- ``bare_scorer`` (full runs only): the same, with ArGen's full Scorer (policies included), so
  both sides compute identical rewards; the ratio against it is ArGen's plumbing alone.

Timing (:func:`bench._proc.seconds_per_step`): a step's cost is the wall time between its
logged row and the previous one (process start, model load and the warm-up first step left
out); each run gives the median over its steps, each side the median over repetitions. The
same is done with the process's CPU seconds (read from /proc as each row appears:
``overhead_ratio_cpu``), with each run's fastest step (``overhead_ratio_fastest_step``) and with
TRL's own ``step_time`` (``overhead_ratio_trl_step_time``). On a shared machine the wall-time
ratio carries the noise of other processes: the per-repetition figures are reported too.
Checkpoints are saved only at the last step, after its row is logged, so no save is timed.

Profiled estimate (:func:`profile_split`, ``overhead_ratio_profiled``): one more run of
``argen`` and ``bare`` under cProfile; within each run, the share of the training loop spent
in the hooks where the sides differ (rewards, step callbacks, logging) against the rest (the
model work both share). Other processes slow both parts of one run alike, so the ratio
``(1 + share_argen) / (1 + share_bare)`` holds still where the end-to-end ratios do not.

``ARGEN_BENCH_KEEP=DIR`` keeps every run's log, rows and profile in DIR.

Run: ``python -m bench.overhead [--quick]`` (prints the metrics as JSON).
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

SEED = 42
DATA_LIMIT = 64
# GRPOConfig settings of both sides (max_steps and save_steps are added per run).
GRPO: dict[str, Any] = {
    "learning_rate": 1.0e-5,
    "beta": 0.0,
    "num_generations": 4,
    "per_device_train_batch_size": 8,
    "gradient_accumulation_steps": 1,
    "max_completion_length": 32,
    "temperature": 1.0,
    "num_train_epochs": 1,
    "warmup_steps": 0,
    "lr_scheduler_type": "constant",
    "loss_type": "dapo",
    "scale_rewards": "group",
    "logging_steps": 1,
    "save_strategy": "steps",
    "save_total_limit": 1,
    "use_vllm": False,
    "vllm_mode": "colocate",
}
# ArGen's default reward (conf/reward/balanced.yaml), in its function order.
REWARD_WEIGHTS = [0.3, 0.4, 0.3]
# Settings both sides must agree on but that only one of them names (the ArGen side names none
# of them: they come from its hardware, logging and model groups).
FIXED: dict[str, Any] = {
    "seed": SEED,
    "data_seed": SEED,
    "reward_weights": REWARD_WEIGHTS,
    "report_to": [],
    "bf16": False,
    "use_cpu": True,
    # TRL turns activation (gradient) checkpointing on by default; ArGen sets it from
    # model.gradient_checkpointing, false for the tiny model (its field name: checkpointing_field).
    "disable_tqdm": False,
    "save_only_model": False,
}
# Both sides' environment. ArGen's entry point sets OMP_WAIT_POLICY=PASSIVE (unless already set)
# so that torch's OpenMP threads sleep instead of spinning while they wait: on cores shared with
# other processes a spinning script runs several times slower. Bare TRL gets the same setting, so
# that both sides do the same model work in the same way and only the framework's code differs.
ENV = {"OMP_WAIT_POLICY": "PASSIVE"}
# Fields that name the run's own directories: allowed to differ.
PER_RUN = ("output_dir", "run_name", "logging_dir")


def _override(key: str, value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return f"++grpo.{key}={text}"


def tiny_model() -> tuple[str, str]:
    """The tiny model's path (built once under $ARGEN_CACHE_DIR, as ``model=tiny`` does) and dtype."""
    from omegaconf import OmegaConf

    from argen.config import CONF_DIR
    from argen.models import resolve_model

    node = OmegaConf.to_container(OmegaConf.load(Path(CONF_DIR) / "model" / "tiny.yaml"))
    return resolve_model(node), str(node["dtype"])


def argen_kwargs(run_dir: Path) -> dict[str, Any]:
    """The GRPOConfig arguments an ArGen run used, rebuilt from its saved config.yaml."""
    from omegaconf import OmegaConf

    from argen.training.grpo_args import grpo_kwargs

    cfg = OmegaConf.load(run_dir / "config.yaml")
    weights = [float(cfg.reward.weights[name]) for name in cfg.reward.functions]
    return grpo_kwargs(cfg, run_dir, weights)


def check_same_settings(argen: dict[str, Any], bare: dict[str, Any]) -> None:
    """Raise when the two sides' GRPOConfigs differ in anything but their directories.

    The configs themselves are compared (every field, defaults filled in), so an argument one
    side leaves at its default and the other passes explicitly does not count as a difference.
    """
    import warnings

    from trl import GRPOConfig

    with warnings.catch_warnings():  # transformers warns about deprecated fields it fills in itself
        warnings.simplefilter("ignore", FutureWarning)
        a = {k: v for k, v in GRPOConfig(**argen).to_dict().items() if k not in PER_RUN}
        b = {k: v for k, v in GRPOConfig(**bare).to_dict().items() if k not in PER_RUN}
    diff = {k: (a.get(k, "<unset>"), b.get(k, "<unset>")) for k in sorted(set(a) | set(b)) if a.get(k, "<unset>") != b.get(k, "<unset>")}
    if diff:
        raise RuntimeError(f"the two sides' GRPOConfig settings differ (argen, bare): {diff}")


def _python(profile: Path | None) -> list[str]:
    """The interpreter command, under cProfile (main thread, whole run) when ``profile`` is set."""
    return [sys.executable, "-m", "cProfile", "-o", str(profile)] if profile else [sys.executable]


def _argen_run(work: Path, tag: str, steps: int, profile: Path | None = None) -> dict[str, Any]:
    run_dir = work / tag
    args = [*_python(profile), "-m", "argen.train", "experiment=smoke", f"seed={SEED}", f"data.limit={DATA_LIMIT}",
            "eval.at_end=false", "logging=none", f"hydra.run.dir={run_dir}",
            *(_override(k, v) for k, v in GRPO.items()), _override("max_steps", steps), _override("save_steps", steps)]
    watcher = StepWatcher(run_dir / "metrics.jsonl")
    child = run_child(args, work / f"{tag}.log", env=ENV, poll=watcher.poll)
    if child.returncode != 0:
        raise RuntimeError(f"argen.train failed (exit {child.returncode}):\n{child.output_tail}")
    rows = _read_rows(run_dir / "metrics.jsonl")
    return {"timing": seconds_per_step(rows, watcher.cpu_at_step), "rewards": _rewards(rows),
            "kwargs": argen_kwargs(run_dir), "rss": child.peak_rss_mb}


def _bare_run(work: Path, tag: str, steps: int, reward: str, model: tuple[str, str], profile: Path | None = None) -> dict[str, Any]:
    out_dir = work / tag
    from argen.config_schema import grpo_config_fields
    from argen.training.grpo_args import checkpointing_field

    kwargs = {**GRPO, "max_steps": steps, "save_steps": steps, **FIXED, checkpointing_field(grpo_config_fields()): False,
              "output_dir": str(out_dir / "checkpoints"), "run_name": tag}
    rows_path = work / f"{tag}.rows.jsonl"
    spec = {"model_path": model[0], "dtype": model[1], "data_limit": DATA_LIMIT, "reward": reward,
            "grpo_kwargs": kwargs, "rows": str(rows_path), "out": str(work / f"{tag}.json")}
    spec_path = work / f"{tag}.spec.json"
    spec_path.write_text(json.dumps(spec))
    watcher = StepWatcher(rows_path)
    child = run_child([*_python(profile), "-m", "bench.bare_trl", str(spec_path)], work / f"{tag}.log", env=ENV,
                      poll=watcher.poll)
    if child.returncode != 0:
        raise RuntimeError(f"bench.bare_trl failed (exit {child.returncode}):\n{child.output_tail}")
    rows = _read_rows(rows_path)
    return {"timing": seconds_per_step(rows, watcher.cpu_at_step), "rewards": _rewards(rows),
            "kwargs": json.loads(Path(spec["out"]).read_text())["grpo_kwargs"], "rss": child.peak_rss_mb}


def profile_split(path: Path) -> dict[str, float]:
    """Split a profiled run's training loop into the part the two sides share and the rest.

    From a cProfile dump of the main thread: ``loop_s`` is all the time in ``Trainer._run_epoch``
    (every step: generation, rewards, forward, backward, optimizer, callbacks, logging, saving);
    ``hooks_s`` the part spent where the sides differ: TRL's reward calculation (ArGen's async
    adapters, judge, policies and sub-score logging, or the bare sync functions; TRL waits there
    for async rewards run on its loop thread, so their time is counted too), the callback events
    around each step, and logging (the callbacks' ``on_log``/``on_save`` included, the checkpoint
    itself not). Code both sides run identically may sit in ``hooks_s``: it cancels out in the
    ratio of the two sides' shares.
    """
    import inspect
    import pstats

    from transformers import Trainer
    from transformers.trainer_callback import CallbackHandler
    from trl import GRPOTrainer

    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]

    def cum(fn) -> float:
        code = inspect.unwrap(fn).__code__
        return float(stats.get((code.co_filename, code.co_firstlineno, code.co_name), (0, 0, 0, 0.0))[3])

    hooks = (cum(GRPOTrainer._calculate_rewards) + cum(Trainer._maybe_log_save_evaluate) - cum(Trainer._save_checkpoint)
             + sum(cum(getattr(CallbackHandler, event)) for event in
                   ("on_step_begin", "on_pre_optimizer_step", "on_optimizer_step", "on_substep_end", "on_step_end")))
    loop = cum(Trainer._run_epoch)
    if loop <= 0 or hooks <= 0:
        raise RuntimeError(f"{path}: the profile has no training loop or hooks (transformers/TRL renamed them?)")
    return {"loop_s": loop, "hooks_s": hooks}


def _read_rows(path: Path) -> list[dict[str, Any]]:
    return read_records(path)


def _rewards(rows: list[dict[str, Any]]) -> list[float] | None:
    """Each step's logged mean reward, in step order (None when a step logged none)."""
    steps = [r for r in rows if isinstance(r.get("step_time"), (int, float))]
    values = [r.get("reward") for r in steps]
    return [float(v) for v in values] if steps and all(isinstance(v, (int, float)) for v in values) else None


def run(quick: bool = False) -> dict[str, Any]:
    """Median seconds per step of ArGen and of bare TRL, alternated, and their ratio."""
    reps = 1 if quick else 5
    steps = 5 if quick else 10
    sides = ["argen", "bare"] if quick else ["argen", "bare", "bare_scorer"]
    model = tiny_model()
    timings: dict[str, list[dict[str, float]]] = {s: [] for s in sides}
    rss: dict[str, list[float]] = {s: [] for s in sides}
    rewards: dict[str, list[list[float] | None]] = {s: [] for s in sides}
    settings: dict[str, dict[str, Any]] = {}
    # ARGEN_BENCH_KEEP=DIR keeps every run's logs and rows there (for looking into a figure).
    keep = os.environ.get("ARGEN_BENCH_KEEP")
    with tempfile.TemporaryDirectory(prefix="argen-bench-overhead-") as tmp:
        work = Path(keep) if keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for rep in range(reps):
            order = sides[rep % len(sides):] + sides[: rep % len(sides)]  # rotate: no side always runs first
            for side in order:
                tag = f"{side}-{rep}"
                if side == "argen":
                    res = _argen_run(work, tag, steps)
                else:
                    res = _bare_run(work, tag, steps, "judge" if side == "bare" else "scorer", model)
                timings[side].append(res["timing"])
                rss[side].append(res["rss"])
                rewards[side].append(res["rewards"])
                settings[side] = res["kwargs"]
            for side in sides[1:]:
                check_same_settings(settings["argen"], settings[side])
        # One more run of each headline side under cProfile: the share of each step spent in the
        # code where the sides differ, measured within one process, so other processes' load
        # scales both parts of the split alike.
        split: dict[str, dict[str, float]] = {}
        for side in ("argen", "bare"):
            prof = work / f"{side}-profiled.prof"
            if side == "argen":
                _argen_run(work, f"{side}-profiled", steps, profile=prof)
            else:
                _bare_run(work, f"{side}-profiled", steps, "judge", model, profile=prof)
            split[side] = profile_split(prof)

    def med(side: str, key: str) -> float | None:
        values = [t[key] for t in timings[side] if key in t]
        return statistics.median(values) if len(values) == len(timings[side]) else None

    def ratio(side: str, key: str) -> float | None:
        a, b = med("argen", key), med(side, key)
        return round(a / b, 3) if a is not None and b else None

    def runs(side: str, key: str) -> str:
        return ", ".join(f"{t[key]:.3f}" for t in timings[side] if key in t)

    out: dict[str, Any] = {
        "model": "tiny llama (2 layers, 64 hidden, SmolLM2 tokenizer), CPU",
        "completions_per_step": GRPO["per_device_train_batch_size"],
        "max_completion_length": GRPO["max_completion_length"],
        "steps_per_run": steps,
        "repetitions": reps,
        "bare_reward": "heuristic judge + rubric, no policies (3 sync functions)",
        "argen_s_per_step": round(med("argen", "wall_s_per_step"), 4),
        "bare_s_per_step": round(med("bare", "wall_s_per_step"), 4),
        "overhead_ratio": ratio("bare", "wall_s_per_step"),
        "overhead_ratio_cpu": ratio("bare", "cpu_s_per_step"),
        "overhead_ratio_fastest_step": ratio("bare", "wall_s_per_step_min"),
        "overhead_ratio_trl_step_time": ratio("bare", "trl_step_time"),
        # Each repetition's two runs ran close together in time: the median of their ratios
        # follows a machine whose load changes between repetitions better than a ratio of medians.
        "overhead_ratio_paired": round(statistics.median(
            a["wall_s_per_step"] / b["wall_s_per_step"] for a, b in zip(timings["argen"], timings["bare"], strict=True)), 3),
    }
    # The profiled estimate: both sides share the rest of the loop (the model work), so with
    # share = hooks / rest, ArGen's cost over bare TRL's is (1 + share_argen) / (1 + share_bare).
    share = {side: v["hooks_s"] / (v["loop_s"] - v["hooks_s"]) for side, v in split.items()}
    out["overhead_ratio_profiled"] = round((1 + share["argen"]) / (1 + share["bare"]), 4)
    for side in ("argen", "bare"):
        out[f"{side}_hooks_ms_per_step_profiled"] = round(split[side]["hooks_s"] / steps * 1000, 1)
        out[f"{side}_hooks_share_profiled"] = round(split[side]["hooks_s"] / split[side]["loop_s"], 4)
    for side in sides:
        if side != "bare" and side != "argen":
            out[f"{side}_s_per_step"] = round(med(side, "wall_s_per_step"), 4)
            out[f"overhead_ratio_vs_{side}"] = ratio(side, "wall_s_per_step")
            out[f"overhead_ratio_cpu_vs_{side}"] = ratio(side, "cpu_s_per_step")
    for side in sides:
        cpu = med(side, "cpu_s_per_step")
        out[f"{side}_cpu_s_per_step"] = round(cpu, 4) if cpu is not None else None
    for side in sides:
        out[f"{side}_runs_s_per_step"] = runs(side, "wall_s_per_step")
        out[f"{side}_runs_cpu_s_per_step"] = runs(side, "cpu_s_per_step")
    # How far apart a side's repetitions were: the wall-time ratio says little when this is
    # larger than the overhead being measured.
    out["wall_rep_spread"] = round(max(
        (max(v) - min(v)) / statistics.median(v) for v in ([t["wall_s_per_step"] for t in timings[s]] for s in sides)), 3) if reps > 1 else None
    for side in sides:
        out[f"{side}_peak_rss_mb"] = max(rss[side])
    # Same seed, same settings, same scorer: every step's mean reward matches when both sides
    # generated the same completions, i.e. did the same model work. Against the policy-free
    # side it also matches unless a policy penalised one of the completions.
    for side in sides[1:]:
        out[f"same_rewards_as_{side}"] = all(a is not None and a == b for a, b in zip(rewards["argen"], rewards[side], strict=True))
    return out


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
