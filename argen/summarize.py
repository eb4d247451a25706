"""One table for a whole sweep: ``python -m argen.summarize SWEEP_DIR``.

Reads every job dir of a Hydra multirun (``SWEEP_DIR/0``, ``SWEEP_DIR/1``, ...) and writes into
the sweep dir:

- ``summary.csv`` and ``summary.md``: one row per job with its overrides (from
  ``.hydra/overrides.yaml``), status (``status.json``), steps, the final (last-quarter) mean of
  the total reward and of each reward function (``metrics.jsonl``), the end-of-training
  evaluation scores when the run has them (``summary.json`` ``evaluation``), and wall time;
- paired tests where the jobs have per-scenario evaluation rows: each job's trained model
  against its own base model (``lift_*``) and against the baseline job's (``vs_baseline_*``;
  the first job, or ``--baseline JOB``), see :mod:`argen.evaluation.sweep_stats`;
- a ``flags`` column (and a list under the table) naming what makes a row's numbers doubtful: a
  torn or undecodable ``metrics.jsonl`` line (skipped), an unreadable ``status.json`` or
  ``summary.json``, and the training rewards of a job that did not complete, which are left
  out (they are partial, not final);
- ``summary.png``: the final reward against a numeric swept key (e.g. ``grpo.beta``), one line
  per combination of the other swept keys (e.g. the reward preset); a bar per job otherwise.

The same tables are written at the end of every multirun by :class:`SweepSummaryCallback`
(configured in ``conf/train.yaml`` under ``hydra.callbacks``).
"""

from __future__ import annotations

import argparse
import csv
import logging
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from argen.errors import ArgenError, DataError, user_errors
from argen.evaluation.sweep_jobs import collect, is_number, job_dirs
from argen.evaluation.sweep_stats import baseline_columns, markdown_section

log = logging.getLogger(__name__)

# Columns every table starts with; score columns follow in the order they are found.
LEAD_COLUMNS = ("job", "overrides", "status", "steps", "reward")
TAIL_COLUMNS = ("wall_s", "error", "flags", "run_dir")

# Evaluation columns the markdown table shows (the CSV has them all).
# Untested deltas stay in the CSV: the markdown shows each change with its paired test instead.
_MD_EVAL = re.compile(r"eval_(base|trained)_(combined|ahimsa|dharma|helpfulness)|eval_(base|trained)_violations_any")


def columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Table columns: lead, per-principle rewards, evaluation scores, tail; per-override columns last."""
    seen: list[str] = []
    for row in rows:
        for key in row:
            if key not in seen:
                seen.append(key)
    middle = [k for k in seen if k not in LEAD_COLUMNS and k not in TAIL_COLUMNS and not k.startswith("override:")]
    rewards = sorted(k for k in middle if k.startswith("reward_"))
    evals = [k for k in middle if k.startswith("eval_")]
    rest = [k for k in middle if k not in rewards and k not in evals]
    overrides = [k for k in seen if k.startswith("override:")]
    return [*LEAD_COLUMNS, *rewards, *evals, *rest, *TAIL_COLUMNS, *overrides]


def write_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """All columns, one row per job."""
    cols = columns(rows)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in cols})
    return path


def common_overrides(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Overrides every job shares (shown once above the table instead of in every row)."""
    if len(rows) < 2:
        return []
    lists = [str(r.get("overrides") or "").split() for r in rows]
    return [o for o in lists[0] if all(o in other for other in lists[1:])]


def _cell(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 120 else text[:119] + "…"


def write_markdown(rows: Sequence[Mapping[str, Any]], path: Path, sweep_dir: Path, plot: Path | None,
                   baseline: str | None = None) -> Path:
    """A readable table (per-override columns left out: the overrides column says it all), then
    each job's paired tests."""
    cols = [c for c in columns(rows) if not c.startswith("override:") and c != "run_dir"
            and (not c.startswith("eval_") or _MD_EVAL.fullmatch(c)) and not c.startswith(("lift_", "vs_baseline_"))]
    done = sum(1 for r in rows if r.get("status") == "completed")
    common = common_overrides(rows)
    lines = [
        f"# Sweep summary: {sweep_dir}",
        "",
        f"{len(rows)} jobs, {done} completed. Rewards are last-quarter means of the training log "
        "(`reward` is the weighted total TRL optimises; `reward_<name>` each reward function's mean). "
        "`eval_*` columns are end-of-training evaluation scores where the run has them (all of them in summary.csv).",
        "",
    ]
    if common:
        lines += [f"Overrides common to every job: `{' '.join(common)}`", ""]
    lines += ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows:
        shown = dict(row, overrides=" ".join(o for o in str(row.get("overrides") or "").split() if o not in common))
        lines.append("| " + " | ".join(_cell(shown.get(c)) for c in cols) + " |")
    flagged = [r for r in rows if r.get("flags")]
    if flagged:
        lines += ["", "## Flags", "", *[f"- job {r['job']}: {r['flags']}" for r in flagged]]
    lines += markdown_section(rows, baseline)
    if plot is not None:
        lines += ["", f"![sweep summary]({plot.name})"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def plot_metric(rows: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """(column, axis label) to plot: an evaluation combined score, else a training reward."""
    done = [r for r in rows if r.get("status") == "completed"]
    for col in ("eval_trained_combined", "eval_combined"):
        if done and all(is_number(r.get(col)) for r in done):
            return col, "eval combined (trained)"
    swept = {k.split(":", 1)[1] for r in rows for k in r if k.startswith("override:")}
    principles = sorted({k for r in done for k in r if k.startswith("reward_")})
    if any(k == "reward" or k.startswith("reward.") for k in swept) and principles:
        # The weighted total is not comparable across weight presets: use the unweighted mean.
        for r in done:
            vals = [r[k] for k in principles if is_number(r.get(k))]
            r["reward_principle_mean"] = round(sum(vals) / len(vals), 4) if vals else None  # type: ignore[index]
        return "reward_principle_mean", "unweighted mean of rewards, last quarter"
    if done and any(is_number(r.get("reward")) for r in done):
        return "reward", "total reward, last quarter"
    return None


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def plot_series(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """What the sweep plot shows, as data: metric, axis label, x key (None: bars) and series.

    The x axis is a numeric swept key (``grpo.beta`` first); every combination of the other
    swept keys (e.g. ``reward=ahimsa_heavy``) is one line. Without a numeric key, one bar per job.
    Failed jobs are left out.
    """
    rows = [dict(r) for r in rows]
    chosen = plot_metric(rows)
    if chosen is None:
        return None
    metric, label = chosen
    done = [r for r in rows if r.get("status") == "completed" and is_number(r.get(metric))]
    if not done:
        return None
    keys = [k for k in columns(done) if k.startswith("override:")]
    varying = [k for k in keys if len({r.get(k) for r in done}) > 1]
    numeric = [k for k in varying if all(_as_float(r.get(k)) is not None for r in done)]
    numeric.sort(key=lambda k: (k != "override:grpo.beta", k))  # beta is the usual numeric sweep
    if not numeric:
        common = common_overrides(done)
        bars = {" ".join(o for o in str(r.get("overrides") or "").split() if o not in common) or f"job {r['job']}":
                float(r[metric]) for r in done}
        return {"metric": metric, "label": label, "x": None, "series": {"jobs": list(bars.items())}}
    x_key = numeric[0]
    others = [k for k in varying if k != x_key]
    series: dict[str, list[tuple[float, float]]] = {}
    for r in done:
        name = " ".join(f"{k.split(':', 1)[1]}={r.get(k)}" for k in others) or "all jobs"
        series.setdefault(name, []).append((_as_float(r.get(x_key)), float(r[metric])))  # type: ignore[arg-type]
    return {"metric": metric, "label": label, "x": x_key.split(":", 1)[1],
            "series": {name: sorted(points) for name, points in series.items()}}


def write_plot(rows: Sequence[Mapping[str, Any]], path: Path) -> Path | None:
    """Draw :func:`plot_series` into a PNG (None when there is nothing to plot)."""
    data = plot_series(rows)
    if data is None:
        return None
    import matplotlib

    matplotlib.use("Agg")  # headless
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    if data["x"] is None:
        labels, values = zip(*data["series"]["jobs"])
        ax.bar(range(len(values)), values, color="tab:blue")
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
        ax.set_xlabel("job")
    else:
        for name, points in data["series"].items():
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
        ax.set_xlabel(data["x"])
        ax.legend(loc="best", fontsize=8)
    ax.set_ylabel(data["label"])
    ax.set_title("Sweep: final reward per job")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def summarize(sweep_dir: str | Path, baseline: str | None = None) -> dict[str, Any]:
    """Write summary.csv, summary.md and summary.png into ``sweep_dir``; return rows and paths.

    ``baseline``: the job the others are tested against (default: the first job)."""
    root = Path(sweep_dir)
    rows = collect(root)
    if not rows:
        raise DataError(str(root), "has no job dirs (expected subdirectories 0, 1, ... written by `python -m argen.train -m`)")
    base = baseline_columns(rows, job_dirs(root), root, baseline)
    plot = write_plot(rows, root / "summary.png")
    return {
        "rows": rows,
        "baseline": base,
        "csv": write_csv(rows, root / "summary.csv"),
        "markdown": write_markdown(rows, root / "summary.md", root, plot, base),
        "plot": plot,
    }


def print_flags(rows: Sequence[Mapping[str, Any]], prog: str) -> None:
    """One line on stderr per job whose row is flagged (a torn file, partial rewards left out)."""
    for row in rows:
        if row.get("flags"):
            print(f"{prog}: warning: job {row['job']}: {row['flags']}", file=sys.stderr, flush=True)


class SweepSummaryCallback(Callback):
    """Hydra callback: summarise the sweep dir when a multirun ends (never fails the sweep)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            result = summarize(sweep_dir)
        except ArgenError as err:
            log.warning("sweep summary not written: %s", err)
            return
        failed = [r["job"] for r in result["rows"] if r["status"] == "failed"]
        print(f"argen: sweep of {len(result['rows'])} jobs summarised in {result['markdown']}", flush=True)
        print_flags(result["rows"], "argen.train")
        if failed:
            # Every job ran; the exit status still says that some failed (make, CI and scripts notice).
            print(f"argen.train: {len(failed)} of {len(result['rows'])} sweep jobs failed: {', '.join(failed)} "
                  f"(status.json in each job dir)", file=sys.stderr, flush=True)
            raise SystemExit(1)
        unevaluated = [r["job"] for r in result["rows"] if "end-of-training evaluation failed" in (r.get("flags") or "")]
        if unevaluated:  # trained, not evaluated: the status a single run gives (3)
            from argen.errors import EXIT_EVALUATION_FAILED

            print(f"argen.train: {len(unevaluated)} of {len(result['rows'])} sweep jobs trained but their end-of-training "
                  f"evaluation failed: {', '.join(unevaluated)} (the flags say how to redo each)", file=sys.stderr, flush=True)
            raise SystemExit(EXIT_EVALUATION_FAILED)


def main(argv: list[str] | None = None) -> int:
    """``python -m argen.summarize SWEEP_DIR``: (re)write the sweep's summary files."""
    parser = argparse.ArgumentParser(prog="python -m argen.summarize", description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dir", help="a multirun dir (its job dirs are 0/, 1/, ...)")
    parser.add_argument("--baseline", metavar="JOB", default=None,
                        help="the job every other job is tested against (default: the first job)")
    args = parser.parse_args(argv)
    with user_errors("argen.summarize"):
        result = summarize(args.sweep_dir, baseline=args.baseline)
    print(Path(result["markdown"]).read_text(), end="")
    print_flags(result["rows"], "argen.summarize")
    print(f"wrote {result['csv']}, {result['markdown']}" + (f", {result['plot']}" if result["plot"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
