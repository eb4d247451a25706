"""Run one candidate of the default-run study and record what it cost and what it learned.

    .venv/bin/python experiments/default_run_study/study.py NAME [--base-from RUN_DIR] -- OVERRIDE ...

Runs ``python -m argen.train OVERRIDE ...`` into ``outputs/study/NAME`` and appends one row to
``experiments/default_run_study/results/runs.jsonl``: the overrides, wall time of training and of
the end evaluation, s/step, the load average before and after (other processes share the CPU),
the combined lift with its 95% bootstrap CI and Wilcoxon p, and the per-principle deltas.

``--base-from DIR``: copy DIR/eval/base (or DIR itself, an ``argen.evaluate`` run dir) into the new run before it starts, so the end
evaluation finds the base model's answers already there and only generates the trained model's
(the harness resumes a run dir: it skips scenarios with a row). The harness refuses the copy
unless model, judge, rubric, temperature, max_new_tokens and system prompt all match
(``eval_meta.json``); keep seed, eval.batch_size, eval.limit/path and policies the same too
(they are not in that identity). Its wall time is then reported without the base evaluation.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from argen.reporting.metrics import append_jsonl, read_jsonl  # noqa: E402
RESULTS = Path(__file__).resolve().parent / "results" / "runs.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--base-from", default=None)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()

    run_dir = ROOT / "outputs" / "study" / args.name
    if run_dir.exists():
        sys.exit(f"{run_dir} exists: pick another name")
    if args.base_from:
        src = Path(args.base_from)
        src = src / "eval" / "base" if (src / "eval" / "base").is_dir() else src  # a run dir or an eval dir
        shutil.copytree(src, run_dir / "eval" / "base")
        for name in ("summary.json", "report.md"):  # rewritten from the rows by the harness
            (run_dir / "eval" / "base" / name).unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "argen.train", *args.overrides, f"hydra.run.dir={run_dir}"]
    load_before = os.getloadavg()
    started = time.time()
    proc = subprocess.run(cmd, cwd=ROOT)
    wall = time.time() - started
    load_after = os.getloadavg()
    summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").exists() else {}
    ev = summary.get("evaluation") or {}
    stats = ev.get("stats") or {}
    overall = (stats.get("overall") or {})
    combined = overall.get("combined") or {}
    base_meta = _meta(run_dir / "eval" / "base")
    trained_meta = _meta(run_dir / "eval" / "trained")
    steps = summary.get("steps") or 0
    row = {
        "name": args.name,
        "overrides": args.overrides,
        "base_from": args.base_from,
        "rc": proc.returncode,
        "run_dir": str(run_dir.relative_to(ROOT)),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "wall_s": round(wall, 1),
        "train_s": summary.get("wall_s"),
        "steps": steps,
        "s_per_step": round(summary["wall_s"] / steps, 1) if steps and summary.get("wall_s") else None,
        "eval_base_s": base_meta.get("wall_s"), "eval_base_new_rows": base_meta.get("new_rows"),
        "eval_trained_s": trained_meta.get("wall_s"),
        "periodic_eval_s": round(_periodic_seconds(run_dir / "metrics.jsonl"), 1),
        "truncated": {"base": base_meta.get("truncated"), "trained": trained_meta.get("truncated")},
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load_after],
        "n": combined.get("n"),
        "base_combined": combined.get("mean_before"), "trained_combined": combined.get("mean_after"),
        "lift": combined.get("mean_diff"), "ci": [combined.get("ci_low"), combined.get("ci_high")],
        "p": combined.get("p_value"),
        "per_principle": {k: {f: v.get(f) for f in ("mean_diff", "ci_low", "ci_high", "p_value", "n")}
                          for k, v in overall.items()},
        "periodic_trend": ((summary.get("periodic_eval") or {}).get("trend") or {}).get("headline"),
        "headline": ev.get("headline"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    append_jsonl(RESULTS, row)
    print(json.dumps(row, indent=1))
    sys.exit(proc.returncode)


def _periodic_seconds(metrics: Path) -> float:
    if not metrics.exists():
        return 0.0
    rows = read_jsonl(metrics)
    return sum(float(r.get("eval/seconds", 0) or 0) for r in rows)


def _meta(eval_dir: Path) -> dict:
    path = eval_dir / "summary.json"
    if not path.exists():
        return {}
    s = json.loads(path.read_text())
    return s.get("meta", s)


if __name__ == "__main__":
    main()
