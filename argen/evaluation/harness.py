"""One evaluation run: generate -> score -> ``responses.jsonl`` -> ``summary.json``, ``report.md``, PNGs.

Rows are appended to ``responses.jsonl`` batch by batch, so a crash loses at most the batch in
flight; running again into the same directory skips every scenario that already has a row.
Scoring goes through the same :class:`~argen.scoring.pipeline.Scorer` (judge -> policies ->
rubric) as training.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from argen.data.atomic import write_atomic
from argen.data.scenarios import Scenario
from argen.errors import ArgenError
from argen.evaluation.audit import AUDIT_KEY, agreement, audit_batch, render_agreement
from argen.evaluation.generation import Generation, GenerationSettings
from argen.evaluation.summary import summarise
from argen.reporting.console_output import console
from argen.reporting.metrics import append_jsonl, drop_torn_tail, read_jsonl
from argen.scoring.pipeline import Scorer
from argen.types import JudgeRequest

log = logging.getLogger(__name__)

RESPONSES = "responses.jsonl"
SUMMARY = "summary.json"
REPORT = "report.md"
META = "eval_meta.json"
PLOTS = ("scores.png", "breakdown.png", "distribution.png")
# What must match for rows already in a run dir to be resumed rather than refused.
IDENTITY_KEYS = ("model", "checkpoint", "judge", "rubric_version", "rubric_mode", "temperature", "max_new_tokens", "system_prompt",
                 "audit_judge")

#: Answers one batch of scenarios (a model generating, or responses read from elsewhere).
Responder = Callable[[Sequence[Scenario]], Sequence[Generation]]


def run_identity(
    scorer: Scorer, settings: GenerationSettings, *, model: str, checkpoint: str | None = None
) -> dict[str, Any]:
    """The facts that make two sets of rows comparable, stored in ``eval_meta.json``."""
    return {
        "model": model,
        "checkpoint": checkpoint,
        "judge": scorer.judge.name,
        "rubric_version": scorer.rubric.version,
        "rubric_mode": scorer.rubric.mode,
        "temperature": settings.temperature,
        "max_new_tokens": settings.max_new_tokens,
        "system_prompt": settings.system_prompt,
    }


def _check_identity(out_dir: Path, identity: Mapping[str, Any]) -> None:
    path = out_dir / META
    if path.is_file():
        old = json.loads(path.read_text())
        for key in IDENTITY_KEYS:
            if old.get(key) != identity.get(key):
                raise ArgenError(
                    f"{out_dir} already holds responses made with {key}={old.get(key)!r}, not {identity.get(key)!r}; "
                    "evaluate into a fresh run dir (or delete that one) so rows of different runs do not mix"
                )
    else:
        write_atomic(path, json.dumps(dict(identity), indent=2))


def existing_rows(out_dir: Path, scenarios: Sequence[Scenario]) -> dict[str, dict[str, Any]]:
    """Rows already in ``responses.jsonl`` for these scenarios, by id (prompts must match)."""
    path = out_dir / RESPONSES
    drop_torn_tail(path)
    wanted = {s.id: s for s in scenarios}
    done: dict[str, dict[str, Any]] = {}
    for row in read_jsonl(path):
        sid = str(row.get("id"))
        if sid not in wanted:
            continue
        if row.get("prompt") != wanted[sid].prompt:
            raise ArgenError(
                f"{path}: the row for scenario {sid!r} answers a different prompt than the scenario file; "
                "evaluate into a fresh run dir"
            )
        done[sid] = row
    return done


def build_rows(scenarios: Sequence[Scenario], generations: Sequence[Generation], scored) -> list[dict[str, Any]]:
    """``responses.jsonl`` rows: the scenario, its response and every score (``error`` when unscored)."""
    rows = []
    for s, g, res in zip(scenarios, generations, scored, strict=True):
        row: dict[str, Any] = {
            "id": s.id, "prompt": s.prompt, "tier": s.tier, "scope": s.scope,
            "response": g.text, "new_tokens": g.new_tokens, "truncated": g.truncated,
        }
        row.update(res.to_record())
        rows.append(row)
    return rows


def _stats_delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    # The scorer may be shared with training: report what this evaluation cost, not the run total.
    out: dict[str, Any] = {}
    for key, value in after.items():
        prev = before.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and isinstance(prev, (int, float)):
            out[key] = round(value - prev, 6) if isinstance(value, float) else value - prev
        else:
            out[key] = value
    return out


def run_evaluation(
    out_dir: str | Path,
    scenarios: Sequence[Scenario],
    scorer: Scorer,
    respond: Responder | Callable[[], Responder],
    *,
    identity: Mapping[str, Any],
    batch_size: int = 8,
    meta: Mapping[str, Any] | None = None,
    progress: bool = True,
    lazy: bool = False,
    audit: Scorer | None = None,
) -> dict[str, Any]:
    """Answer, score and record every scenario not yet in ``out_dir``, then write the reports.

    ``respond`` answers a batch; with ``lazy=True`` it is a factory called only when some
    scenario still needs an answer (so a finished run never loads its model again). ``audit``:
    a second scorer whose results each row keeps under ``audit`` (:mod:`argen.evaluation.audit`).
    Returns the summary (also written to ``summary.json``).
    """
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    _check_identity(out_dir, identity)
    done = existing_rows(out_dir, scenarios)
    todo = [s for s in scenarios if s.id not in done]
    if done:
        log.info("%s: %d scenarios already answered, %d to go", out_dir, len(done), len(todo))
    stats_before, failures_before = dict(scorer.judge.stats()), scorer.failures
    label = (meta or {}).get("label") or out_dir.name
    new_rows: dict[str, dict[str, Any]] = {}
    if todo:
        responder = respond() if lazy else respond
        with tqdm(total=len(todo), desc=f"eval {label}", unit="resp", file=console(), disable=not progress) as bar:
            for start in range(0, len(todo), batch_size):
                batch = todo[start:start + batch_size]
                bar.set_postfix_str("generating")
                generations = list(responder(batch))
                if len(generations) != len(batch):
                    raise RuntimeError(f"responder returned {len(generations)} responses for {len(batch)} scenarios")
                bar.set_postfix_str("judging")
                requests = [JudgeRequest(s.prompt, g.text, s.tier, s.scope) for s, g in zip(batch, generations)]
                scored = scorer.score_blocking(requests)
                rows_out = build_rows(batch, generations, scored)
                if audit is not None:
                    for row, record in zip(rows_out, audit_batch(audit, requests), strict=True):
                        row[AUDIT_KEY] = record
                for row in rows_out:
                    append_jsonl(out_dir / RESPONSES, row)
                    new_rows[row["id"]] = row
                bar.update(len(batch))
        close = getattr(responder, "close", None)
        if callable(close):
            close()
    rows = [done.get(s.id) or new_rows[s.id] for s in scenarios]
    judge_info = {
        "name": scorer.judge.name,
        "info": scorer.judge.info(),
        **({"audit": {"name": audit.judge.name, "info": audit.judge.info(), "stats": audit.judge.stats()}} if audit else {}),
        "stats": {**_stats_delta(stats_before, scorer.judge.stats()), "scorer_failures": scorer.failures - failures_before},
    }
    full_meta = {
        **dict(meta or {}),
        "label": label,
        "model": identity.get("model"),
        "checkpoint": identity.get("checkpoint"),
        "judge": judge_info,
        "rubric_version": identity.get("rubric_version"),
        "rubric_mode": identity.get("rubric_mode"),
        "policies": list(getattr(scorer.policies, "ids", None) or ()),
        "resumed_rows": len(done),
        "new_rows": len(new_rows),
        "wall_s": round(time.monotonic() - started, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    return write_reports(out_dir, rows, full_meta)


def write_reports(out_dir: str | Path, rows: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> dict[str, Any]:
    """``summary.json``, ``report.md`` and the PNGs of a run dir, from its rows."""
    from argen.evaluation.plots import plot_breakdown, plot_distribution, plot_scores
    from argen.evaluation.report import render_report

    out_dir = Path(out_dir)
    summary = summarise(rows, meta=meta, policy_ids=meta.get("policies") or ())
    audit_block = agreement(rows)
    if audit_block is not None:
        summary["audit"] = audit_block
    summary["files"] = [RESPONSES, SUMMARY, REPORT, *PLOTS]
    write_atomic(out_dir / SUMMARY, json.dumps(summary, indent=2, ensure_ascii=False, default=str))
    write_atomic(out_dir / REPORT, render_report(summary) + ("\n" + render_agreement(audit_block) if audit_block else ""))
    plot_scores(summary, out_dir / PLOTS[0])
    plot_breakdown(summary, out_dir / PLOTS[1])
    plot_distribution(rows, out_dir / PLOTS[2])
    return summary


def evaluate_model(
    model_path: str | Path,
    scenarios: Sequence[Scenario],
    scorer: Scorer,
    out_dir: str | Path,
    settings: GenerationSettings,
    *,
    dtype: str = "float32",
    checkpoint: str | None = None,
    label: str | None = None,
    data_path: str | Path | None = None,
    progress: bool = True,
    audit: Scorer | None = None,
) -> dict[str, Any]:
    """Generate answers with a model and score them (and audit them: ``audit``); the model loads only if
    something is left to do."""
    from argen.evaluation.generation import ResponseGenerator

    def make_responder() -> Responder:
        generator = ResponseGenerator(model_path, dtype=dtype)

        def respond(batch: Sequence[Scenario]) -> list[Generation]:
            return generator.generate([s.prompt for s in batch], settings, batch_key=batch[0].id)

        respond.close = generator.close  # type: ignore[attr-defined]
        return respond

    identity = run_identity(scorer, settings, model=str(model_path), checkpoint=checkpoint)
    if audit is not None:
        identity["audit_judge"] = audit.judge.name
    meta = {"label": label, "data_path": str(data_path) if data_path else None, "generation": settings.to_dict()}
    return run_evaluation(
        out_dir, scenarios, scorer, make_responder, identity=identity, batch_size=settings.batch_size,
        meta=meta, progress=progress, lazy=True, audit=audit,
    )


def fixed_responder(responses: Mapping[str, str]) -> Responder:
    """A responder that answers each scenario with a given text (by id): for scoring responses
    made elsewhere, and for building run dirs in tests without a model."""

    def respond(batch: Sequence[Scenario]) -> list[Generation]:
        return [Generation(text=responses[s.id], new_tokens=len(responses[s.id].split()), truncated=False) for s in batch]

    return respond


__all__ = [
    "RESPONSES", "SUMMARY", "REPORT", "PLOTS", "evaluate_model", "run_evaluation", "write_reports",
    "fixed_responder", "run_identity",
]
