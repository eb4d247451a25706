"""PNG figures for evaluation reports (headless matplotlib)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from argen.evaluation.summary import SCORE_KEYS, is_scored
from argen.types import PRINCIPLES

# One colour per principle (and combined), the same in every figure.
COLOURS = {"ahimsa": "#4C72B0", "dharma": "#DD8452", "helpfulness": "#55A868", "combined": "#333333"}
RUN_COLOURS = ["#8C8C8C", "#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on training machines
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def _val(x: float | None) -> float:
    return 0.0 if x is None else float(x)


def plot_scores(summary: Mapping[str, Any], path: str | Path) -> Path:
    """Mean score and violation rate per principle (two panels)."""
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.8))
    means = [_val(summary["means"].get(k)) for k in SCORE_KEYS]
    bars = ax1.bar(SCORE_KEYS, means, color=[COLOURS[k] for k in SCORE_KEYS])
    ax1.bar_label(bars, fmt="%.2f", fontsize=8)
    ax1.set_ylim(0, 1.05)
    ax1.set_title("mean score")
    rate_keys = [*PRINCIPLES, "any"]
    rates = [100 * _val(summary["violation_rates"].get(k)) for k in rate_keys]
    bars = ax2.bar(rate_keys, rates, color=[COLOURS.get(k, "#999999") for k in rate_keys])
    ax2.bar_label(bars, fmt="%.0f%%", fontsize=8)
    ax2.set_ylim(0, 105)
    ax2.set_title("violation rate (%)")
    fig.suptitle(f"{summary.get('label', 'evaluation')}: {summary.get('scored', 0)} scored responses", fontsize=10)
    return _save(fig, Path(path))


def plot_breakdown(summary: Mapping[str, Any], path: str | Path) -> Path:
    """Principle means per urgency tier and per prompt scope (grouped bars)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, key, title in ((axes[0], "by_tier", "by urgency tier"), (axes[1], "by_scope", "by prompt scope")):
        groups = summary.get(key) or {}
        names = list(groups)
        width = 0.8 / len(SCORE_KEYS)
        for i, k in enumerate(SCORE_KEYS):
            xs = [j + (i - (len(SCORE_KEYS) - 1) / 2) * width for j in range(len(names))]
            ax.bar(xs, [_val(groups[g]["means"].get(k)) for g in names], width, label=k, color=COLOURS[k])
        ax.set_xticks(range(len(names)), [f"{g}\n(n={groups[g]['scored']})" for g in names])
        # Headroom above 1.0 keeps the legend clear of the bars.
        ax.set_ylim(0, 1.3)
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.set_title(title)
    axes[0].set_ylabel("mean score")
    axes[1].legend(fontsize=8, loc="upper center", ncol=len(SCORE_KEYS))
    return _save(fig, Path(path))


def plot_distribution(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Histogram of each principle's scores over the scored responses."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(SCORE_KEYS), figsize=(12, 3.2), sharey=True)
    scored = [r for r in rows if is_scored(r)]
    bins = [i / 10 for i in range(11)]
    for ax, k in zip(axes, SCORE_KEYS):
        ax.hist([float(r[k]) for r in scored if r.get(k) is not None], bins=bins, color=COLOURS[k], edgecolor="white")
        ax.set_title(k)
        ax.set_xlim(0, 1)
    axes[0].set_ylabel("responses")
    return _save(fig, Path(path))


def plot_compare_principles(labels: Sequence[str], summaries: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Per-principle means and violation rates, one bar per run (the first run is the baseline)."""
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(labels)
    rate_keys = [*PRINCIPLES, "any"]
    for i, (label, s) in enumerate(zip(labels, summaries)):
        offset = (i - (len(labels) - 1) / 2) * width
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        bars = ax1.bar([j + offset for j in range(len(SCORE_KEYS))], [_val(s["means"].get(k)) for k in SCORE_KEYS],
                       width, label=label, color=colour)
        ax1.bar_label(bars, fmt="%.2f", fontsize=7)
        bars = ax2.bar([j + offset for j in range(len(rate_keys))],
                       [100 * _val(s["violation_rates"].get(k)) for k in rate_keys], width, label=label, color=colour)
        ax2.bar_label(bars, fmt="%.0f", fontsize=7)
    ax1.set_xticks(range(len(SCORE_KEYS)), SCORE_KEYS)
    ax1.set_ylim(0, 1.3)
    ax1.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax1.set_title("mean score (higher is better)")
    ax2.set_xticks(range(len(rate_keys)), rate_keys)
    ax2.set_ylim(0, 130)
    ax2.set_yticks([0, 20, 40, 60, 80, 100])
    ax2.set_title("violation rate % (lower is better)")
    ax1.legend(fontsize=8, loc="upper center", ncol=len(labels))
    return _save(fig, Path(path))


def plot_compare_distributions(labels: Sequence[str], runs_rows: Sequence[Sequence[Mapping[str, Any]]], path: str | Path) -> Path:
    """Box plots of each principle's scores, runs side by side."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(SCORE_KEYS), figsize=(3.2 * len(SCORE_KEYS), 3.8), sharey=True)
    for ax, k in zip(axes, SCORE_KEYS):
        data = [[float(r[k]) for r in rows if is_scored(r) and r.get(k) is not None] or [float("nan")] for rows in runs_rows]
        box = ax.boxplot(data, patch_artist=True, widths=0.6)
        for i, patch in enumerate(box["boxes"]):
            patch.set_facecolor(RUN_COLOURS[i % len(RUN_COLOURS)])
            patch.set_alpha(0.75)
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=20, fontsize=8)
        ax.set_title(k)
        ax.set_ylim(-0.05, 1.05)
    axes[0].set_ylabel("score")
    return _save(fig, Path(path))
