"""Plots written into run dirs (PNG, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from argen.reporting.metrics import periodic_steps, read_jsonl, series


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on training machines
    import matplotlib.pyplot as plt

    return plt


def smooth(values: Sequence[float], window: int) -> list[float]:
    """Trailing rolling mean (the first points average what there is so far)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def smoothing_window(n: int) -> int:
    """A window that spans about a quarter of the run (at most 10 steps): steps draw different
    prompts, so single steps swing with the prompts, not with learning."""
    return max(1, min(10, n // 4))


def periodic_curve(metrics_path: str | Path) -> dict[str, list]:
    """The periodic evaluation per step: ``steps``, mean of each score and a 95% interval of the
    combined mean (normal approximation over the scenarios). From ``periodic_eval.jsonl`` beside
    the metrics file, else the ``eval/*`` means in the metrics file (no interval then)."""
    import math

    keys = ("combined", "ahimsa", "dharma", "helpfulness")
    by_step = periodic_steps(Path(metrics_path).parent / "periodic_eval.jsonl")
    curve: dict[str, list] = {"steps": [], "low": [], "high": [], "n": [], **{k: [] for k in keys}}
    if not by_step:
        rows = read_jsonl(metrics_path)
        steps, values = series(rows, "eval/combined")
        curve["steps"], curve["combined"] = steps, values
        for k in keys[1:]:
            got = dict(zip(*series(rows, f"eval/{k}")))
            curve[k] = [got.get(s) for s in steps]
        return curve
    for step, rows in by_step.items():
        scored = [r for r in rows if isinstance(r.get("combined"), (int, float))]
        if not scored:
            continue
        curve["steps"].append(step)
        for k in keys:
            vals = [float(r[k]) for r in scored if isinstance(r.get(k), (int, float))]
            curve[k].append(sum(vals) / len(vals) if vals else None)
        vals = [float(r["combined"]) for r in scored]
        mean = sum(vals) / len(vals)
        sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
        half = 1.96 * sd / math.sqrt(len(vals))
        curve["low"].append(mean - half)
        curve["high"].append(mean + half)
        curve["n"].append(len(vals))
    return curve


def plot_reward_curve(metrics_path: str | Path, out_path: str | Path, reward_names: Sequence[str]) -> Path | None:
    """The run's learning in one figure; None if there is nothing to plot.

    Left: the training reward per step (faint) and its rolling mean (bold), total and each
    reward function. Right (with periodic evaluation): the fixed evaluation subset's scores at
    each evaluated step, the combined mean with its 95% interval.
    """
    rows = [r for r in read_jsonl(metrics_path) if "reward" in r]
    curve = periodic_curve(metrics_path)
    if not rows and not curve["steps"]:
        return None
    plt = _pyplot()
    panels = 2 if curve["steps"] else 1
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 4.5), squeeze=False)
    ax = axes[0][0]
    colours = {"combined": "black"}
    steps, values = series(rows, "reward")
    window = smoothing_window(len(values))
    if steps:
        ax.plot(steps, values, color="black", alpha=0.25, linewidth=1)
        ax.plot(steps, smooth(values, window), label="total (weighted)", linewidth=2.2, color="black")
    for name in reward_names:
        s, v = series(rows, f"rewards/{name}/mean")
        if s:
            (line,) = ax.plot(s, v, alpha=0.25, linewidth=1)
            colours[name] = line.get_color()
            ax.plot(s, smooth(v, window), label=name, linewidth=1.6, color=colours[name])
    ax.set_xlabel("step")
    ax.set_ylabel("reward")
    ax.set_title(f"training reward (faint: per step; bold: mean of last {window})")
    ax.grid(alpha=0.3)
    if steps:
        ax.legend(loc="best", fontsize=8)
    if panels == 2:
        ax = axes[0][1]
        xs = curve["steps"]
        if curve["low"]:
            ax.fill_between(xs, curve["low"], curve["high"], color="black", alpha=0.12, label="combined 95% CI")
        ax.plot(xs, curve["combined"], color="black", marker="o", linewidth=2.2, label="combined")
        for name in ("ahimsa", "dharma", "helpfulness"):
            pts = [(x, y) for x, y in zip(xs, curve[name]) if y is not None]
            if pts:
                ax.plot(*zip(*pts), marker="o", markersize=3.5, linestyle="--", linewidth=1.2,
                        color=colours.get(name), label=name)
        n = f", {curve['n'][0]} scenarios" if curve["n"] else ""
        ax.set_title(f"periodic evaluation (fixed subset{n})")
        ax.set_xlabel("step")
        ax.set_ylabel("score")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    out = Path(out_path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
