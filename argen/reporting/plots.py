"""Plots written into run dirs (PNG, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from argen.reporting.metrics import read_jsonl, series


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on training machines
    import matplotlib.pyplot as plt

    return plt


def plot_reward_curve(metrics_path: str | Path, out_path: str | Path, reward_names: Sequence[str]) -> Path | None:
    """Total reward and each reward function's mean against step; None if there is nothing to plot."""
    rows = [r for r in read_jsonl(metrics_path) if "reward" in r]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    steps, values = series(rows, "reward")
    ax.plot(steps, values, label="total (weighted)", linewidth=2.2, color="black")
    colours = {}
    for name in reward_names:
        s, v = series(rows, f"rewards/{name}/mean")
        if s:
            (line,) = ax.plot(s, v, label=name, linewidth=1.3)
            colours[name] = line.get_color()
    # Periodic evaluation (eval.every_n_steps): a principle's eval points share its training colour.
    all_rows = read_jsonl(metrics_path)
    for name in ("eval/combined", "eval/ahimsa", "eval/dharma", "eval/helpfulness"):
        s, v = series(all_rows, name)
        if s:
            colour = "black" if name == "eval/combined" else colours.get(name.split("/", 1)[1])
            ax.plot(s, v, label=name, linestyle="--" if name == "eval/combined" else ":", marker="o", markersize=3.5, color=colour)
    ax.set_xlabel("step")
    ax.set_ylabel("reward")
    ax.set_title("GRPO reward")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    out = Path(out_path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
