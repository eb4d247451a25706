"""Markdown rows of the study's results table from comparison files (``compare.json``).

    .venv/bin/python experiments/default_run_study/table.py COMPARE_JSON [LABEL ...]

One row per compared run (default: every run but the baseline): n, combined lift with its 95% CI
and Wilcoxon p, each principle's mean difference with its p, and looping answers before -> after.
"""

from __future__ import annotations

import json
import sys


def cell(r: dict) -> str:
    return f"{r['mean_diff']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] p={r['p_value']:.2g}"


def rows(path: str, labels: list[str]) -> list[str]:
    d = json.load(open(path))
    base = d["runs"][0]["label"]
    out = []
    for label in labels or [r["label"] for r in d["runs"][1:]]:
        st = d["stats"][label]["overall"]
        loop = d.get("looping") or {}
        looping = (f"{loop[base]['looping']}/{loop[base]['n']} -> {loop[label]['looping']}/{loop[label]['n']}"
                   if loop.get(base) and loop.get(label) else "n/a")
        principles = "; ".join(f"{k} {st[k]['mean_diff']:+.3f} (p={st[k]['p_value']:.2g})" for k in ("ahimsa", "dharma", "helpfulness"))
        out.append(f"| {label} | {st['combined']['n']} | {st['combined']['mean_before']:.3f} -> {st['combined']['mean_after']:.3f} "
                   f"| {cell(st['combined'])} | {principles} | {looping} |")
    return out


if __name__ == "__main__":
    print("\n".join(rows(sys.argv[1], sys.argv[2:])))
