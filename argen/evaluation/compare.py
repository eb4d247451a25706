"""Compare evaluation run dirs side by side: no model, no judge calls, only their rows.

The first run is the baseline; every other run is shown with its deltas against it, each with
a paired test (:mod:`argen.evaluation.paired_stats`: mean difference, 95% bootstrap interval,
Wilcoxon signed-rank p-value, n) overall, per principle, per tier and per scope. Scores are
recomputed from the rows of the scenarios all runs answered, so runs over different subsets
still compare like with like. Runs scored by different judges or rubric versions are refused
(their numbers are not on the same scale) unless the caller allows it, and then the report
says so at the top.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argen.errors import ArgenError
from argen.data.atomic import write_atomic
from argen.evaluation.harness import RESPONSES, SUMMARY
from argen.evaluation.paired_stats import compare_rows, from_dict
from argen.evaluation.report import SCOPE_NAMES, TIER_NAMES, paired_tables, quote, table
from argen.evaluation.summary import SCORE_KEYS, is_scored, summarise
from argen.reporting.metrics import read_jsonl
from argen.reporting.summaries import number, percent
from argen.types import PRINCIPLES, SCOPES, TIERS

log = logging.getLogger(__name__)

COMPARE_MD = "compare.md"
COMPARE_JSON = "compare.json"
COMPARE_PLOTS = ("compare_principles.png", "compare_distributions.png")
# A per-scenario change in the combined score smaller than this counts as "unchanged".
TIE = 0.01


@dataclass
class EvalRun:
    """An evaluation run dir as read back: its summary (for what produced it) and its rows."""

    path: Path
    label: str
    summary: dict[str, Any]
    rows: list[dict[str, Any]]

    @property
    def judge(self) -> str | None:
        judge = self.summary.get("judge")
        return judge.get("name") if isinstance(judge, Mapping) else judge

    @property
    def rubric(self) -> tuple[Any, Any]:
        return self.summary.get("rubric_version"), self.summary.get("rubric_mode", "full")


def load_run(path: str | Path) -> EvalRun:
    """Read an evaluation run dir; a missing or foreign directory is an :class:`ArgenError` naming it."""
    p = Path(path)
    if not p.exists():
        raise ArgenError(f"run dir {p} does not exist")
    if not p.is_dir():
        raise ArgenError(f"run dir {p} is not a directory")
    if not (p / RESPONSES).is_file():
        hint = ""
        if (p / "eval" / "base" / RESPONSES).is_file():
            hint = f" (it is a training run dir: compare {p / 'eval' / 'base'} and {p / 'eval' / 'trained'})"
        raise ArgenError(f"run dir {p} has no {RESPONSES}: not an evaluation run dir{hint}")
    rows = read_jsonl(p / RESPONSES)
    if not rows:
        raise ArgenError(f"run dir {p}: {RESPONSES} holds no responses")
    summary_path = p / SUMMARY
    if not summary_path.is_file():
        raise ArgenError(f"run dir {p} has no {SUMMARY}: its evaluation did not finish (run it again to resume)")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArgenError(f"{summary_path}: not valid JSON ({exc.msg})") from None
    return EvalRun(path=p, label=str(summary.get("label") or p.name), summary=summary, rows=rows)


def _unique_labels(runs: Sequence[EvalRun]) -> list[str]:
    labels = [r.label for r in runs]
    if len(set(labels)) == len(labels):
        return labels
    # Same label twice (two runs of one model): name them by directory instead.
    names = [r.path.name for r in runs]
    if len(set(names)) == len(names):
        return names
    return [f"{i + 1}:{r.path.name}" for i, r in enumerate(runs)]


def check_comparable(runs: Sequence[EvalRun], allow_mismatch: bool = False) -> list[str]:
    """Refuse runs scored differently (judge, rubric); return warnings for softer differences."""
    base = runs[0]
    problems, notes = [], []
    for run in runs[1:]:
        if run.judge != base.judge:
            problems.append(f"{run.path} was scored by judge {run.judge!r} but {base.path} by {base.judge!r}")
        if run.rubric != base.rubric:
            problems.append(f"{run.path} was scored with rubric {run.rubric[0]} ({run.rubric[1]}) "
                            f"but {base.path} with {base.rubric[0]} ({base.rubric[1]})")
        for key in ("temperature", "max_new_tokens", "system_prompt"):
            a, b = (base.summary.get("generation") or {}).get(key), (run.summary.get("generation") or {}).get(key)
            if a != b:
                notes.append(f"generation {key} differs: {base.label} {_short(a)} vs {run.label} {_short(b)}")
    if problems and not allow_mismatch:
        raise ArgenError(
            "runs are not comparable: " + "; ".join(problems)
            + " (scores from different judges or rubrics are on different scales; pass compare_allow_mismatch=true to compare anyway)"
        )
    return [f"NOT LIKE FOR LIKE: {p}" for p in problems] + notes


def _short(value: Any, n: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 1] + "…'"


def _align(runs: Sequence[EvalRun], allow_mismatch: bool) -> tuple[list[list[dict[str, Any]]], list[str]]:
    """Rows of the scenarios every run answered, in the baseline's order."""
    by_id = [{str(r.get("id")): r for r in run.rows} for run in runs]
    common = [sid for sid in by_id[0] if all(sid in m for m in by_id[1:])]
    notes = []
    if not common:
        raise ArgenError(f"runs share no scenario ids ({', '.join(str(r.path) for r in runs)}): nothing to compare")
    for run, m in zip(runs, by_id):
        if len(m) != len(common):
            notes.append(f"{run.label} answered {len(m)} scenarios; comparing the {len(common)} all runs share")
    differing = [sid for sid in common if len({m[sid].get("prompt") for m in by_id}) > 1]
    if differing:
        msg = f"scenario {differing[0]!r} (and {len(differing) - 1} more) has different prompts in different runs: they used different scenario files"
        if not allow_mismatch:
            raise ArgenError(msg)
        notes.append("NOT LIKE FOR LIKE: " + msg)
    return [[m[sid] for sid in common] for m in by_id], notes


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(b - a, 4)


def signed(value: float | None, digits: int = 3) -> str:
    """``+0.075`` / ``-0.010`` (``n/a`` when either side is missing)."""
    return "n/a" if value is None else f"{value:+.{digits}f}"


def signed_points(value: float | None) -> str:
    """A change in a rate, in percentage points."""
    return "n/a" if value is None else f"{100 * value:+.0f} pts"


def paired(base_rows: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]], k: int = 3) -> dict[str, Any]:
    """Per-scenario changes of the combined score against the baseline, with the largest moves."""
    pairs = [(a, b) for a, b in zip(base_rows, rows) if is_scored(a) and is_scored(b)]
    deltas = [(float(b["combined"]) - float(a["combined"]), a, b) for a, b in pairs]
    better = sum(1 for d, _, _ in deltas if d >= TIE)
    worse = sum(1 for d, _, _ in deltas if d <= -TIE)

    def moves(items):
        return [
            {"id": a.get("id"), "delta": round(d, 4), "before": round(float(a["combined"]), 4), "after": round(float(b["combined"]), 4),
             "violations_before": a.get("violations") or [], "violations_after": b.get("violations") or [],
             "prompt": str(a.get("prompt", ""))[:400], "response_before": str(a.get("response", ""))[:500],
             "response_after": str(b.get("response", ""))[:500]}
            for d, a, b in items
        ]

    ranked = sorted(deltas, key=lambda t: t[0])
    return {
        "pairs": len(pairs), "better": better, "worse": worse, "unchanged": len(pairs) - better - worse,
        "regressions": moves([t for t in ranked if t[0] <= -TIE][:k]),
        "improvements": moves([t for t in reversed(ranked) if t[0] >= TIE][:k]),
    }


def headline(base: Mapping[str, Any], other: Mapping[str, Any], prefix: str = "eval",
             stats: Mapping[str, Any] | None = None) -> str:
    """One line: the combined score and dharma violations before -> after, each with its paired test.

    ``eval combined 0.512 -> 0.587 (+0.075, 95% CI [+0.031, +0.118], n=16, significant (p=0.004)),
    dharma violations 34% -> 12% (-22 pts, n=16, significant (p=0.03))``. Without ``stats``
    (rows not available) the line says the change was not tested.
    """
    a, b = base["means"].get("combined"), other["means"].get("combined")
    va, vb = base["violation_rates"].get("dharma"), other["violation_rates"].get("dharma")
    if stats is None:
        return (f"{prefix} combined {number(a)} -> {number(b)} ({signed(_delta(a, b))}, not tested), "
                f"dharma violations {percent(va)} -> {percent(vb)}")
    combined = from_dict(stats["overall"]["combined"])
    dharma = from_dict(stats["violations"]["dharma"])
    return (f"{prefix} combined {number(a)} -> {number(b)} ({combined.describe()}), dharma violations "
            f"{percent(va)} -> {percent(vb)} ({signed_points(_delta(va, vb))}, n={dharma.n}, {dharma.verdict()})")


def compare_runs(
    run_dirs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    labels: Sequence[str] | None = None,
    allow_mismatch: bool = False,
) -> dict[str, Any]:
    """Write ``compare.md``, ``compare.json`` and the comparison PNGs into ``out_dir``; return the comparison."""
    from argen.evaluation.plots import plot_compare_distributions, plot_compare_principles

    if len(run_dirs) < 2:
        raise ArgenError(f"compare needs at least two run dirs, got {len(run_dirs)}")
    runs = [load_run(p) for p in run_dirs]
    if labels is not None and len(labels) != len(runs):
        raise ArgenError(f"compare got {len(labels)} labels for {len(runs)} run dirs")
    names = list(labels) if labels else _unique_labels(runs)
    for run, name in zip(runs, names):
        run.label = name
    warnings = check_comparable(runs, allow_mismatch)
    aligned, notes = _align(runs, allow_mismatch)
    warnings += notes
    for w in warnings:
        log.warning("compare: %s", w)
    summaries = [
        summarise(rows, meta={"label": name, "path": str(run.path), "judge": run.judge, "rubric_version": run.rubric[0],
                              "model": run.summary.get("model"), "generation": run.summary.get("generation")})
        for name, run, rows in zip(names, runs, aligned)
    ]
    base = summaries[0]
    result: dict[str, Any] = {
        "runs": [{"label": s["label"], "path": s["path"], "model": s["model"], "judge": s["judge"],
                  "rubric_version": s["rubric_version"], "n": s["n"], "scored": s["scored"], "unscored": s["unscored"]}
                 for s in summaries],
        "warnings": warnings,
        "means": {s["label"]: s["means"] for s in summaries},
        "violation_rates": {s["label"]: s["violation_rates"] for s in summaries},
        "looping": {s["label"]: s.get("looping") for s in summaries},
        "deltas": {},
        "paired": {},
        "stats": {},
        "headlines": {},
    }
    for s, rows in zip(summaries[1:], aligned[1:]):
        result["deltas"][s["label"]] = {
            "means": {k: _delta(base["means"].get(k), s["means"].get(k)) for k in SCORE_KEYS},
            "violation_rates": {k: _delta(base["violation_rates"].get(k), s["violation_rates"].get(k)) for k in (*PRINCIPLES, "any")},
        }
        result["paired"][s["label"]] = paired(aligned[0], rows)
        result["stats"][s["label"]] = stats = compare_rows(
            aligned[0], rows, score_keys=SCORE_KEYS, violation_keys=(*PRINCIPLES, "any"),
            groups={"tier": TIERS, "scope": SCOPES})
        result["headlines"][s["label"]] = headline(base, s, stats=stats)
    result["audit"] = _audit_lifts(runs, names, aligned, warnings)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_compare_principles(names, summaries, out / COMPARE_PLOTS[0])
    plot_compare_distributions(names, aligned, out / COMPARE_PLOTS[1])
    write_atomic(out / COMPARE_MD, render_compare(summaries, result))
    result["files"] = [COMPARE_MD, COMPARE_JSON, *COMPARE_PLOTS]
    if result["audit"]:
        from argen.evaluation.audit import write_audit_report

        write_audit_report(result["audit"], runs[0].path, out)
        result["files"] += ["audit.md", "audit.json"]
    write_atomic(out / COMPARE_JSON, json.dumps(result, indent=2, ensure_ascii=False, default=str))
    result["summaries"] = summaries
    return result


def _audit_lifts(runs: Sequence[EvalRun], names: Sequence[str], aligned: Sequence[Sequence[Mapping[str, Any]]],
                 warnings: list[str]) -> dict[str, Any]:
    """Each run's lift against the baseline under the reward judge and under the audit judge
    (:func:`argen.evaluation.audit.audit_lift`), when every run's answers were audited by one judge."""
    from argen.evaluation.audit import AUDIT_KEY, audit_lift

    judges = [next((r[AUDIT_KEY].get("judge") for r in rows if isinstance(r.get(AUDIT_KEY), Mapping)), None) for rows in aligned]
    if any(j is None for j in judges):
        return {}
    if len(set(judges)) > 1:
        warning = f"the runs were audited by different judges ({', '.join(sorted(set(judges)))}): no audit lift"
        log.warning("compare: %s", warning)
        warnings.append(warning)
        return {}
    lifts = {name: audit_lift(aligned[0], rows, reward_judge=runs[0].judge) for name, rows in zip(names[1:], aligned[1:])}
    return {name: lift for name, lift in lifts.items() if lift}


def _run_columns(summaries: Sequence[Mapping[str, Any]]) -> list[str]:
    cols = [s["label"] for s in summaries]
    for s in summaries[1:]:
        cols.append(f"Δ {s['label']}" if len(summaries) > 2 else "Δ")
    return cols


def _tested(delta: str, test: Mapping[str, Any] | None) -> str:
    """A delta cell that says whether the change is more than noise: ``+0.038 (n=16, not significant (p=0.21))``."""
    if not test:
        return f"{delta} (not tested)"
    return f"{delta} (n={test['n']}, {test['verdict']})"


def render_compare(summaries: Sequence[Mapping[str, Any]], result: Mapping[str, Any]) -> str:
    """The markdown comparison: scores, violations, tiers, scopes, per-scenario moves."""
    base = summaries[0]
    others = summaries[1:]
    out: list[str] = [f"# Comparison: {' vs '.join(s['label'] for s in summaries)}", ""]
    for w in result["warnings"]:
        out.append(f"> **Warning:** {w}")
    if result["warnings"]:
        out.append("")
    out += [table(["run", "model", "judge", "rubric", "scored", "dir"],
                  [[s["label"], f"`{s.get('model')}`", f"`{s['judge']}`", str(s["rubric_version"]),
                    f"{s['scored']}/{s['n']}", f"`{s['path']}`"] for s in summaries]), ""]
    out += [f"The first run, **{base['label']}**, is the baseline; Δ is each other run minus it. "
            "Scores are recomputed over the scenarios every run answered; unscored responses are left out. "
            "Every Δ carries its paired test (Wilcoxon signed-rank over the scenarios both runs scored; "
            "significant means p < 0.05).", ""]
    for s in others:
        out.append(f"**{result['headlines'][s['label']]}**")
    if result.get("audit"):
        from argen.evaluation.audit import lift_headline, render_lift

        for s in others:
            lift = result["audit"].get(s["label"])
            if lift:
                out += ["", f"**{s['label']}: {lift_headline(lift)}**"]
        for s in others:
            lift = result["audit"].get(s["label"])
            if lift:
                section = render_lift(lift).rstrip("\n").split("\n")
                # the title, then the table: its headline is already shown in bold above
                out += ["", section[0] + f": {s['label']} against {base['label']}", *section[3:]]
    for s in others:
        title = f"## Is the change more than noise? {s['label']} against {base['label']}"
        out += ["", title, "", paired_tables(result["stats"][s["label"]], TIER_NAMES, SCOPE_NAMES)]
    out += ["", "## Scores (higher is better)", ""]
    rows = []
    for k in SCORE_KEYS:
        rows.append([k] + [number(s["means"].get(k)) for s in summaries]
                    + [_tested(signed(result["deltas"][s["label"]]["means"][k]), result["stats"][s["label"]]["overall"][k])
                       for s in others])
    out += [table(["mean", *_run_columns(summaries)], rows), ""]
    out += ["## Violation rates (lower is better)", ""]
    rows = []
    for k in (*PRINCIPLES, "any"):
        rows.append([k if k != "any" else "any principle"] + [percent(s["violation_rates"].get(k)) for s in summaries]
                    + [_tested(signed_points(result["deltas"][s["label"]]["violation_rates"][k]),
                               result["stats"][s["label"]]["violations"][k]) for s in others])
    out += [table(["violations", *_run_columns(summaries)], rows), "", "![principles](compare_principles.png)", "",
            "![distributions](compare_distributions.png)", ""]
    for key, field, title, names in (("by_tier", "tier", "Combined score by urgency tier", TIER_NAMES),
                                     ("by_scope", "scope", "Combined score by prompt scope", SCOPE_NAMES)):
        groups = list(dict.fromkeys(g for s in summaries for g in s[key]))
        rows = []
        for g in groups:
            vals = [(s[key].get(g) or {}).get("means", {}).get("combined") for s in summaries]
            tests = [result["stats"][s["label"]]["groups"][field].get(g, {}).get("combined") for s in others]
            rows.append([names.get(g, g)] + [number(v) for v in vals]
                        + [_tested(signed(_delta(vals[0], v)), t) for v, t in zip(vals[1:], tests)])
        out += [f"## {title}", "", table(["group", *_run_columns(summaries)], rows), ""]
    out += ["## Response scope counts", "",
            table(["run", *SCOPES], [[s["label"], *(str(s["response_scope_counts"].get(sc, 0)) for sc in SCOPES)] for s in summaries]),
            ""]
    if all(s.get("looping") for s in summaries):
        out += [f"## Looping answers ({summaries[0]['looping']['rule']}) and answers cut off at the token limit", "",
                table(["run", "looping", "cut off"], [[s["label"], f"{s['looping']['looping']}/{s['looping']['n']}",
                                                       str(s.get("truncated", 0))] for s in summaries]), ""]
    for s in others:
        p = result["paired"][s["label"]]
        out += [f"## Per scenario: {s['label']} against {base['label']}", "",
                f"Of {p['pairs']} scenarios scored in both, the combined score rose for {p['better']}, fell for "
                f"{p['worse']} and moved less than {TIE} for {p['unchanged']}.", ""]
        for title, items in (("Largest regressions", p["regressions"]), ("Largest improvements", p["improvements"])):
            if not items:
                continue
            out += [f"### {title}", ""]
            for m in items:
                out += [f"**`{m['id']}`**: combined {number(m['before'])} -> {number(m['after'])} ({signed(m['delta'])}); "
                        f"violations {', '.join(m['violations_before']) or 'none'} -> {', '.join(m['violations_after']) or 'none'}",
                        "", quote(m["prompt"]), "", f"{base['label']}:", "", quote(m["response_before"]), "",
                        f"{s['label']}:", "", quote(m["response_after"]), ""]
    return "\n".join(out)
