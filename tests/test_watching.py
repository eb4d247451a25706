"""Watching a run learn: periodic evaluation, adaptive reward weights, the beta schedule,
resource metrics and the completions log. One real smoke run exercises all of them together;
the pieces with logic of their own are also tested directly."""

from __future__ import annotations

import json
import math
import os
import re

import pytest

from argen.config import to_plain
from argen.training.validation import validate_train_config
from argen.errors import ConfigError
from argen.reporting.metrics import append_jsonl, periodic_steps, read_jsonl
from argen.scoring.build import build_rubric
from argen.scoring.pipeline import Scorer
from argen.types import JudgeRequest
from argen.training.adaptive_weights import AdaptiveWeights, renormalise
from argen.training.beta_schedule import BetaSchedule
from argen.training.completions_log import CompletionRecorder, completion_rows
from argen.training.console import format_line
from argen.training.resources import ResourceMeter, summarise_resources
from tests.conftest import compose, run_cli
from tests.rule_judge import RuleJudge
from tests.test_paired_stats import signed_rank_p_by_flips

PRINCIPLES = ("ahimsa", "dharma", "helpfulness")
# RuleJudge: predictable verdicts (dharma is always 1.0; ahimsa and helpfulness grow with length).
# Policies stay out of these runs: they are another module's subject.
ISOLATED = ["judge._target_=tests.rule_judge.RuleJudge", "judge.name=rule", "policy.enabled=false"]
MAX_STEPS = 3


# ---------------------------------------------------------------- one real run, every feature on
@pytest.fixture(scope="module")
def watched_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("watch") / "run"
    result = run_cli(
        "argen.train", "experiment=smoke", *ISOLATED, f"hydra.run.dir={run_dir}",
        f"grpo.max_steps={MAX_STEPS}",
        # A learning rate high enough that the tiny model's answers change within 3 steps, so the
        # learning trend compares different numbers (at 1e-5 every answer stays the same).
        "grpo.learning_rate=0.05",
        "eval.every_n_steps=2",
        "reward.adaptive=true",
        "grpo.beta_schedule.kind=cosine", "grpo.beta_schedule.start=0.1", "grpo.beta_schedule.end=0.0",
        "completions.every_n_steps=2", "completions.sample=3",
        "eval.at_end=true",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir.parent / "stdout.txt").write_text(result.stdout)
    (run_dir.parent / "stderr.txt").write_text(result.stderr)
    rows = read_jsonl(run_dir / "metrics.jsonl")
    train_rows = [r for r in rows if "reward" in r]
    assert [r["step"] for r in train_rows] == list(range(1, MAX_STEPS + 1))
    return run_dir, rows, train_rows


def test_periodic_eval_logs_eval_metrics_at_start_every_n_and_last_step(watched_run):
    run_dir, rows, _ = watched_run
    evals = [r for r in rows if "eval/combined" in r]
    # before the first step (baseline), at step 2 (every_n_steps) and at the last step
    assert [r["step"] for r in evals] == [0, 2, 3]
    for row in evals:
        for name in (*PRINCIPLES, "combined"):
            assert 0.0 <= row[f"eval/{name}"] <= 1.0
        # RuleJudge's dharma is 1.0 for any answer: a real score went through judge and rubric
        assert row["eval/dharma"] == 1.0 and row["eval/unscored_frac"] == 0.0
        # the evaluation formula: 0.3 A + 0.4 D + 0.3 H
        expected = 0.3 * row["eval/ahimsa"] + 0.4 * row["eval/dharma"] + 0.3 * row["eval/helpfulness"]
        assert row["eval/combined"] == pytest.approx(expected, abs=1e-6)
    answers = read_jsonl(run_dir / "periodic_eval.jsonl")
    assert len(answers) == 3 * 4  # eval.limit=4 scenarios in each of the 3 evaluations
    assert {a["step"] for a in answers} == {0, 2, 3}
    assert all(a["id"].startswith("eval-") and isinstance(a["response"], str) for a in answers)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["periodic_eval"]["evaluations"] == 3
    assert summary["periodic_eval"]["last"]["step"] == 3
    assert (run_dir / "reward_curve.png").stat().st_size > 5_000


def test_periodic_eval_generates_exactly_as_the_final_evaluation(watched_run):
    """One generation function: step 0 answers as the base model's final evaluation does, and the
    last step as the trained model's (same prompts, sampling, seeds and token limit)."""
    run_dir, _, _ = watched_run
    periodic = periodic_steps(run_dir / "periodic_eval.jsonl")
    assert list(periodic) == [0, 2, 3]
    for step, label in ((0, "base"), (MAX_STEPS, "trained")):
        final = {r["id"]: r for r in read_jsonl(run_dir / "eval" / label / "responses.jsonl")}
        assert [r["id"] for r in periodic[step]] == list(final)
        for row in periodic[step]:
            other = final[row["id"]]
            assert (row["response"], row["new_tokens"], row["truncated"]) == (
                other["response"], other["new_tokens"], other["truncated"]), (step, row["id"])
            assert row["combined"] == pytest.approx(other["combined"])


def test_run_summary_reports_the_learning_trend_with_its_paired_test(watched_run):
    """The trend's numbers, recomputed here from the answers in periodic_eval.jsonl: first step
    against last, scenario by scenario, with the signed-rank p worked out by brute force."""
    run_dir, _, _ = watched_run
    summary = json.loads((run_dir / "summary.json").read_text())
    trend = summary["periodic_eval"]["trend"]
    assert (trend["first_step"], trend["last_step"]) == (0, MAX_STEPS)

    answers = read_jsonl(run_dir / "periodic_eval.jsonl")
    by_step = {step: {a["id"]: a for a in answers if a["step"] == step} for step in (0, 2, MAX_STEPS)}
    assert trend["curve"] == {str(step): pytest.approx(round(sum(a["combined"] for a in rows.values()) / len(rows), 4))
                              for step, rows in by_step.items()}
    first, last = by_step[0], by_step[MAX_STEPS]
    assert sorted(first) == sorted(last) and len(first) == 4
    for key in (*PRINCIPLES, "combined"):
        before = [first[i][key] for i in sorted(first)]
        after = [last[i][key] for i in sorted(first)]
        diffs = [round(b - a, 9) for a, b in zip(before, after)]
        result = trend["stats"]["overall"][key]
        assert result["n"] == 4, key
        assert result["mean_before"] == pytest.approx(round(sum(before) / 4, 4)), key
        assert result["mean_after"] == pytest.approx(round(sum(after) / 4, 4)), key
        assert result["mean_diff"] == pytest.approx(round(sum(diffs) / 4, 4)), key
        assert (result["better"], result["worse"], result["same"]) == (
            sum(d > 0 for d in diffs), sum(d < 0 for d in diffs), sum(d == 0 for d in diffs)), key
        assert result["p_value"] == pytest.approx(signed_rank_p_by_flips(diffs)), key
        if result["ci_low"] is not None:  # a bootstrap interval of a mean stays within the differences
            assert min(diffs) - 1e-4 <= result["ci_low"] <= result["mean_diff"] <= result["ci_high"] <= max(diffs) + 1e-4

    combined = trend["stats"]["overall"]["combined"]
    diffs = [round(last[i]["combined"] - first[i]["combined"], 9) for i in sorted(first)]
    # The learning rate makes the answers change; were they all equal, none of the above would bite.
    assert any(diffs), "no answer changed between step 0 and the last step"
    p = signed_rank_p_by_flips(diffs)
    # n = 4: the smallest two-sided p the test can give is 2/16 = 0.125, so never significant.
    assert p >= 0.125 and combined["significant"] is False
    assert combined["verdict"] == f"not significant (p={p:.2f})"
    last_line = (run_dir.parent / "stdout.txt").read_text().strip().splitlines()[-1]
    mean = {step: sum(a["combined"] for a in rows.values()) / 4 for step, rows in by_step.items()}
    headline = (f"periodic eval combined {mean[0]:.3f} at step 0 -> {mean[MAX_STEPS]:.3f} at step {MAX_STEPS} "
                f"({combined['mean_diff']:+.3f}, 95% CI ")
    assert headline in last_line and f"n=4, not significant (p={p:.2f}))" in last_line, last_line
    assert trend["headline"] in last_line
    assert re.search(r"eval combined \d\.\d{3} -> \d\.\d{3} \([+-]\d\.\d{3}, 95% CI", last_line), last_line
    # The curve beside the smoothed training reward: a figure of two panels.
    png = (run_dir / "reward_curve.png").read_bytes()
    assert int.from_bytes(png[16:20], "big") > 1200


def _periodic_rows(path, changes: list[float]) -> None:
    for step, shift in ((0, None), (4, 1.0), (8, 0.0)):
        for i, change in enumerate(changes):
            base = 0.40 + 0.01 * i
            value = base + (change if shift == 1.0 else 0.0)
            append_jsonl(path, {"step": step, "id": f"s{i}", "combined": value, "ahimsa": value,
                                "dharma": 1.0, "helpfulness": value, "violations": []})


@pytest.mark.parametrize("n,verdict", [(5, "not significant (p=0.06)"), (6, "significant (p=0.03)")])
def test_learning_trend_compares_the_first_and_the_last_evaluation(tmp_path, n, verdict):
    """Scenarios that all improved at step 4 and fell back at step 8: the trend is step 0 against
    step 8 (nothing changed), never against the best step. Then step 8 improved by known amounts:
    the exact two-sided p of n improvements with distinct sizes is 2 / 2**n (5: 0.0625, 6: 0.03125)."""
    from argen.training.learning_trend import periodic_trend

    path = tmp_path / "periodic_eval.jsonl"
    _periodic_rows(path, [0.01 * (i + 1) for i in range(n)])
    flat = periodic_trend(path)
    assert (flat["first_step"], flat["last_step"]) == (0, 8)
    combined = flat["stats"]["overall"]["combined"]
    assert (combined["mean_diff"], combined["p_value"], combined["same"]) == (0.0, 1.0, n)

    path.unlink()
    for step in (0, 8):
        for i in range(n):
            value = 0.40 + 0.01 * i + (0.01 * (i + 1) if step == 8 else 0.0)
            append_jsonl(path, {"step": step, "id": f"s{i}", "combined": value, "ahimsa": value,
                                "dharma": 1.0, "helpfulness": value, "violations": []})
    trend = periodic_trend(path)
    combined = trend["stats"]["overall"]["combined"]
    assert combined["p_value"] == pytest.approx(2 / 2**n)
    assert combined["verdict"] == verdict
    mean_diff = sum(0.01 * (i + 1) for i in range(n)) / n
    assert combined["mean_diff"] == pytest.approx(mean_diff)
    assert combined["better"] == n and trend["stats"]["overall"]["dharma"]["same"] == n
    before = sum(0.40 + 0.01 * i for i in range(n)) / n
    assert trend["headline"].startswith(
        f"periodic eval combined {before:.3f} at step 0 -> {before + mean_diff:.3f} at step 8 ({mean_diff:+.3f}, 95% CI [")
    assert trend["headline"].endswith(f"n={n}, {verdict})")
    assert trend["curve"] == {0: pytest.approx(round(before, 4)), 8: pytest.approx(round(before + mean_diff, 4))}


def test_learning_trend_needs_two_evaluated_steps(tmp_path):
    from argen.training.learning_trend import periodic_trend

    path = tmp_path / "periodic_eval.jsonl"
    assert periodic_trend(path) is None
    append_jsonl(path, {"step": 0, "id": "s0", "combined": 0.5})
    assert periodic_trend(path) is None
    append_jsonl(path, {"step": 3, "id": "other", "combined": 0.6})
    assert periodic_trend(path)["headline"] == "periodic eval: no scenario scored at both step 0 and step 3"


def test_console_prints_one_compact_line_per_logged_step(watched_run):
    run_dir, rows, _ = watched_run
    out = (run_dir.parent / "stdout.txt").read_text()
    err = (run_dir.parent / "stderr.txt").read_text()
    lines = [line for line in out.splitlines() if line.startswith("step ")]
    # the baseline evaluation, one line per step, and the end of training
    assert [line.split(" | ")[0] for line in lines] == ["step 0/3", "step 1/3", "step 2/3", "step 3/3", "step 3/3"]
    assert re.fullmatch(r"step 0/3 \| eval \d\.\d{3}", lines[0])
    for line in lines[1:4]:
        assert re.fullmatch(r"step \d/3 \| reward \d\.\d{3} \| ahimsa \d\.\d{3} dharma \d\.\d{3} helpfulness \d\.\d{3}"
                            r"( \| eval \d\.\d{3})? \| \d+\.\d s/step \| ETA \S+", line), line
    assert " | eval " in lines[2] and " | eval " not in lines[1]
    assert re.fullmatch(r"step 3/3 \| done in \S+", lines[4])
    # transformers' dict goes nowhere near the console; the full rows are in metrics.jsonl
    assert "'rewards/" not in out + err and "{'loss'" not in out + err
    assert len([r for r in rows if "reward" in r][0]) > 20


def test_console_line_format():
    logs = {"reward": 0.71234, "rewards/ahimsa/mean": 0.65, "rewards/dharma/mean": 0.9, "loss": 0.01, "kl": 0.002}
    assert format_line(logs, 7, 28, 21.4) == (
        "step 7/28 | reward 0.712 | ahimsa 0.650 dharma 0.900 | 21.4 s/step | ETA 7m29s")
    assert format_line({"eval/combined": 0.5}, 0, 28, None) == "step 0/28 | eval 0.500"
    assert format_line({"train_runtime": 3725.0, "train_loss": 0.1}, 28, 28, 10.0) == "step 28/28 | done in 1h02m"
    assert format_line({"learning_rate": 1e-5}, 3, 28, 1.0) is None


def test_beta_schedule_sets_trainer_beta_each_step(watched_run):
    _, _, train_rows = watched_run
    assert [round(r["beta"], 6) for r in train_rows] == [0.1, 0.05, 0.0]
    # TRL computes (and logs) the KL term only while its beta is non-zero: the schedule reached it.
    assert "kl" in train_rows[0] and "kl" in train_rows[1]
    assert "kl" not in train_rows[2]


def test_adaptive_weights_move_towards_the_lagging_principles(watched_run):
    run_dir, _, train_rows = watched_run
    weights = [{p: r[f"reward_weight/{p}"] for p in PRINCIPLES} for r in train_rows]
    assert weights[0] == pytest.approx({"ahimsa": 0.3, "dharma": 0.4, "helpfulness": 0.3})
    for w in weights:
        assert sum(w.values()) == pytest.approx(1.0)  # the configured total is kept
    # dharma (1.0 from RuleJudge) is above the 0.75 target; the other two lag and gain weight
    assert [w["dharma"] for w in weights] == sorted((w["dharma"] for w in weights), reverse=True)
    assert weights[-1]["dharma"] < 0.4 and weights[-1]["ahimsa"] > 0.3 and weights[-1]["helpfulness"] > 0.3
    # TRL really used them: its total reward is the weighted sum of the per-function means
    for row, w in zip(train_rows, weights):
        assert row["reward"] == pytest.approx(sum(w[p] * row[f"rewards/{p}/mean"] for p in PRINCIPLES), abs=1e-4)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["reward_weights"] == pytest.approx(weights[-1])


def test_resource_metrics_in_every_row_and_in_the_summary(watched_run):
    run_dir, _, train_rows = watched_run
    for row in train_rows:
        assert row["resources/step_s"] > 0
        assert row["resources/tokens_per_s"] > 0
        assert row["resources/rss_mb"] > 50  # a Python process with torch loaded
        assert "resources/gpu_peak_mb" not in row  # CPU run
    summary = json.loads((run_dir / "summary.json").read_text())
    res = summary["resources"]
    assert res["step_s_mean"] == pytest.approx(sum(r["resources/step_s"] for r in train_rows) / MAX_STEPS, rel=1e-3)
    assert res["rss_mb_peak"] == pytest.approx(max(r["resources/rss_mb"] for r in train_rows), abs=0.1)
    assert res["tokens_total"] == int(train_rows[-1]["num_tokens"])


def test_completions_log_has_prompts_completions_and_verdicts(watched_run):
    run_dir, _, _ = watched_run
    rows = read_jsonl(run_dir / "completions.jsonl")
    assert [r["step"] for r in rows] == [2, 2, 2, 3, 3, 3]  # every 2 steps and the last, 3 each
    for row in rows:
        assert row["prompt"] and isinstance(row["response"], str) and row["tier"] in "ABC"
        assert row["referral_strength"] in ("none", "routine", "urgent", "emergency")
        assert row["response_scope"] in ("S0", "S1", "S2", "S3")
        assert isinstance(row["violations"], list) and 0 <= row["combined"] <= 1
        assert row["verdict"]["domain_adherence"] == 1.0
    summary = json.loads((run_dir / "summary.json").read_text())
    # one judge call per training step + one per periodic evaluation, at most: the log judged nothing
    assert summary["judge"]["calls"] <= MAX_STEPS + 3


# ---------------------------------------------------------------- beta schedule
def test_beta_schedule_values():
    linear = BetaSchedule("linear", 0.1, 0.02)
    assert [round(linear.at_step(s, 5), 6) for s in range(5)] == [0.1, 0.08, 0.06, 0.04, 0.02]
    cosine = BetaSchedule("cosine", 0.1, 0.0)
    values = [cosine.at_step(s, 5) for s in range(5)]
    assert values[0] == 0.1 and values[-1] == pytest.approx(0.0) and values[2] == pytest.approx(0.05)
    assert all(a > b for a, b in zip(values, values[1:]))
    assert BetaSchedule("constant", 0.04, 0.04).at_step(3, 10) == 0.04
    assert BetaSchedule("linear", 0.1, 0.0).at_step(0, 1) == 0.1  # a one-step run uses the start


def test_beta_schedule_start_is_trl_beta_and_the_key_is_stripped(tmp_path):
    from argen.training.grpo_args import grpo_kwargs

    cfg = compose("train", ["experiment=smoke", *ISOLATED, "grpo.beta_schedule.kind=linear",
                            "grpo.beta_schedule.start=0.2", "grpo.beta_schedule.end=0.05"])
    validate_train_config(cfg)
    kwargs = grpo_kwargs(cfg, tmp_path, [0.3, 0.4, 0.3])
    assert kwargs["beta"] == 0.2 and "beta_schedule" not in kwargs
    # null start: grpo.beta is the start
    cfg = compose("train", ["grpo=paper", *ISOLATED, "grpo.beta_schedule.kind=cosine", "grpo.beta_schedule.end=0.0"])
    assert BetaSchedule.from_grpo(to_plain(cfg.grpo)) == BetaSchedule("cosine", 0.1, 0.0)


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["grpo.beta_schedule.kind=linear", "grpo.beta_schedule.end=0.1"], "grpo.beta_schedule.start"),
        (["grpo.beta_schedule.kind=cosine", "grpo.beta_schedule.start=0", "grpo.beta_schedule.end=0.05"], "grpo.beta_schedule.start"),
        (["grpo.beta_schedule.kind=step"], "grpo.beta_schedule.kind"),
        (["grpo.beta_schedule.kind=linear"], "grpo.beta_schedule.end"),
        (["grpo.beta_schedule.end=0.3"], "grpo.beta_schedule.end"),
        (["grpo.beta_schedule.start=-0.1"], "grpo.beta_schedule.start"),
        (["reward=combined", "+reward.adaptive=true"], "reward.adaptive"),
        (["reward.adaptive=true", "reward.adapt.floor=0.4"], "reward.adapt.floor"),
        (["reward.adapt.step=0"], "reward.adapt.step"),
        (["reward.adapt.window=0"], "reward.adapt.window"),
        (["+reward.adapt.gamma=0.1"], "reward.adapt.gamma"),
        (["completions.every_n_steps=-1"], "completions.every_n_steps"),
        (["completions.sample=0"], "completions.sample"),
        (["eval.periodic_limit=100"], "eval.periodic_limit"),
    ],
)
def test_bad_watching_config_names_its_key(overrides, key):
    cfg = compose("train", [*ISOLATED, *overrides])
    with pytest.raises(ConfigError) as err:
        validate_train_config(cfg)
    assert err.value.key == key


def test_cli_refuses_a_schedule_rising_from_zero_before_loading_anything(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli("argen.train", "experiment=smoke", *ISOLATED, f"hydra.run.dir={run_dir}",
                     "grpo.beta_schedule.kind=linear", "grpo.beta_schedule.end=0.1")
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()[-1]
    assert "grpo.beta_schedule.start" in message and "reference model" in message
    assert "Traceback" not in result.stderr
    assert not (run_dir / "checkpoints").exists()


# ---------------------------------------------------------------- adaptive weights
def test_adaptive_weights_raise_a_reward_made_to_lag():
    aw = AdaptiveWeights(list(PRINCIPLES), [0.3, 0.4, 0.3], target=0.7, step=0.05, floor=0.1, window=3)
    history = [aw.weights]
    for _ in range(40):  # ahimsa is made to lag; the others are well above target
        history.append(aw.observe({"ahimsa": 0.2, "dharma": 0.9, "helpfulness": 0.85}))
    ahimsa, dharma = [w[0] for w in history], [w[1] for w in history]
    assert all(b > a for a, b in zip(ahimsa[:11], ahimsa[1:11]))  # gains weight at every update...
    assert all(b >= a - 1e-12 for a, b in zip(ahimsa, ahimsa[1:]))  # ...and never loses any
    assert all(b <= a + 1e-12 for a, b in zip(dharma, dharma[1:]))
    for w in history:
        assert sum(w) == pytest.approx(1.0)  # the configured total is kept
        assert min(w) >= 0.1 - 1e-9  # the floor holds after renormalising
    # in the end the others are pinned at the floor and ahimsa holds the rest
    assert history[-1] == pytest.approx([0.8, 0.1, 0.1])
    # once ahimsa's running mean reaches the target the weights stop moving
    for _ in range(3):
        aw.observe({"ahimsa": 0.95, "dharma": 0.9, "helpfulness": 0.85})
    settled = aw.weights
    assert aw.observe({"ahimsa": 0.95, "dharma": 0.9, "helpfulness": 0.85}) == settled


def test_adaptive_weights_hold_when_all_or_none_lag_and_skip_missing_values():
    aw = AdaptiveWeights(["a", "b"], [0.6, 0.2], target=0.5, window=2)
    assert aw.observe({"a": 0.1, "b": 0.2}) == pytest.approx([0.6, 0.2])  # both lag: priorities kept
    assert aw.observe({"a": 0.9, "b": 0.9}) == pytest.approx([0.6, 0.2])  # running means 0.5/0.55: none lags
    assert aw.observe({"a": None, "b": float("nan")}) == pytest.approx([0.6, 0.2])
    assert aw.updates == 0 and sum(aw.weights) == pytest.approx(0.8)


def test_resumed_run_replays_the_logged_rewards_to_the_same_weights(tmp_path):
    import torch
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from argen.training.callbacks import AdaptiveWeightsCallback, TrainerMetrics

    settings = {"target": 0.7, "step": 0.05, "floor": 0.1, "window": 2}
    path = tmp_path / "metrics.jsonl"
    straight = AdaptiveWeights(list(PRINCIPLES), [0.3, 0.4, 0.3], **settings)
    means = [{"ahimsa": 0.2 + 0.1 * i, "dharma": 0.9, "helpfulness": 0.6 + 0.05 * i} for i in range(6)]
    for step, m in enumerate(means, start=1):
        append_jsonl(path, {"step": step, **{f"rewards/{p}/mean": v for p, v in m.items()}})
        if step <= 4:
            straight.observe(m)
    append_jsonl(path, {"step": 0, "eval/combined": 0.5})  # rows without rewards are not observations
    # The trainer attributes the callback reads: TRL's names and weights tensor.
    trainer = type("Trainer", (), {})()
    trainer.reward_func_names = list(PRINCIPLES)
    trainer.reward_weights = torch.tensor([0.3, 0.4, 0.3])
    callback = AdaptiveWeightsCallback(settings, TrainerMetrics(), path)
    callback.bind(trainer)
    state = TrainerState()
    state.global_step = 4  # resumed from checkpoint-4: rows 5 and 6 belong to the lost future
    callback.on_train_begin(TrainingArguments(output_dir=str(tmp_path), report_to=[]), state, TrainerControl())
    assert trainer.reward_weights.tolist() == pytest.approx(straight.weights)
    assert straight.weights != pytest.approx([0.3, 0.4, 0.3])


def test_renormalise_pins_shares_at_the_floor_and_keeps_zero_weights_out():
    out = renormalise([0.9, 0.05, 0.05, 0.0], floor=0.2, active=[True, True, True, False])
    assert out == pytest.approx([0.6, 0.2, 0.2, 0.0])
    aw = AdaptiveWeights(["a", "b", "tracked"], [0.5, 0.5, 0.0], target=0.8, floor=0.1)
    w = aw.observe({"a": 0.1, "b": 0.9, "tracked": 0.0})
    assert w[2] == 0.0 and w[0] > 0.5 > w[1]


# ---------------------------------------------------------------- completions log
def _scorer() -> tuple[Scorer, RuleJudge]:
    judge = RuleJudge()
    return Scorer(judge, build_rubric(compose("train", ISOLATED))), judge


def test_recorder_keeps_the_batch_the_rewards_scored_without_judging_again():
    scorer, judge = _scorer()
    recorder = CompletionRecorder()
    recorder.attach(scorer)
    batch = [JudgeRequest(f"question {i}?", "see a doctor " * (i + 1), "A", "S0") for i in range(4)]
    for _ in PRINCIPLES:  # three principle rewards ask for the same batch
        scorer.score_blocking(batch)
    assert judge.calls == 1
    results = recorder.take()
    assert [r.request for r in results] == batch  # each response once, in order
    rows = completion_rows(results, step=7, sample=2, seed=1)
    assert judge.calls == 1 and len(rows) == 2
    assert rows == completion_rows(results, step=7, sample=2, seed=1)  # reproducible sample
    for row in rows:
        assert row["step"] == 7 and row["referral_strength"] == "urgent" and row["response_scope"] == "S0"
        assert {"ahimsa", "dharma", "helpfulness", "combined", "violations", "verdict"} <= set(row)
    with recorder.paused():
        scorer.score_blocking([JudgeRequest("other", "answer", "C", "S0")])
    assert recorder.take() == []
    recorder.detach()
    scorer.score_blocking([JudgeRequest("after", "answer", "C", "S0")])
    assert recorder.take() == []


def test_completions_table_goes_to_wandb_when_wandb_is_on(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    from argen.training.callbacks import CompletionsLogCallback, build_callbacks
    from argen.training.completions_log import log_wandb_table

    scorer, _ = _scorer()
    for backend, expected in (("none", False), ("wandb", True)):
        callbacks = build_callbacks(compose("train", ["experiment=smoke", *ISOLATED, f"logging={backend}"]), tmp_path, scorer=scorer)
        (logger,) = [c for c in callbacks if isinstance(c, CompletionsLogCallback)]
        assert logger.wandb_table is expected
    for key in [k for k in os.environ if k.startswith("WANDB_")]:
        monkeypatch.delenv(key)
    recorder = CompletionRecorder()
    recorder.attach(scorer)
    scorer.score_blocking([JudgeRequest("q?", "call 911 now", "A", "S0")])
    rows = completion_rows(recorder.take(), step=3, sample=4)
    assert len(rows) == 1
    wandb.init(mode="offline", dir=str(tmp_path), project="argen-test")
    try:
        assert log_wandb_table(rows, 3)
    finally:
        wandb.finish()
    (table,) = tmp_path.glob("wandb/offline-run-*/files/media/table/argen/completions_*.table.json")
    data = json.loads(table.read_text())
    assert data["columns"][:3] == ["step", "prompt", "response"]
    assert data["data"][0][:3] == [3, "q?", "call 911 now"]


# ---------------------------------------------------------------- periodic evaluation
def test_periodic_evaluator_restores_train_mode_and_the_training_rng():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from argen.data.scenarios import Scenario
    from argen.models import resolve_model
    from argen.training.periodic_eval import PeriodicEvaluator

    cfg = compose("train", ["experiment=smoke", *ISOLATED])
    path = resolve_model(to_plain(cfg.model))
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    scorer, judge = _scorer()
    scenarios = [Scenario("s1", "I have a headache", "C", "S0"), Scenario("s2", "Chest pain and sweating", "A", "S0"),
                 Scenario("s3", "What is a deductible?", "C", "S1")]
    evaluator = PeriodicEvaluator(scorer, tokenizer, scenarios, system_prompt="Be brief.", max_new_tokens=6,
                                  temperature=0.7, batch_size=2, seed=5)
    model.train()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    metrics, records = evaluator.evaluate(model, step=4)
    assert model.training
    assert torch.equal(torch.get_rng_state(), before)  # the training's random stream is untouched
    assert judge.judged == 3 and [r["id"] for r in records] == ["s1", "s2", "s3"]
    assert set(metrics) >= {f"eval/{p}" for p in (*PRINCIPLES, "combined")} | {"eval/violation_rate", "eval/seconds"}
    assert metrics["eval/dharma"] == 1.0
    again, records2 = evaluator.evaluate(model, step=4)
    assert [r["response"] for r in records2] == [r["response"] for r in records]  # seeded per step
    # one shard of two: every other scenario
    _, half = evaluator.evaluate(model, step=6, shard=(1, 2))
    assert [r["id"] for r in half] == ["s2"]


# ---------------------------------------------------------------- resources
def test_resource_meter_window_and_summary(tmp_path):
    now = [100.0]
    meter = ResourceMeter(clock=lambda: now[0])
    for tokens_before, tokens_after, seconds in ((0, 300, 2.0), (300, 300, 1.0), (300, 900, 3.0)):
        meter.step_begin(tokens_before)
        now[0] += seconds
        meter.step_end(tokens_after)
    window = meter.flush()
    assert window["resources/step_s"] == pytest.approx(2.0)
    assert window["resources/tokens_per_s"] == pytest.approx(900 / 6.0)  # ratio of sums, not mean of ratios
    assert window["resources/rss_mb"] > 10
    assert "resources/step_s" not in meter.flush()  # a new, empty window
    path = tmp_path / "metrics.jsonl"
    for step, (s, tps, rss) in enumerate([(2.0, 100.0, 500.0), (4.0, 50.0, 700.0)], start=1):
        append_jsonl(path, {"step": step, "reward": 0.1, "num_tokens": 400 * step,
                            "resources/step_s": s, "resources/tokens_per_s": tps, "resources/rss_mb": rss})
    append_jsonl(path, {"step": 2, "train_runtime": 6.0})
    summary = summarise_resources(path)
    assert summary == {"step_s_mean": 3.0, "tokens_per_s_mean": 75.0, "rss_mb_peak": 700.0, "tokens_total": 800}
    assert not math.isnan(summary["step_s_mean"])


def test_gaming_monitor_share_in_every_training_row_and_its_tests_in_the_summary(watched_run):
    """Issue 24: the share of completions ending in generic tails, logged every step, and its trend
    tests in summary.json (argen/training/gaming_monitor.py)."""
    run_dir, _, train_rows = watched_run
    for row in train_rows:
        assert 0.0 <= row["gaming/generic_tail_share"] <= 1.0 and row["gaming/completions"] >= 1, row
    gaming = json.loads((run_dir / "summary.json").read_text())["gaming_monitor"]
    assert gaming["training"]["steps"] == MAX_STEPS and isinstance(gaming["rising"], bool)
    assert gaming["periodic"]["n"] == 4 and (gaming["periodic"]["first_step"], gaming["periodic"]["last_step"]) == (0, MAX_STEPS)
