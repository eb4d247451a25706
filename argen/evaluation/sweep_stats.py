"""Paired statistics for a sweep: is each job's change more than noise?

Two comparisons, each where the data supports it (both need the per-scenario rows of the
end-of-training evaluation, ``JOB/eval/{base,trained}/responses.jsonl``, i.e. ``eval.at_end=true``):

- **lift**: each job's trained model against its own base model, on the same scenarios
  (``lift_*`` columns). Every job of a sweep can be judged this way, baseline or not.
- **vs baseline**: each job's trained model against the baseline job's trained model (the first
  job unless told otherwise), scenario by scenario (``vs_baseline_*`` columns), with a full
  comparison report per job in ``SWEEP_DIR/vs_baseline/JOB/compare.md`` (per principle, tier and
  scope). Refused, with the reason in the table, when the two were scored by different judges or
  rubrics or answered different scenario files.

Jobs without evaluation rows get no test: their training rewards are single-run numbers (each
step draws different prompts), and the summary says so rather than show a bare difference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from argen.errors import ArgenError
from argen.evaluation.paired_stats import compare_rows, from_dict
from argen.evaluation.summary import SCORE_KEYS
from argen.types import PRINCIPLES

VS_BASELINE_DIR = "vs_baseline"


def eval_dir(job_dir: Path, label: str) -> Path | None:
    """``JOB/eval/<label>`` when it holds evaluation rows."""
    path = job_dir / "eval" / label
    return path if (path / "responses.jsonl").is_file() else None


def _columns(prefix: str, stats: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {f"{prefix}_n": stats["n_pairs"]}
    for key in SCORE_KEYS:
        r = stats["overall"][key]
        out[f"{prefix}_{key}"] = r["mean_diff"]
        out[f"{prefix}_{key}_ci_low"] = r["ci_low"]
        out[f"{prefix}_{key}_ci_high"] = r["ci_high"]
        out[f"{prefix}_{key}_p"] = r["p_value"]
    combined = from_dict(stats["overall"]["combined"])
    out[f"{prefix}_verdict"] = combined.describe()
    return out


def lift_columns(job_dir: Path) -> dict[str, Any]:
    """The job's trained-vs-base paired tests as columns (empty without evaluation rows)."""
    from argen.evaluation.compare import check_comparable, load_run

    base, trained = eval_dir(job_dir, "base"), eval_dir(job_dir, "trained")
    if base is None or trained is None:
        return {}
    try:
        runs = [load_run(base), load_run(trained)]
        check_comparable(runs)
    except ArgenError as err:
        return {"lift_verdict": f"not tested: {err}"}
    stats = compare_rows(runs[0].rows, runs[1].rows, score_keys=SCORE_KEYS, violation_keys=(*PRINCIPLES, "any"))
    return _columns("lift", stats)


def baseline_columns(rows: Sequence[dict[str, Any]], job_dirs: Sequence[Path], sweep_dir: Path,
                     baseline: str | None = None) -> str | None:
    """Add ``vs_baseline_*`` columns to ``rows`` (one per job dir, same order) and write each job's
    comparison report; returns the baseline job's name (None when it has no evaluation rows)."""
    from argen.evaluation.compare import compare_runs

    names = [d.name for d in job_dirs]
    if baseline is not None and baseline not in names:
        raise ArgenError(f"baseline job {baseline!r} is not a job of {sweep_dir} (jobs: {', '.join(names)})")
    base_name = baseline if baseline is not None else (names[0] if names else None)
    if base_name is None:
        return None
    base_dir = eval_dir(job_dirs[names.index(base_name)], "trained")
    if base_dir is None:
        return None
    for row, job in zip(rows, job_dirs):
        if job.name == base_name:
            row["vs_baseline_verdict"] = "baseline"
            continue
        trained = eval_dir(job, "trained")
        if trained is None:
            continue
        try:
            result = compare_runs([base_dir, trained], sweep_dir / VS_BASELINE_DIR / job.name,
                                  labels=[f"job {base_name}", f"job {job.name}"])
        except ArgenError as err:
            row["vs_baseline_verdict"] = f"not tested: {err}"
            continue
        row.update(_columns("vs_baseline", result["stats"][f"job {job.name}"]))
        row["vs_baseline_report"] = str(Path(VS_BASELINE_DIR) / job.name / "compare.md")
    return base_name


def markdown_section(rows: Sequence[Mapping[str, Any]], baseline: str | None) -> list[str]:
    """The summary.md section with each job's tests (combined score; all scores in summary.csv)."""
    tested = [r for r in rows if r.get("lift_verdict") or r.get("vs_baseline_verdict")]
    out = ["", "## Is each job's change more than noise?", ""]
    if not tested:
        out.append("No job has per-scenario evaluation rows (`eval/base`, `eval/trained`: run with "
                   "`eval.at_end=true`), so nothing here is tested: the reward columns above are single-run "
                   "training numbers and differences between them are not evidence of an effect.")
        return out
    out += ["Paired over the evaluation scenarios (mean difference of the combined score, 95% bootstrap "
            "interval, n, Wilcoxon signed-rank; significant means p < 0.05). **lift**: the job's trained "
            "model minus its base model. **vs baseline**: the job's trained model minus the trained model of "
            + (f"job {baseline}" if baseline is not None else "the baseline job (which has no evaluation rows: not tested)")
            + ". Per-principle columns are in summary.csv; per principle, tier and scope in each job's "
            f"`eval/compare.md` (lift) and `{VS_BASELINE_DIR}/<job>/compare.md` (vs baseline).", "",
            "| job | overrides | lift (trained - base) | vs baseline |", "|---|---|---|---|"]
    for r in rows:
        overrides = str(r.get("overrides") or "").replace("|", "\\|")
        out.append(f"| {r['job']} | {overrides} | {r.get('lift_verdict') or 'not tested (no evaluation rows)'} "
                   f"| {r.get('vs_baseline_verdict') or 'not tested (no evaluation rows)'} |")
    return out
