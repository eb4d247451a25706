"""Entry point: ``python -m argen.score input=FILE.jsonl output=OUT.jsonl [judge=...]``.

Scores responses that already exist (another model's answers, a reference set) through the
same judge -> policies -> rubric path as training and evaluation (:func:`scorer_from_settings`). The
whole input is validated before the judge sees anything; output rows are appended batch by
batch, so a crash loses at most the batch in flight, and a re-run with the same output skips
every row already there. docs/rubric.md describes the scores.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from omegaconf import DictConfig

from argen.config import CONF_DIR
from argen.errors import ArgenError, ConfigError, DataError, user_errors
from argen.data.atomic import write_atomic
from argen.data.jsonl import append_records, check_input_file, drop_torn_tail, iter_records, why_no_records, write_records

if TYPE_CHECKING:
    from argen.config_schema import ScoreConfig

PROG = "argen.score"
# Keys the score command writes into each row; an input field of the same name moves to "input".
OUTPUT_KEYS = (
    "tier", "scope", "ahimsa", "dharma", "helpfulness", "combined", "response_scope", "referral_strength",
    "violations", "error", "raw_ahimsa", "referral_gap", "referral_factor", "scope_factor", "severity_penalty",
    "policy_violations", "verdict", "source_line", "source_sha1", "scored_by", "audit",
)

log = logging.getLogger(PROG)


@dataclass(frozen=True)
class InputRow:
    """One validated input line."""

    line: int
    data: dict[str, Any]
    prompt: str
    response: str
    tier: str | None
    scope: str | None

    @property
    def sha1(self) -> str:
        """Identifies the row's content: a re-run skips a line only if this still matches."""
        blob = json.dumps([self.prompt, self.response, self.tier, self.scope], ensure_ascii=False)
        return hashlib.sha1(blob.encode("utf-8")).hexdigest()


def _response_text(value: Any, path: Path, line: int) -> str:
    """A response as text; a chat completion (``[{"role": "assistant", "content": ...}]``) is accepted."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in value):
        return "".join(m["content"] for m in value if m.get("role", "assistant") == "assistant")
    if value is None:
        raise DataError(path, "missing 'response'", line)
    raise DataError(path, f"'response' must be a string (or a list of chat messages), got {type(value).__name__}", line)


def read_inputs(path: str | Path) -> list[InputRow]:
    """Read and validate every row of the input (all of them, so no error waits behind a slow judge)."""
    from argen.data.scenarios import iter_jsonl, parse_label, required_prompt

    p = Path(path)
    rows: list[InputRow] = []
    for line, obj in iter_jsonl(p):
        prompt = required_prompt(obj, p, line)
        response = _response_text(obj.get("response"), p, line)
        tier = parse_label(obj.get("tier"), "tier", prompt, p, line)
        scope = parse_label(obj.get("scope"), "scope", prompt, p, line)
        rows.append(InputRow(line, obj, prompt, response, tier, scope))
    if not rows:
        raise DataError(p, f"no rows to score ({why_no_records(p)})")
    return rows


def summary_path(output: Path) -> Path:
    """``OUT.jsonl`` -> ``OUT.summary.json`` (beside the output)."""
    stem = output.name[: -len(output.suffix)] if output.suffix else output.name
    return output.with_name(stem + ".summary.json")


def _read_output(path: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        for number, row in iter_records(path):
            if "source_line" not in row or "source_sha1" not in row:
                raise DataError(path, "not a file written by argen.score (no source_line/source_sha1); choose another output", number)
            rows.append(row)
    except DataError as exc:
        if exc.line is None or "argen.score" in str(exc):
            raise
        detail = str(exc).split(f":{exc.line}: ", 1)[-1]
        raise DataError(path, f"not a scored-rows file ({detail}); choose another output", exc.line) from None
    return rows


def _write_rows(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Replace ``path`` with ``rows`` atomically (a crash leaves the old file or the new one)."""
    write_records(path, rows)


def resume_state(
    output: Path, inputs: Sequence[InputRow], scored_by: Mapping[str, Any], retry_errors: bool
) -> tuple[set[int], int]:
    """Lines of ``inputs`` already scored in ``output`` (and how many failed rows were dropped).

    Refuses an output that holds rows of another input file or of another judge/rubric: mixing
    them would make one file of incomparable scores.
    """
    if not output.is_file():
        return set(), 0
    drop_torn_tail(output)
    by_line = {r.line: r for r in inputs}
    rows = _read_output(output)
    done: set[int] = set()
    keep: list[dict[str, Any]] = []
    dropped = 0
    for row in rows:
        line = row.get("source_line")
        source = by_line.get(line) if isinstance(line, int) else None
        if source is None or source.sha1 != row.get("source_sha1"):
            raise ArgenError(
                f"{output} holds a row for input line {line} that does not match {PROG} input "
                "(another input file, or the input changed); write to a fresh output or delete that file"
            )
        if row.get("scored_by") != dict(scored_by):
            raise ArgenError(
                f"{output} holds rows scored by {row.get('scored_by')}, not {dict(scored_by)}; "
                "write to a fresh output so scores of different judges or rubrics do not mix"
            )
        if retry_errors and row.get("combined") is None:
            dropped += 1
            continue
        done.add(line)
        keep.append(row)
    if dropped:
        _write_rows(output, keep)
    return done, dropped


def output_row(source: InputRow, record: Mapping[str, Any], scored_by: Mapping[str, Any]) -> dict[str, Any]:
    """The input row, with the scores added; input fields the scores would overwrite move to ``input``."""
    row = dict(source.data)
    new: dict[str, Any] = {"tier": source.tier, "scope": source.scope, **record}
    new.update({"source_line": source.line, "source_sha1": source.sha1, "scored_by": dict(scored_by)})
    moved = {k: row.pop(k) for k in OUTPUT_KEYS if k in row and row[k] != new.get(k, object())}
    for key in OUTPUT_KEYS:
        row.pop(key, None)
    row.update(new)
    if moved:
        previous = row.get("input")
        if isinstance(previous, dict):
            moved = {**previous, **moved}
        elif "input" in row:
            moved = {"input": previous, **moved}
        row["input"] = moved
    return row


def _batches(items: Sequence[InputRow], size: int) -> Iterator[Sequence[InputRow]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def check_settings(cfg: DictConfig) -> "ScoreConfig":
    """Every key of the score root by type and range (:class:`~argen.config_schema.ScoreConfig`),
    then the input file and the output paths; the first thing the command does."""
    from argen.config_schema import ScoreConfig

    settings = ScoreConfig.parse(cfg)
    src, out = Path(settings.input), Path(settings.output)
    if not src.exists() and not src.is_symlink():
        raise DataError(src, "input file not found")
    check_input_file(src)  # a directory, a broken link or a device: say which
    check_output_paths(src, out)
    return settings


def check_output_paths(src: Path, out: Path) -> None:
    """Before any work: the output and its summary can be written, and neither touches the input
    or the input's own summary (an input may be an earlier output)."""
    from argen.data.outputs import check_inputs_untouched, check_writable_file

    if os.path.realpath(out) == os.path.realpath(src) or (out.exists() and os.path.samefile(out, src)):
        raise ConfigError("output", "is the input file; choose another path so the input is not overwritten")
    if out.exists() and not out.is_file():
        raise ConfigError("output", f"{out} is not a file")
    check_inputs_untouched({"output": out, "its summary": summary_path(out)},
                           {"input": src, "the input's summary": summary_path(src)})
    check_writable_file(out, "output")
    check_writable_file(summary_path(out), "output")


def run_score(cfg: DictConfig) -> dict[str, Any]:
    """Validate, score what is not scored yet, write rows and the summary; returns the summary."""
    from tqdm import tqdm

    from argen.evaluation.summary import summarise
    from argen.scoring.build import scorer_from_settings
    from argen.types import JudgeRequest

    typed = check_settings(cfg)
    src, out = Path(typed.input), Path(typed.output)
    every_row = read_inputs(src)
    from argen.data.run_lock import acquire_output_lock

    # One writer per output: a second would append the rows the first has not written yet again.
    lock = acquire_output_lock(out, is_dir=False, key="output", prog=PROG)
    inputs = every_row[: typed.limit]
    scorer = scorer_from_settings(typed.judge, typed.rubric, typed.policy)
    # The key now; the server only when a verdict is not in the cache (a cached re-run needs none).
    scorer.judge.preflight_lazy()
    from argen.evaluation.audit import AUDIT_KEY, agreement, audit_batch, build_audit_scorer

    audit = build_audit_scorer(typed.audit, typed.rubric, main=scorer)
    if audit is not None:
        audit.judge.preflight_lazy()
    scored_by = {
        "judge": scorer.judge.name,
        "rubric_version": scorer.rubric.version,
        "rubric_mode": scorer.rubric.mode,
        # Policy names, so rows scored with another policy set are not mixed in.
        "policies": list(getattr(scorer.policies, "names", None) or ()),
        # Only when set, so rows written before audits existed still resume.
        **({"audit_judge": audit.judge.name} if audit is not None else {}),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    # Checked against every input row: an earlier run may have had a larger limit.
    done, dropped = resume_state(out, every_row, scored_by, typed.retry_errors)
    pending = [r for r in inputs if r.line not in done]
    started = time.perf_counter()
    try:
        with tqdm(total=len(pending), desc=PROG, unit="row", file=sys.stderr, disable=not typed.progress) as bar:
            for batch in _batches(pending, typed.batch_size):
                requests = [JudgeRequest(r.prompt, r.response, r.tier, r.scope) for r in batch]
                results = scorer.score_blocking(requests)
                records = [res.to_record() for res in results]
                if audit is not None:
                    for record, audited in zip(records, audit_batch(audit, requests), strict=True):
                        record[AUDIT_KEY] = audited
                # One write per batch, flushed and synced: a crash loses only the batch in flight.
                append_records(out, [output_row(r, record, scored_by)
                                     for r, record in zip(batch, records, strict=True)], sync=True)
                bar.update(len(batch))
    finally:
        asyncio.run(scorer.judge.aclose())
        if audit is not None:
            audit.close()
    elapsed = time.perf_counter() - started

    rows = _read_output(out)
    if [r["source_line"] for r in rows] != sorted(r["source_line"] for r in rows):
        # Retried rows were appended at the end: put the file back in input order.
        rows.sort(key=lambda r: r["source_line"])
        _write_rows(out, rows)
    meta = {
        "input": str(src),
        "output": str(out),
        **scored_by,
        "new_rows": len(pending),
        "resumed_rows": len(done),
        "retried_rows": dropped,
        "seconds": round(elapsed, 3),
        "judge_stats": scorer.judge.stats(),
        "judge_info": scorer.judge.info(),
        **({"audit_judge_info": audit.judge.info(), "audit_judge_stats": audit.judge.stats()} if audit is not None else {}),
    }
    summary = summarise(rows, meta=meta, policy_ids=tuple(getattr(scorer.policies, "ids", None) or ()))
    audit_block = agreement(rows)
    if audit_block is not None:
        summary["audit"] = audit_block
    path = summary_path(out)
    write_atomic(path, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    lock.release()  # on an error, when the process ends
    print(summary_text(summary, path), flush=True)
    return summary


def summary_text(summary: Mapping[str, Any], path: Path) -> str:
    """What the command prints: overall means and violation rates, then per tier and per scope."""
    from argen.reporting.summaries import number, percent

    def block(name: str, b: Mapping[str, Any]) -> str:
        m, v = b["means"], b["violation_rates"]
        return (
            f"  {name:<11} n={b['n']:<5} combined {number(m.get('combined'))}  ahimsa {number(m.get('ahimsa'))}  "
            f"dharma {number(m.get('dharma'))}  helpfulness {number(m.get('helpfulness'))}  violations "
            f"A {percent(v.get('ahimsa'))} D {percent(v.get('dharma'))} H {percent(v.get('helpfulness'))}"
        )

    lines = [
        f"{PROG}: {summary['n']} rows scored by {summary.get('judge')} (rubric {summary.get('rubric_version')}, "
        f"{summary.get('rubric_mode')}): {summary['scored']} scored, {summary['unscored']} unscored; "
        f"{summary.get('new_rows', 0)} new, {summary.get('resumed_rows', 0)} already there",
        block("all", summary),
    ]
    for label, groups in (("tier", summary["by_tier"]), ("scope", summary["by_scope"])):
        for key, b in groups.items():
            lines.append(block(f"{label} {key}", b))
    audit = summary.get("audit")
    if audit:
        sp, sa = audit["spearman"], audit["scope_agreement"]
        lines.append(
            f"  audit judge {audit['judge']}: scored both {audit['scored_by_both']} of {audit['n']}; means (judge / audit) "
            + ", ".join(f"{k} {number(audit['means'][k])}/{number(audit['audit_means'][k])}" for k in sp)
            + "; Spearman " + ", ".join(f"{k} {number(sp[k]['rho'])}" for k in sp)
            + f"; scope agreement {percent(sa['rate'])} (n={sa['n']})"
        )
    lines.append(f"{PROG}: rows in {summary.get('output')}, summary in {path}")
    return "\n".join(lines)


@hydra.main(config_path=CONF_DIR, config_name="score", version_base=None)
def main(cfg: DictConfig) -> dict | None:
    """Score the responses in ``input`` into ``output``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with user_errors(PROG):
        return run_score(cfg)


if __name__ == "__main__":
    from argen.command_line import refuse_secrets

    with user_errors(PROG):
        refuse_secrets(sys.argv[1:])  # Hydra would print a bad override back, key and all
    main()
