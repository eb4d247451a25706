"""Reading one sweep's job dirs into table rows: overrides, status, final rewards, evaluation scores.

:mod:`argen.summarize` turns these rows into the sweep's tables and plot.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from argen.data.jsonl import skipped_lines
from argen.errors import DataError
from argen.evaluation.sweep_stats import lift_columns
from argen.reporting.metrics import read_jsonl, series
from argen.reporting.summaries import last_quarter

log = logging.getLogger(__name__)

JOB_MARKERS = (".hydra/overrides.yaml", "status.json", "summary.json", "worker_config.yaml", "config.yaml")


def is_job_dir(path: Path) -> bool:
    """A directory one sweep job wrote into."""
    return path.is_dir() and any((path / marker).exists() for marker in JOB_MARKERS)


def job_dirs(sweep_dir: str | Path) -> list[Path]:
    """The sweep's job dirs, in job order (numeric names first, by number)."""
    root = Path(sweep_dir)
    dirs = [p for p in root.iterdir() if is_job_dir(p)]
    return sorted(dirs, key=lambda p: (0, int(p.name), "") if p.name.isdigit() else (1, 0, p.name))


def read_overrides(job_dir: Path) -> list[str]:
    """The job's task overrides as Hydra recorded them (``key=value`` strings)."""
    path = job_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    import yaml  # a Hydra record, a plain YAML list of strings: no config to compose

    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        if not isinstance(loaded, list):
            raise ValueError(f"expected a list of overrides, got {type(loaded).__name__}")
        return [str(o) for o in loaded]
    except Exception as exc:  # a torn or hand-edited file: say which one
        raise DataError(str(path), f"cannot read the overrides: {exc}") from None


def override_key(override: str) -> str:
    """``+grpo.beta=0.1`` -> ``grpo.beta``."""
    return override.split("=", 1)[0].lstrip("+~")


def _json(path: Path, flags: list[str] | None = None) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        log.warning("%s: unreadable (%s); treated as missing", path, exc)
        if flags is not None:
            flags.append(f"{path.name} unreadable ({exc.msg}), treated as missing")
        return {}
    return data if isinstance(data, dict) else {}


def reward_columns(job_dir: Path, summary: Mapping[str, Any]) -> dict[str, float]:
    """Last-quarter means of the total reward and of each reward function (``rewards/<name>/mean``)."""
    rows = [r for r in read_jsonl(job_dir / "metrics.jsonl") if "reward" in r]
    out: dict[str, float] = {}
    if rows:
        names = sorted({k.split("/")[1] for r in rows for k in r if k.startswith("rewards/") and k.endswith("/mean")})
        for column, key in [("reward", "reward"), *[(f"reward_{n}", f"rewards/{n}/mean") for n in names]]:
            value = last_quarter(series(rows, key)[1])
            if value is not None:
                out[column] = round(value, 4)
        return out
    # No metrics file (e.g. copied summaries only): fall back to the run summary's quarter means.
    for key, q in (summary.get("quarters") or {}).items():
        column = "reward" if key == "reward" else "reward_" + key.split("/")[1]
        if isinstance(q, Mapping) and isinstance(q.get("last"), (int, float)):
            out[column] = round(float(q["last"]), 4)
    return out


def evaluation_columns(evaluation: Any) -> dict[str, float]:
    """Flatten an end-of-training evaluation (``summary.json`` ``evaluation``) into columns.

    ``{"base": {"combined": 0.5, ...}, "trained": {...}, "delta": {...}}`` gives
    ``eval_base_combined``, ``eval_trained_combined``, ``eval_delta_combined``...;
    ``violation_rates: {"trained": {"any": 0.1}}`` gives ``eval_trained_violations_any``; a block
    holding ``means`` (an evaluation summary) contributes its means; other top-level numbers are
    kept as ``eval_<name>``.
    """
    out: dict[str, float] = {}
    if not isinstance(evaluation, Mapping):
        return out

    def put(column: str, value: Any) -> None:
        if is_number(value):
            out[column] = round(float(value), 4)

    for name, node in evaluation.items():
        if name == "stats":
            continue  # the paired tests: lift_* columns, read from the rows themselves
        if name == "violation_rates" and isinstance(node, Mapping):
            for label, rates in node.items():
                if isinstance(rates, Mapping):
                    for key, value in rates.items():
                        put(f"eval_{label}_violations_{key}", value)
                else:
                    put(f"eval_violations_{label}", rates)
        elif isinstance(node, Mapping):
            inner = node.get("means") if isinstance(node.get("means"), Mapping) else node
            for key, value in inner.items():
                put(f"eval_{name}_{key}", value)
            rates = node.get("violation_rates")
            if isinstance(rates, Mapping):
                for key, value in rates.items():
                    put(f"eval_{name}_violations_{key}", value)
        else:
            put(f"eval_{name}", node)
    return out


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def job_row(job_dir: Path, sweep_dir: Path) -> dict[str, Any]:
    """Everything the sweep table shows about one job."""
    overrides = read_overrides(job_dir)
    flags: list[str] = []  # what makes a number in this row doubtful, in words (the `flags` column)
    status = _json(job_dir / "status.json", flags)
    summary = _json(job_dir / "summary.json", flags)
    row: dict[str, Any] = {
        "job": job_dir.name,
        "overrides": " ".join(overrides),
        # No status.json: the job was killed before recording (or was run by an older version).
        "status": status.get("status") or summary.get("status") or ("completed" if summary else "incomplete"),
        "steps": summary.get("steps", status.get("steps")),
    }
    for o in overrides:
        if "=" in o:
            row[f"override:{override_key(o)}"] = o.split("=", 1)[1]
    flags += [f"metrics.jsonl {problem}, skipped" for problem in skipped_lines(job_dir / "metrics.jsonl")]
    rewards = reward_columns(job_dir, summary)
    if rewards and row["status"] != "completed":
        # A job that died mid-training logged some steps: their last quarter is not the job's final
        # reward, and a column of numbers cannot say so, so the numbers are left out.
        logged = series(read_jsonl(job_dir / "metrics.jsonl"), "reward")[0]
        flags.append(f"rewards left out: the job is {row['status']}, its metrics.jsonl stops at step "
                     f"{max(logged) if logged else '?'} (partial training, not final numbers)")
    else:
        row.update(rewards)
    evaluation = summary.get("evaluation")
    if isinstance(evaluation, Mapping) and evaluation.get("error"):
        from argen.evaluation.end_of_training import redo_command

        flags.append(f"end-of-training evaluation failed ({evaluation['error']}); redo it with: {redo_command(job_dir)}")
    row.update(evaluation_columns(evaluation))
    row.update(lift_columns(job_dir))
    row["wall_s"] = status.get("wall_s", summary.get("wall_s"))
    row["error"] = status.get("error", "")
    row["flags"] = "; ".join(flags)
    try:
        row["run_dir"] = str(job_dir.relative_to(sweep_dir))
    except ValueError:
        row["run_dir"] = str(job_dir)
    return row


def collect(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """One row per job dir under ``sweep_dir``."""
    root = Path(sweep_dir)
    if not root.is_dir():
        raise DataError(str(root), "is not a directory (expected a sweep dir such as multirun/<date_time>)")
    return [job_row(d, root) for d in job_dirs(root)]
