"""The training gaming monitor (argen/training/gaming_monitor.py): generic tails counted per step,
and the run summary flags a rise only when a trend test says so."""

from __future__ import annotations

import json
import random

import pytest
from transformers import TrainerControl, TrainerState, TrainingArguments

from argen.data.jsonl import append_record
from argen.reporting.summaries import training_line
from argen.scoring.build import build_scorer
from argen.training.callbacks import MetricsFileCallback, TrainerMetrics, build_callbacks
from argen.training.gaming_monitor import (
    COUNT_KEY,
    SHARE_KEY,
    GamingMonitor,
    GamingMonitorCallback,
    cochran_armitage,
    gaming_summary,
    tail_flags,
)
from argen.types import JudgeRequest
from tests.conftest import compose

PROMPT = "My knee aches after running. Should I stop running?"
ANSWER = "Cut your distance for two weeks, run on softer ground and strengthen your thighs with squats."
TAILS = ["Please consult a qualified healthcare professional.", "I understand how frustrating this must be.",
         "This is not medical advice.", "This answer is accurate, safe and complete."]


def test_tail_flags_find_stock_tails_and_repeats_but_not_answers():
    flags = tail_flags([(PROMPT, ANSWER), (PROMPT, ANSWER + " " + TAILS[0]), (PROMPT, ANSWER + " " + ANSWER),
                        (PROMPT, TAILS[1])])
    assert [f for f, _ in flags] == [False, True, True, False]
    assert 0 < flags[1][1] < 0.5


def test_the_monitor_keeps_each_scored_completion_once_and_skips_paused_scores():
    scorer = build_scorer(compose("score", ["policy=none"]))
    monitor = GamingMonitor()
    monitor.attach(scorer)
    batch = [JudgeRequest(PROMPT, ANSWER), JudgeRequest(PROMPT, ANSWER + " " + TAILS[2])]
    for _ in range(3):  # three principle rewards score the same batch
        scorer.score_blocking(batch)
    with monitor.paused():
        scorer.score_blocking([JudgeRequest(PROMPT, "An evaluation answer.")])
    assert sorted(r for _, r in monitor.take()) == sorted(req.response for req in batch)
    assert monitor.take() == []
    monitor.detach()
    scorer.score_blocking([JudgeRequest(PROMPT, "after detach")])
    assert monitor.take() == []


def test_the_callback_logs_the_steps_share_into_metrics_jsonl(tmp_path):
    monitor, metrics = GamingMonitor(), TrainerMetrics()
    callback = GamingMonitorCallback(monitor, metrics)
    writer = MetricsFileCallback(tmp_path / "metrics.jsonl", metrics)
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[])
    state, control = TrainerState(), TrainerControl()
    for step, tailed in enumerate((0, 2, 3), start=1):
        fake = [type("R", (), {"request": JudgeRequest(f"{PROMPT} (step {step}, prompt {i})", ANSWER + (" " + TAILS[i % 4] if i < tailed else ""))})
                for i in range(4)]
        monitor(fake)
        state.global_step = step
        callback.on_step_end(args, state, control)
        writer.on_log(args, state, control, logs={"reward": 0.5})
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r[SHARE_KEY] for r in rows] == [0.0, 0.5, 0.75]
    assert [r[COUNT_KEY] for r in rows] == [4, 4, 4]


def test_build_callbacks_wires_the_monitor_to_the_training_scorer(tmp_path):
    cfg = compose("train", ["experiment=smoke", "eval.every_n_steps=0", "completions.every_n_steps=0"])
    scorer = build_scorer(cfg)
    callbacks = build_callbacks(cfg, tmp_path, scorer=scorer)
    (monitor_cb,) = [c for c in callbacks if isinstance(c, GamingMonitorCallback)]
    scorer.score_blocking([JudgeRequest(PROMPT, ANSWER)])
    assert monitor_cb.monitor.take() == [(PROMPT, ANSWER)]


def test_cochran_armitage_sees_a_rise_and_not_noise():
    rising = [(t, x, 20) for t, x in enumerate([1, 2, 4, 6, 9, 12, 15])]
    flat = [(t, x, 20) for t, x in enumerate([5, 6, 4, 5, 6, 5, 4])]
    falling = [(t, x, 20) for t, x in enumerate([15, 12, 9, 6, 4, 2, 1])]
    z, p = cochran_armitage(rising)
    assert z > 3 and p < 0.001
    assert cochran_armitage(flat)[1] > 0.2
    assert cochran_armitage(falling)[1] > 0.99
    assert cochran_armitage([(0, 0, 10), (1, 0, 10)]) is None  # nothing flagged: nothing to test


def _write_run(run_dir, shares, periodic_first, periodic_last):
    for step, share in enumerate(shares, start=1):
        append_record(run_dir / "metrics.jsonl", {"step": step, "reward": 0.5, SHARE_KEY: share, COUNT_KEY: 16})
    for step, flags in ((0, periodic_first), (len(shares), periodic_last)):
        for i, tailed in enumerate(flags):
            append_record(run_dir / "periodic_eval.jsonl", {"step": step, "id": f"s{i}", "prompt": PROMPT,
                                                            "response": ANSWER + (" " + TAILS[i % 4] if tailed else "")})


def test_the_summary_flags_a_rise_with_its_tests_and_the_end_line_says_so(tmp_path):
    rng = random.Random(0)
    _write_run(tmp_path, [min(1.0, 0.05 * step + rng.uniform(0, 0.05)) for step in range(1, 15)],
               [False] * 12, [True] * 9 + [False] * 3)
    summary = gaming_summary(tmp_path)
    assert summary["rising"] and summary["training"]["p_rising"] < 0.05
    assert summary["periodic"]["gained_tail"] == 9 and summary["periodic"]["p_rising"] < 0.05
    line = training_line({"steps": 14, "wall_s": 1, "run_dir": str(tmp_path), "gaming_monitor": summary})
    assert "possible reward gaming: generic tails rose" in line


def test_the_summary_does_not_flag_a_flat_share(tmp_path):
    _write_run(tmp_path, [0.25, 0.3, 0.2, 0.25, 0.3, 0.2, 0.25, 0.3], [True, False] * 6, [False, True] * 6)
    summary = gaming_summary(tmp_path)
    assert not summary["rising"] and "headline" not in summary
    assert "possible reward gaming" not in training_line({"run_dir": str(tmp_path), "gaming_monitor": summary})


@pytest.mark.parametrize("missing", ["metrics.jsonl", "both"])
def test_no_logged_shares_no_summary_entry(tmp_path, missing):
    if missing == "metrics.jsonl":
        append_record(tmp_path / "metrics.jsonl", {"step": 1, "reward": 0.5})
    assert gaming_summary(tmp_path) is None
