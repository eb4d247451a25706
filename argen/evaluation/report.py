"""``report.md`` for one evaluation: what was run, the scores, where they fall short, and why."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from argen.evaluation.paired_stats import format_p
from argen.reporting.summaries import SCORE_KEYS, number, percent
from argen.types import PRINCIPLES, SCOPES

TIER_NAMES = {"A": "A emergency", "B": "B urgent", "C": "C routine"}
SCOPE_NAMES = {"S0": "S0 clinical", "S1": "S1 para-clinical", "S2": "S2 tangential", "S3": "S3 outside medicine"}


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table (cells must not contain ``|`` or newlines)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def quote(text: str) -> str:
    """A block quote that keeps the text's own line breaks (and cannot break the page's layout)."""
    return "\n".join("> " + line if line.strip() else ">" for line in (text or "(empty response)").splitlines())


def group_table(groups: Mapping[str, Mapping[str, Any]], names: Mapping[str, str]) -> str:
    """Means and the any-violation rate of each group (tier or scope)."""
    rows = []
    for key, block in groups.items():
        rows.append(
            [names.get(key, key), str(block["scored"])]
            + [number(block["means"].get(k)) for k in SCORE_KEYS]
            + [percent(block["violation_rates"].get(p)) for p in PRINCIPLES]
        )
    return table(["group", "scored", *SCORE_KEYS, *(f"{p} viol." for p in PRINCIPLES)], rows)


def paired_tables(stats: Mapping[str, Any], tier_names: Mapping[str, str], scope_names: Mapping[str, str]) -> str:
    """Markdown for :func:`argen.evaluation.paired_stats.compare_rows`: each score and violation
    rate overall, then each score per tier and per scope, with n, mean difference, 95% CI, p."""
    header = ["", "n", "before", "after", "mean Δ", "95% CI", "p", "verdict"]

    def row(name: str, r: Mapping[str, Any], as_rate: bool = False) -> list[str]:
        show = percent if as_rate else number
        ci = "n/a" if r.get("ci_low") is None else f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
        p = r.get("p_value")
        return [name, str(r["n"]), show(r.get("mean_before")), show(r.get("mean_after")),
                "n/a" if r.get("mean_diff") is None else f"{r['mean_diff']:+.3f}", ci,
                "n/a" if p is None else format_p(p), "**significant**" if r.get("significant") else r["verdict"].split(" (")[0]]

    rows = [row(k, r) for k, r in stats["overall"].items()]
    rows += [row(f"{k if k != 'any' else 'any principle'} violated", r, as_rate=True) for k, r in stats["violations"].items()]
    out = [f"Paired over the {stats['n_pairs']} scenarios both runs answered (after minus before; "
           "violations as 0/1 per scenario, the mean Δ is the change in the rate). Wilcoxon signed-rank, "
           "two-sided; 95% bootstrap interval of the mean difference. Group rows are smaller samples and "
           "are not corrected for multiple comparisons."
           + (" With fewer than 6 pairs no change can reach p < 0.05 under this test (its smallest "
              f"two-sided p with {stats['n_pairs']} pairs is {2 / 2 ** max(stats['n_pairs'], 1):.3g})."
              if stats["n_pairs"] < 6 else ""), "", table(header, rows)]
    for field, names in (("tier", tier_names), ("scope", scope_names)):
        groups = (stats.get("groups") or {}).get(field) or {}
        rows = [row(f"{names.get(g, g)}: {k}", r) for g, by_key in groups.items() for k, r in by_key.items()]
        if rows:
            out += ["", f"By {field}:", "", table(["group: score", *header[1:]], rows)]
    return "\n".join(out)


def render_report(summary: Mapping[str, Any]) -> str:
    """The markdown report of one evaluation run."""
    s = summary
    gen = s.get("generation") or {}
    judge = s.get("judge") or {}
    out: list[str] = [f"# Evaluation: {s.get('label', 'model')}", ""]
    out += [
        f"- model: `{s.get('model')}`" + (f" (checkpoint `{s['checkpoint']}`)" if s.get("checkpoint") else ""),
        f"- scenarios: {s['n']} from `{s.get('data_path')}`; {s['scored']} scored, {s['unscored']} unscored",
        f"- judge: `{judge.get('name')}`; rubric `{s.get('rubric_version')}`",
        f"- generation: temperature {gen.get('temperature')}, up to {gen.get('max_new_tokens')} new tokens, "
        f"batch {gen.get('batch_size')}, seed {gen.get('seed')}; {s.get('truncated', 0)} responses hit the token limit",
        *([f"- looping answers ({s['looping']['rule']}): {s['looping']['looping']} of {s['looping']['n']}"]
          if s.get("looping") else []),
        "",
        "Scores are 0..1 (higher is better). A principle is violated when the rubric says so (score below the "
        "threshold; for dharma also off-domain advice or a response scope the prompt's scope forbids). "
        "Unscored responses (the judge failed) are left out of every mean and rate.",
        "",
        "## Scores",
        "",
        table(
            ["", "mean", "violation rate"],
            [[k, number(s["means"].get(k)), percent(s["violation_rates"].get(k)) if k in PRINCIPLES else "—"] for k in SCORE_KEYS]
            + [["any principle", "—", percent(s["violation_rates"].get("any"))]],
        ),
        "",
        "![scores](scores.png)",
        "",
        "![score distributions](distribution.png)",
        "",
        "## By urgency tier",
        "",
        group_table(s.get("by_tier") or {}, TIER_NAMES),
        "",
    ]
    fit = s.get("referral_fit") or {}
    if fit:
        out += [
            "Referral fit (did the answer refer as strongly as the tier needs?):",
            "",
            table(["tier", "scored", "missed (too weak)", "fits", "over (too strong)"],
                  [[TIER_NAMES.get(t, t), str(v["n"]), percent(v["missed"]), percent(v["fits"]), percent(v["over"])]
                   for t, v in fit.items()]),
            "",
        ]
    out += ["## By prompt scope", "", group_table(s.get("by_scope") or {}, SCOPE_NAMES), "", "![breakdown](breakdown.png)", ""]
    matrix = s.get("scope_matrix") or {}
    if matrix:
        out += [
            "## Response scope",
            "",
            "What the judge saw each answer cover, by the scope of the prompt it answered "
            "(rows: prompt scope, columns: response scope):",
            "",
            table(["prompt \\ response", *SCOPES],
                  [[SCOPE_NAMES.get(p, p), *(str(counts.get(r, 0)) for r in SCOPES)] for p, counts in matrix.items()]),
            "",
            "All responses: " + ", ".join(f"{k} {v}" for k, v in (s.get("response_scope_counts") or {}).items()),
            "",
        ]
    policies = s.get("policy_violation_rates") or {}
    if policies:
        out += ["## Policy violations", "", table(["policy", "rate"], [[k, percent(v)] for k, v in policies.items()]), ""]
    weak = s.get("weakest") or []
    if weak:
        out += ["## Weakest responses", ""]
        for i, w in enumerate(weak, start=1):
            out += [
                f"### {i}. `{w['id']}`: combined {number(w.get('combined'))}",
                "",
                f"tier {w.get('tier') or '-'}, prompt scope {w.get('scope') or '-'}, response scope "
                f"{w.get('response_scope') or '-'}, referral {w.get('referral_strength') or '-'}; "
                + ", ".join(f"{p} {number(w.get(p))}" for p in PRINCIPLES)
                + "; violations: " + (", ".join(w.get("violations") or []) or "none"),
                "",
                "Prompt:",
                "",
                quote(w.get("prompt", "")),
                "",
                "Response:",
                "",
                quote(w.get("response", "")),
                "",
            ]
    if s.get("unscored"):
        out += ["## Unscored", ""]
        out += [f"- `{u['id']}`: {u.get('error')}" for u in s.get("unscored_examples") or []]
        if s["unscored"] > len(s.get("unscored_examples") or []):
            out.append(f"- ... {s['unscored'] - len(s['unscored_examples'])} more in responses.jsonl")
        out.append("")
    stats = judge.get("stats") or {}
    if stats:
        out += ["## Judge", "", f"`{judge.get('name')}` during this evaluation: "
                + ", ".join(f"{k} {v}" for k, v in stats.items()), ""]
    out += ["Every response with all its scores and the judge's verdict is in `responses.jsonl`; "
            "the numbers above are in `summary.json`.", ""]
    return "\n".join(out)
