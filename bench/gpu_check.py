"""Device check for a machine with one CUDA GPU: does every GPU path of ArGen train end to end?

``make gpu-check`` (or ``python -m bench.gpu_check [--out FILE]``) runs each case below as a real
``python -m argen.train experiment=smoke ...`` (the tiny random Llama, 2 GRPO steps, the offline
heuristic judge; SmolLM2-135M for vLLM, which needs a real head size), then checks what the run
left behind. It prints one PASS / FAIL / SKIP line per case with its reason and writes every
result to a JSON file (default ``outputs/gpu-check/gpu_check.json``). It stops starting cases
when its 8-minute budget runs out (those are reported as SKIP).

Cases: ``hardware=gpu`` with bf16; DDP with 1 process through ``accelerate launch``; DeepSpeed
ZeRO-2; ZeRO-3 with the end-of-training evaluation on; FSDP with periodic evaluation on; LoRA;
vLLM colocate (only if vllm is installed). One GPU cannot run two ranks (NCCL refuses two ranks
on one device), so the multi-process lockstep of periodic evaluation is not exercised here.

Without a GPU it prints one SKIPPED line, writes ``{"skipped": true, ...}`` and exits 0.
Exit status: 0 when no case failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from argen.data.jsonl import read_records

REPO = Path(__file__).resolve().parents[1]
BUDGET_S = 8 * 60
CASE_TIMEOUT_S = 240
# Every case: the smoke run (tiny model, 2 steps, heuristic judge), bf16 from the GPU hardware options.
BASE = ["experiment=smoke", "judge=heuristic", "logging=none"]


@dataclass
class Case:
    name: str
    overrides: list[str]
    needs: str | None = None  # a package the case needs; without it the case is skipped
    checks: list[Callable[[Path, dict[str, Any]], str | None]] = field(default_factory=list)


def _completed(run_dir: Path, summary: dict[str, Any]) -> str | None:
    if summary.get("status") != "completed" or summary.get("steps") != 2:
        return f"summary says status={summary.get('status')} steps={summary.get('steps')}, expected completed, 2"
    return None


def _bf16(run_dir: Path, summary: dict[str, Any]) -> str | None:
    import yaml

    hw = (yaml.safe_load((run_dir / "config.yaml").read_text()) or {}).get("hardware", {})
    return None if hw.get("bf16") and not hw.get("use_cpu") else f"config.yaml has hardware {hw}, expected bf16 on the GPU"


def _launched_by_accelerate(run_dir: Path, summary: dict[str, Any]) -> str | None:
    log = run_dir / "workers.log"
    first = log.read_text().splitlines()[0] if log.is_file() else ""
    return None if "accelerate.commands.launch" in first else f"workers.log does not start with an accelerate launch: {first[:120]!r}"


def _end_evaluation(run_dir: Path, summary: dict[str, Any]) -> str | None:
    ev = summary.get("evaluation") or {}
    if not ev or ev.get("error"):
        return f"end-of-training evaluation missing or failed: {ev.get('error') or 'no evaluation in summary.json'}"
    if not (run_dir / "after_training.log").is_file() or not (run_dir / "eval" / "trained" / "responses.jsonl").is_file():
        return "the evaluation did not run in its own process (no after_training.log or eval/trained/responses.jsonl)"
    return None


def _periodic_evaluation(run_dir: Path, summary: dict[str, Any]) -> str | None:
    rows = read_records(run_dir / "metrics.jsonl")
    steps = sorted({r.get("step") for r in rows if "eval/combined" in r or "eval/unscored_frac" in r})
    return None if steps[:1] == [0] and 2 in steps else f"periodic evaluation logged at steps {steps}, expected 0, 1, 2"


def _lora_adapter(run_dir: Path, summary: dict[str, Any]) -> str | None:
    return None if (run_dir / "final_model" / "adapter_config.json").is_file() else "final_model/ holds no LoRA adapter"


CASES = [
    Case("gpu_bf16", ["hardware=gpu"], checks=[_bf16]),
    Case("ddp_1_process_accelerate", ["hardware=ddp", "hardware.num_processes=1"], checks=[_launched_by_accelerate]),
    Case("zero2", ["hardware=zero2", "hardware.num_processes=1"], needs="deepspeed", checks=[_launched_by_accelerate]),
    Case("zero3_end_eval", ["hardware=zero3", "hardware.num_processes=1", "eval.at_end=true", "eval.limit=2",
                            "eval.max_new_tokens=8"], needs="deepspeed", checks=[_end_evaluation]),
    Case("fsdp_periodic_eval", ["hardware=fsdp", "hardware.num_processes=1", "eval.every_n_steps=1", "eval.limit=2",
                                "eval.max_new_tokens=8"], checks=[_periodic_evaluation]),
    Case("lora", ["hardware=gpu", "model.lora=true"], needs="peft", checks=[_lora_adapter]),
    Case("vllm_colocate", ["hardware=gpu", "model=smollm2", "grpo.use_vllm=true", "grpo.vllm_mode=colocate",
                           "+grpo.vllm_gpu_memory_utilization=0.3"], needs="vllm"),
]


def case_command(case: Case, run_dir: Path) -> list[str]:
    """The training command of one case (pure)."""
    return [sys.executable, "-m", "argen.train", *BASE, *case.overrides, f"hydra.run.dir={run_dir}"]


def gpu_reason() -> str | None:
    """Why this machine cannot run the check (no CUDA GPU), or None."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        seen = os.environ.get("CUDA_VISIBLE_DEVICES")
        return "no CUDA GPU visible (torch.cuda.is_available() is False" + (f", CUDA_VISIBLE_DEVICES={seen}" if seen is not None else "") + ")"
    return None


def run_case(case: Case, work: Path, timeout_s: float) -> dict[str, Any]:
    """Run one case; returns its result (status PASS | FAIL | SKIP, reason, seconds, run_dir)."""
    if case.needs and importlib.util.find_spec(case.needs) is None:
        return {"status": "SKIP", "reason": f"the {case.needs} package is not installed (pip install -e '.[gpu]')"}
    run_dir = work / case.name
    log = work / f"{case.name}.log"
    started = time.monotonic()
    with open(log, "w") as out:
        try:
            rc = subprocess.run(case_command(case, run_dir), cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                timeout=timeout_s).returncode
        except subprocess.TimeoutExpired:
            rc = None
    result: dict[str, Any] = {"seconds": round(time.monotonic() - started, 1), "run_dir": str(run_dir), "log": str(log)}
    if rc != 0:
        tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:] or ["(no output)"]
        how = f"timed out after {timeout_s:.0f} s" if rc is None else f"exit {rc}"
        return {**result, "status": "FAIL", "reason": f"{how}: {tail[0][:300]}"}
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
        problems = [p for check in (_completed, *case.checks) if (p := check(run_dir, summary))]
    except (OSError, ValueError, KeyError, IndexError) as exc:
        problems = [f"could not read the run's files: {type(exc).__name__}: {exc}"]
    if problems:
        return {**result, "status": "FAIL", "reason": "; ".join(problems)}
    return {**result, "status": "PASS", "reason": f"trained {summary['steps']} steps, world size {summary.get('world_size')}"}


def main(argv: list[str] | None = None) -> int:
    """Run the cases (or skip them all without a GPU); print one line each and write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "outputs" / "gpu-check" / "gpu_check.json"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"skipped": False, "cases": {}}
    reason = gpu_reason()
    if reason is not None:
        print(f"gpu-check: SKIPPED: {reason}; run it on a machine with one CUDA GPU", flush=True)
        report.update(skipped=True, reason=reason)
        out.write_text(json.dumps(report, indent=2))
        return 0
    import torch

    report["gpu"] = torch.cuda.get_device_name(0)
    deadline = time.monotonic() + BUDGET_S
    for case in CASES:
        left = deadline - time.monotonic()
        if left < 30:
            result = {"status": "SKIP", "reason": f"not started: the {BUDGET_S // 60}-minute budget is spent"}
        else:
            result = run_case(case, out.parent, min(CASE_TIMEOUT_S, left))
        report["cases"][case.name] = {"overrides": case.overrides, **result}
        print(f"{result['status']} {case.name}: {result['reason']}" + (f" ({result['seconds']} s)" if "seconds" in result else ""),
              flush=True)
        out.write_text(json.dumps(report, indent=2))  # after every case: a killed check keeps what it found
    counts = {s: sum(r["status"] == s for r in report["cases"].values()) for s in ("PASS", "FAIL", "SKIP")}
    print(f"gpu-check: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped; results in {out}", flush=True)
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
