"""Is the policy learning to grow generic tails? The share of completions that end in stock lines.

GRPO finds whatever a judge rewards; a tail of stock lines ("consult a doctor", "this is not
medical advice", "I understand how you feel", "this answer is accurate and safe") is the cheapest
thing to find. :mod:`argen.judges.generic_text` reads, for each completion, the run of generic or
repeated sentences it ends with, after saying something specific: that is a *generic tail*,
whatever its words. This module

- counts, every step, the share of the step's completions that carry one
  (``gaming/generic_tail_share``) and the share of their words in it (``gaming/generic_tail_words``),
  logged with the step's row in ``metrics.jsonl`` and the trackers;
- tests at the end of the run whether that share rose: a Cochran-Armitage trend test over the
  steps (one-sided, rising), and, when periodic evaluation ran, an exact McNemar test pairing
  each evaluation scenario's first and last answer (the same pairing as the learning trend,
  :mod:`argen.training.learning_trend`). The summary flags a rise when either test says so at
  p < 0.05.

It reads text only, with no judge call: about 0.2 ms of CPU per completion (1,600 of ArGen's
responses, 2 shared cores at load 4-5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scipy.stats import binomtest, norm
from transformers import TrainerCallback

from argen.data.jsonl import read_records
from argen.judges.generic_text import generic_tail
from argen.reporting.metrics import periodic_steps
from argen.training.completions_log import CompletionRecorder

SHARE_KEY = "gaming/generic_tail_share"
WORDS_KEY = "gaming/generic_tail_words"
COUNT_KEY = "gaming/completions"
#: A rise is flagged when a test gives p below this.
ALPHA = 0.05


def tail_flags(pairs: Sequence[tuple[str, str]]) -> list[tuple[bool, float]]:
    """For each (prompt, completion): whether it ends in a generic tail, and the share of its words in the tail."""
    out = []
    for prompt, response in pairs:
        reading = generic_tail(prompt, response)
        total = max(1, len(response.split()))
        out.append((reading.gamed, reading.words / total if reading.gamed else 0.0))
    return out


class GamingMonitor(CompletionRecorder):
    """A :class:`~argen.scoring.pipeline.Scorer` listener that keeps each scored completion once,
    until :meth:`take` empties it (the three principle rewards score the same batch); it hands
    out text only, since the monitor makes no judge call."""

    def take(self) -> list[tuple[str, str]]:  # type: ignore[override]
        """The (prompt, completion) pairs scored since the last call."""
        return [(res.request.prompt, res.request.response) for res in super().take()]


class GamingMonitorCallback(TrainerCallback):
    """Adds the step's generic-tail share to the step's logged row (rank 0's completions)."""

    def __init__(self, monitor: GamingMonitor, metrics):
        self.monitor = monitor
        self.metrics = metrics

    def on_step_end(self, args, state, control, **kwargs):
        flags = tail_flags(self.monitor.take())
        if not flags:
            return  # a step that reuses a generation batch scores nothing new
        self.metrics.add(SHARE_KEY, sum(f for f, _ in flags) / len(flags))
        self.metrics.add(WORDS_KEY, sum(w for _, w in flags) / len(flags))
        self.metrics.add(COUNT_KEY, len(flags))

    def on_train_end(self, args, state, control, **kwargs):
        self.monitor.detach()


def cochran_armitage(counts: Sequence[tuple[float, float, float]]) -> tuple[float, float] | None:
    """Trend in a proportion over ordered groups: ``counts`` = (score, flagged, n) per group.

    Returns (z, one-sided p for a rising proportion), or None when there is no variation to test.
    """
    total = sum(n for _, _, n in counts)
    flagged = sum(x for _, x, _ in counts)
    if total == 0 or len(counts) < 2:
        return None
    p = flagged / total
    t_bar_n = sum(t * n for t, _, n in counts)
    var = p * (1 - p) * (sum(t * t * n for t, _, n in counts) - t_bar_n * t_bar_n / total)
    if var <= 0:
        return None
    z = sum(t * (x - n * p) for t, x, n in counts) / math.sqrt(var)
    return z, float(norm.sf(z))


def training_trend(metrics_path: str | Path) -> dict[str, Any] | None:
    """The per-step shares logged in ``metrics.jsonl``: first and last quarter, and the trend test."""
    rows = [r for r in read_records(metrics_path)
            if isinstance(r.get(SHARE_KEY), (int, float)) and isinstance(r.get(COUNT_KEY), (int, float))]
    if len(rows) < 2:
        return None
    counts = [(float(r["step"]), float(r[SHARE_KEY]) * float(r[COUNT_KEY]), float(r[COUNT_KEY])) for r in rows]
    quarter = max(1, len(rows) // 4)

    def share(part):
        n = sum(c[2] for c in part)
        return round(sum(c[1] for c in part) / n, 4) if n else None

    test = cochran_armitage(counts)
    return {
        "steps": len(rows),
        "completions": int(sum(c[2] for c in counts)),
        "first_quarter": share(counts[:quarter]),
        "last_quarter": share(counts[-quarter:]),
        "trend_z": None if test is None else round(test[0], 3),
        "p_rising": None if test is None else round(test[1], 4),
    }


def periodic_trend(path: str | Path) -> dict[str, Any] | None:
    """First against last periodic evaluation, scenario by scenario: exact McNemar on the tail flag."""
    steps = periodic_steps(path)
    if len(steps) < 2:
        return None
    first, last = min(steps), max(steps)

    def flags(rows):
        return {str(r["id"]): tail_flags([(r.get("prompt", ""), r.get("response") or "")])[0][0]
                for r in rows if isinstance(r.get("response"), str)}

    before, after = flags(steps[first]), flags(steps[last])
    common = sorted(set(before) & set(after))
    if not common:
        return None
    gained = sum(1 for k in common if after[k] and not before[k])
    lost = sum(1 for k in common if before[k] and not after[k])
    p = binomtest(gained, gained + lost, 0.5, alternative="greater").pvalue if gained + lost else 1.0
    return {
        "first_step": first, "last_step": last, "n": len(common),
        "share_first": round(sum(before[k] for k in common) / len(common), 4),
        "share_last": round(sum(after[k] for k in common) / len(common), 4),
        "gained_tail": gained, "lost_tail": lost, "p_rising": round(float(p), 4),
    }


def gaming_summary(run_dir: str | Path) -> dict[str, Any] | None:
    """The summary entry ``gaming_monitor``: both tests, ``rising``, and a ``headline`` when it rose."""
    run_dir = Path(run_dir)
    training = training_trend(run_dir / "metrics.jsonl")
    periodic = periodic_trend(run_dir / "periodic_eval.jsonl")
    if training is None and periodic is None:
        return None
    rising_training = bool(training and training["p_rising"] is not None and training["p_rising"] < ALPHA
                           and (training["trend_z"] or 0) > 0)
    rising_periodic = bool(periodic and periodic["p_rising"] < ALPHA and periodic["gained_tail"] > periodic["lost_tail"])
    out: dict[str, Any] = {"training": training, "periodic": periodic, "rising": rising_training or rising_periodic}
    if out["rising"]:
        parts = []
        if rising_training:
            parts.append(f"{training['first_quarter']:.0%} -> {training['last_quarter']:.0%} of training completions "
                         f"(trend p={training['p_rising']:.3g})")
        if rising_periodic:
            parts.append(f"{periodic['share_first']:.0%} -> {periodic['share_last']:.0%} of evaluation answers "
                         f"(paired p={periodic['p_rising']:.3g}, n={periodic['n']})")
        out["headline"] = "possible reward gaming: generic tails rose, " + "; ".join(parts)
    return out


__all__ = ["COUNT_KEY", "SHARE_KEY", "WORDS_KEY", "GamingMonitor", "GamingMonitorCallback", "cochran_armitage",
           "gaming_summary", "periodic_trend", "tail_flags", "training_trend"]
