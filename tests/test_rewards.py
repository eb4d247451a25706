"""TRL reward adapters: one judge pass for three principles, None (never 0.0) for failures."""

from __future__ import annotations

import asyncio

import pytest

from argen.errors import JudgeError
from argen.rewards.combined import CombinedReward
from argen.rewards.principle import PrincipleReward
from argen.scoring.build import build_rubric
from argen.scoring.pipeline import Scorer
from tests.conftest import compose
from tests.rule_judge import RuleJudge

SYSTEM = {"role": "system", "content": "You are a healthcare assistant."}


def batch(responses, tier="B", scope="S0", same_prompt=False):
    prompts = [[SYSTEM, {"role": "user", "content": "question" if same_prompt else f"question {i}"}] for i in range(len(responses))]
    completions = [[{"role": "assistant", "content": r}] for r in responses]
    return {"prompts": prompts, "completions": completions, "tier": [tier] * len(responses), "scope": [scope] * len(responses)}


def make_scorer(**kwargs):
    return Scorer(RuleJudge(), build_rubric(compose("train")), **kwargs)


def run_principles(scorer, kwargs, metrics=None):
    funcs = [PrincipleReward(p, scorer) for p in ("ahimsa", "dharma", "helpfulness")]
    log_metric = (lambda k, v: metrics.setdefault(k, []).append(v)) if metrics is not None else None

    async def together():
        return await asyncio.gather(*(f(**kwargs, log_metric=log_metric, trainer_state=None) for f in funcs))

    return asyncio.run(together())


def test_three_principles_cost_one_judge_pass():
    scorer = make_scorer()
    kwargs = batch(["See a doctor this week about the cough, and rest.", "short"])
    metrics: dict = {}
    ahimsa, dharma, helpful = run_principles(scorer, kwargs, metrics)
    assert scorer.judge.calls == 1 and scorer.judge.judged == 2
    assert len(ahimsa) == len(dharma) == len(helpful) == 2
    assert ahimsa[0] > ahimsa[1]  # longer answer with a referral scores higher under the rule judge
    assert metrics["argen/judge/calls"] == [1.0]
    assert "argen/ahimsa/referral_factor" in metrics and "argen/dharma/scope_factor" in metrics
    # The same batch again (a sync caller, or the next reward function) is served from the memo.
    run_principles(scorer, kwargs)
    assert scorer.judge.calls == 1


def test_duplicate_completions_in_a_batch_are_judged_once():
    scorer = make_scorer()
    run_principles(scorer, batch(["same answer"] * 4, same_prompt=True))
    assert scorer.judge.judged == 1


def test_failed_judgement_gives_none_not_zero_and_is_counted():
    scorer = make_scorer(max_error_rate=0.9)
    ahimsa, dharma, helpful = run_principles(scorer, batch(["fine answer here", "<<judge-fails>>"]))
    assert ahimsa[1] is None and dharma[1] is None and helpful[1] is None
    assert ahimsa[0] is not None
    assert scorer.failures == 1


def test_too_many_failures_stop_the_run():
    scorer = make_scorer(max_error_rate=0.25)
    with pytest.raises(JudgeError, match="above judge.max_error_rate=0.25"):
        run_principles(scorer, batch(["ok answer", "<<judge-fails>>"]))


def test_on_error_raise_stops_at_first_failure():
    scorer = make_scorer(on_error="raise")
    with pytest.raises(JudgeError, match="judge.on_error=raise"):
        run_principles(scorer, batch(["ok answer"] * 9 + ["<<judge-fails>>"]))


# RuleJudge on a 40-word answer: every quality sub-score 1.0, no referral (fits tier C), domain
# adherence 1.0. Its response scope is set per case; the prompt is S0. By hand from the rubric
# tables (conf/rubric/argen.yaml): the S0 -> S2 scope factor is 0.3 and an S2 reply's domain is
# capped at 0.5, so dharma = 0.5 * 0.3 = 0.15 and ahimsa, helpfulness = 1.0 * 0.3 when scaled:
# 0.3 * 0.3 + 0.4 * 0.15 + 0.3 * 0.3 = 0.24 (0.66 unscaled). S0 -> S3: factor 0, everything 0.
@pytest.mark.parametrize("response_scope,expected", [("S0", 1.0), ("S1", 1.0), ("S2", 0.24), ("S3", 0.0)])
def test_combined_reward_applies_scope_scaling(response_scope, expected):
    scorer = Scorer(RuleJudge(response_scope=response_scope), build_rubric(compose("train")))
    reward = CombinedReward(scorer, {"ahimsa": 0.3, "dharma": 0.4, "helpfulness": 0.3})
    (value,) = asyncio.run(reward(**batch(["word " * 40], tier="C", scope="S0")))
    assert value == pytest.approx(expected)


def test_scope_scaling_follows_the_prompt_scope_row():
    # An S2 reply to an S1 prompt: factor 0.5, dharma 0.5 * 0.5; to an S2 prompt: factor 1, no scaling.
    scorer = Scorer(RuleJudge(response_scope="S2"), build_rubric(compose("train")))
    reward = CombinedReward(scorer, {"ahimsa": 0.3, "dharma": 0.4, "helpfulness": 0.3})
    (s1,) = asyncio.run(reward(**batch(["word " * 40], tier="C", scope="S1")))
    (s2,) = asyncio.run(reward(**batch(["word " * 40], tier="C", scope="S2")))
    assert s1 == pytest.approx(0.3 * 0.5 + 0.4 * 0.25 + 0.3 * 0.5)
    assert s2 == pytest.approx(0.3 * 1.0 + 0.4 * 0.5 + 0.3 * 1.0)
