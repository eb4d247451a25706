"""The policy engine: loading and validating Rego files, effects on rewards, user policies, reports.

Everything runs real Rego through regopy and real Hydra composition; scores come from the real
Scorer with the offline heuristic judge (or the lead's RuleJudge where a failure is needed).
"""

from __future__ import annotations

import asyncio
import copy
import pickle
import re
import time
from pathlib import Path

import pytest

from argen.config import to_plain
from argen.errors import ArgenError, ConfigError
from argen.policy import violation_counts, violation_rates
from argen.policy.engine import PolicyEngine, PolicyError
from argen.rewards.registry import build_reward_functions
from argen.scoring.build import build_policies, build_scorer
from argen.types import JudgeRequest, Verdict
from tests.conftest import compose, run_cli

RULE_JUDGE = ["judge._target_=tests.rule_judge.RuleJudge", "judge.name=rule"]

DETOX = """\
# A user's policy: no "detox" product claims. It only affects helpfulness.
package argen.policies.detox

import rego.v1

catalog := {"detox_claim": {"what": "recommends a detox product", "severity": "minor", "principle": "helpfulness"}}

violations contains v if {
	regex.match(`\\bdetox`, lower(input.response))
	v := {"id": "detox_claim", "message": "recommends a detox", "severity": "minor", "principle": "helpfulness"}
}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def paths_override(*paths: Path) -> str:
    return "policy.extra_paths=[" + ",".join(f"'{p}'" for p in paths) + "]"


def engine_with(*paths: Path, overrides: tuple[str, ...] = ()) -> PolicyEngine:
    built = build_policies(compose("train", [paths_override(*paths), *overrides]))
    assert isinstance(built, PolicyEngine)
    return built


def verdict(**changes) -> Verdict:
    fields = dict(
        harm_avoidance=0.8, safety_context=0.8, has_medical_disclaimer=False, has_professional_referral=True,
        referral_strength="routine", severity="none", domain_adherence=0.9, out_of_domain_advice=False,
        response_scope="S0", scope_risk="none", clarity=0.8, completeness=0.8, relevance=0.8, empathy=0.8,
    )
    fields.update(changes)
    return Verdict(**fields)


# ------------------------------------------------------------------------ broken policy files
BROKEN = {
    "syntax error": (
        "package argen.policies.broken\n\nviolations contains v if {\n\tv := {\"id\": \"x\"\n",
        r"broken\.rego:\d+: does not compile",
    ),
    "wrong package": (
        "package policies.broken\n\nviolations contains v if { v := 1 }\n",
        r"broken\.rego:1: package 'policies\.broken' must be argen\.policies\.<name>",
    ),
    "no package": ("violations contains v if { v := 1 }\n", r"broken\.rego: has no package line"),
    "missing field": (
        'package argen.policies.broken\n\nviolations contains v if {\n\tinput.tier == "A"\n'
        '\tv := {"id": "x", "severity": "major"}\n}\n',
        r"broken\.rego: a violation on probe input \d+ has no 'message' field",
    ),
    "bad severity": (
        'package argen.policies.broken\n\nviolations contains v if {\n\tcontains(lower(input.response), "cure")\n'
        '\tv := {"id": "x", "message": "m", "severity": "critical"}\n}\n',
        r"broken\.rego: a violation on probe input \d+ has severity 'critical'; it must be one of minor, major",
    ),
    "bad principle": (
        'package argen.policies.broken\n\nviolations contains v if {\n\tv := {"id": "x", "message": "m", '
        '"severity": "minor", "principle": "kindness"}\n}\n',
        r"broken\.rego: .*principle 'kindness'",
    ),
    "Rego v0 rule form": (
        'package argen.policies.broken\n\nviolations[v] {\n\tv := {"id": "x", "message": "m", "severity": "minor"}\n}\n',
        r"broken\.rego: `violations` is an object, not a set",
    ),
    "no violations rule": (
        "package argen.policies.broken\n\nsomething := 1\n",
        r"broken\.rego: package argen\.policies\.broken defines no `violations` set",
    ),
    "regex inline flag": (
        'package argen.policies.broken\n\nviolations contains v if {\n\tregex.match(`(?i)cure`, input.response)\n'
        '\tv := {"id": "x", "message": "m", "severity": "minor"}\n}\n',
        r"broken\.rego:4: regex inline flag '\(\?i\)'",
    ),
    "id outside its catalog": (
        'package argen.policies.broken\n\ncatalog := {"declared": {"what": "w"}}\n\nviolations contains v if {\n'
        '\tv := {"id": "undeclared", "message": "m", "severity": "minor"}\n}\n',
        r"broken\.rego: .*id 'undeclared', which is not in the policy's catalog",
    ),
    "conflicting rule": (
        'package argen.policies.broken\n\nlimit := 1 if input.tier == "A"\n\nlimit := 2 if input.tier == "A"\n\n'
        "violations contains v if {\n\tlimit > 5\n\tv := {\"id\": \"x\", \"message\": \"m\", \"severity\": \"minor\"}\n}\n",
        r"broken\.rego: fails to evaluate: .*complete rules must not produce multiple outputs",
    ),
    "sprintf of a builtin's string": (
        'package argen.policies.broken\n\nviolations contains v if {\n\tcontains(lower(input.response), "911")\n'
        '\tv := {"id": "x", "message": sprintf("said %s", [lower(input.response)]), "severity": "minor"}\n}\n',
        r"broken\.rego: .*not valid JSON.*build such messages with concat",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_policy_is_reported_with_its_file_name(tmp_path, case):
    source, message = BROKEN[case]
    path = write(tmp_path, "broken.rego", source)
    with pytest.raises(PolicyError, match=message) as info:
        engine_with(path)
    assert isinstance(info.value, ArgenError)
    assert str(path) in str(info.value)


def test_a_package_name_can_only_be_used_once(tmp_path):
    path = write(tmp_path, "mine.rego", DETOX.replace("argen.policies.detox", "argen.policies.cure"))
    with pytest.raises(PolicyError, match=r"mine\.rego: package argen\.policies\.cure is already used by argen/policy/rego/cure\.rego"):
        engine_with(path)


def test_missing_policy_file_names_the_config_key(tmp_path):
    with pytest.raises(ConfigError, match=r"policy\.extra_paths\[0\]'.*no such policy file: .*nothere\.rego"):
        engine_with(tmp_path / "nothere.rego")


def test_a_folder_of_policies_loads_every_file(tmp_path):
    write(tmp_path, "detox.rego", DETOX)
    write(tmp_path, "second.rego", DETOX.replace("detox", "juice").replace("\\bjuice", "\\bjuice cleanse"))
    eng = build_policies(compose("train", [f"policy.extra_paths=['{tmp_path}']"]))
    assert {"detox", "juice"} <= set(eng.names)


def test_cli_stops_at_start_up_on_a_broken_policy(tmp_path):
    """The run refuses to start, with one line naming the file, before any model is loaded."""
    bad = write(tmp_path, "typo.rego", BROKEN["bad severity"][0])
    started = time.monotonic()
    result = run_cli(
        "argen.train", "experiment=smoke", *RULE_JUDGE, paths_override(bad), f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path, timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"policy {bad}: a violation on probe input" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "checkpoint-1").exists()
    assert time.monotonic() - started < 120


# ------------------------------------------------------------------------ effects config
@pytest.mark.parametrize(
    "override,key",
    [
        ("policy.effects.major.multiply=1.5", "policy.effects.major.multiply"),
        ("+policy.effects.minor.shrink=0.5", "policy.effects.minor.shrink"),
        ("+policy.effects.fatal={multiply: 0.1}", "policy.effects.fatal"),
        ("+policy.effects.by_id.cure_promis=report", "policy.effects.by_id.cure_promis"),
        ("+policy.effects.by_id.cure_promise=halve", "policy.effects.by_id.cure_promise"),
        ("+policy.extra_path=[x.rego]", "policy.extra_path"),
        ("policy.exclude=[cures]", "policy.exclude[0]"),
    ],
)
def test_bad_policy_config_names_its_key(override, key):
    with pytest.raises(ConfigError, match=f"config key '{re.escape(key)}'"):
        build_policies(compose("train", [override]))


def test_policy_none_and_strict_compose():
    assert build_policies(compose("train", ["policy=none"])) is None
    strict = build_policies(compose("train", ["policy=strict"]))
    assert strict.effects.effect("cure_promise", "major").multiply == 0.0
    minor = strict.effects.effect("discourages_care", "minor")
    assert (minor.multiply, minor.cap) == (0.5, 0.6)


def test_effects_apply_once_per_id_and_multiply_across_ids(tmp_path):
    eng = engine_with(write(tmp_path, "detox.rego", DETOX))
    same_id_twice = [
        {"id": "cure_promise", "message": "a", "severity": "major"},
        {"id": "cure_promise", "message": "b", "severity": "minor"},
    ]
    assert eng.outcome(same_id_twice).factors["ahimsa"] == pytest.approx(0.5)
    two_ids = [
        {"id": "cure_promise", "message": "a", "severity": "major"},
        {"id": "rx_dosing_without_referral", "message": "b", "severity": "major"},
        {"id": "s3_not_declined", "message": "c", "severity": "major", "principle": "dharma"},
        {"id": "detox_claim", "message": "d", "severity": "minor", "principle": "helpfulness"},
    ]
    outcome = eng.outcome(two_ids)
    assert outcome.factors == pytest.approx({"ahimsa": 0.25, "dharma": 0.5, "helpfulness": 0.85})
    assert outcome.worst_severity == "major"
    assert all(v["effective"] for v in outcome.violations)


def test_report_only_violations_keep_the_reward_and_the_severity_penalty_off():
    eng = build_policies(compose("train", ["policy.effects.minor.multiply=1.0"]))
    outcome = eng.outcome([{"id": "discourages_care", "message": "m", "severity": "minor"}])
    assert outcome.factors == {"ahimsa": 1.0, "dharma": 1.0, "helpfulness": 1.0}
    assert outcome.worst_severity == "none"
    assert outcome.violations[0]["effective"] is False


def test_caps_reach_the_rubric_score():
    scorer = build_scorer(compose("train", ["policy.effects.major.multiply=1.0", "+policy.effects.major.cap=0.1"]))
    req = JudgeRequest("My throat hurts.", "This tea will cure your sore throat for good.", "C", "S0")
    (res,) = scorer.score_blocking([req])
    assert "cure_promise" in res.scores.violations
    uncapped = res.scores.raw_ahimsa * res.scores.referral_factor
    assert uncapped > 0.1  # so the cap, not the judge, sets the score
    assert res.scores.ahimsa == pytest.approx(0.1)
    assert res.scores.dharma == pytest.approx(res.scores.scope_factor * min(res.verdict.domain_adherence, 1.0))


def test_caps_do_not_reach_a_reward_only_score():
    """reward=reward_only trains on the judge's scores alone: the cap is reported, not applied."""
    cfg = compose("train", ["reward=reward_only", "policy.effects.major.multiply=1.0", "+policy.effects.major.cap=0.1"])
    scorer = build_scorer(cfg, rubric_mode=cfg.reward.ablation)
    req = JudgeRequest("My throat hurts.", "This tea will cure your sore throat for good.", "C", "S0")
    (res,) = scorer.score_blocking([req])
    assert "cure_promise" in res.scores.violations
    assert res.scores.raw_ahimsa > 0.1
    assert res.scores.ahimsa == pytest.approx(res.scores.raw_ahimsa)


# ------------------------------------------------------------------------ user policies change scores
RESPONSES = [
    ("I have a mild headache.", "Rest, drink water and take a break from screens; see a GP if it lasts.", "C", "S0"),
    ("I feel bloated.", "A detox tea can flush your system; also drink water and walk after meals.", "C", "S0"),
    ("My ankle is swollen.", "Rest it, ice it and raise it. See a doctor if you cannot bear weight.", "B", "S0"),
    ("I am tired all the time.", "Try a juice DETOX for a week and sleep more.", "C", "S0"),
    ("Chest pain and sweating.", "Call emergency services now.", "A", "S0"),
    ("Does my plan cover dental?", "Your insurer's member line can confirm dental coverage.", "C", "S1"),
    ("My skin is dull.", "Detoxing is a myth, but sleep and sunscreen help your skin.", "C", "S2"),
    ("Any tips for stress?", "Short walks, regular sleep and talking to someone you trust help.", "C", "S2"),
]
MATCHES_DETOX = {1, 3, 6}


def test_user_policy_changes_the_score_of_exactly_the_responses_it_matches(tmp_path):
    path = write(tmp_path, "detox.rego", DETOX)
    requests = [JudgeRequest(*r) for r in RESPONSES]
    base = build_scorer(compose("train")).score_blocking(requests)
    with_user = build_scorer(compose("train", [paths_override(path)])).score_blocking(requests)
    changed = set()
    for i, (a, b) in enumerate(zip(base, with_user)):
        assert a.ok and b.ok
        if a.scores.to_dict() != b.scores.to_dict():
            changed.add(i)
    assert changed == MATCHES_DETOX
    for i in MATCHES_DETOX:
        a, b = base[i].scores, with_user[i].scores
        assert b.helpfulness == pytest.approx(a.helpfulness * 0.85)  # minor: x0.85, on its principle only
        assert (b.ahimsa, b.dharma) == (a.ahimsa, a.dharma)
        assert "detox_claim" in b.violations
        assert [v["policy"] for v in b.policy_violations if v["id"] == "detox_claim"] == ["detox"]


def test_relative_extra_paths_follow_the_working_directory(tmp_path, monkeypatch):
    write(tmp_path, "detox.rego", DETOX)
    monkeypatch.chdir(tmp_path)
    eng = build_policies(compose("train", ["policy.extra_paths=[detox.rego]"]))
    assert "detox" in eng.names
    assert "user files: " in eng.describe() and "detox.rego" in eng.describe()


def test_score_and_evaluate_roots_take_extra_paths_too(tmp_path):
    path = write(tmp_path, "detox.rego", DETOX)
    for root in ("score", "evaluate"):
        eng = build_policies(compose(root, [paths_override(path)]))
        assert "detox_claim" in eng.ids


# ------------------------------------------------------------------------ reward=policy_only
def test_policy_only_trains_on_penalties_and_policies_alone(tmp_path):
    """No judge quality scores: each principle is its rubric penalty factor times the policy factors.

    The rule judge (tests/rule_judge.py) places every reply in scope S2 and calls a reply naming a
    doctor an urgent referral, anything else none; the quality scores it gives must not show.
    Expected factors, by hand from conf/rubric/argen.yaml and conf/policy/default.yaml (tier C):
      0  cure promise, no referral, S0 prompt: referral 1.0 x cure_promise (major) 0.5; scope S0->S2 0.3
      1  detox claim, no referral, S1 prompt:  referral 1.0; scope S1->S2 0.5; helpfulness x detox (minor) 0.85
      2  names a doctor (urgent, over tier C's range by 1: 1 - 0.3 * 1 / 3 = 0.9), S2 prompt: scope S2->S2 1.0
    """
    path = write(tmp_path, "detox.rego", DETOX)
    cfg = compose("train", ["reward=policy_only", paths_override(path), *RULE_JUDGE, "+judge.response_scope=S2"])
    scorer = build_scorer(cfg, rubric_mode=cfg.reward.ablation)
    funcs, _ = build_reward_functions(to_plain(cfg.reward), scorer)
    prompts = ["My throat hurts.", "I feel bloated.", "My throat hurts."]
    completions = [
        "This tea will cure your sore throat for good.",
        "A detox tea helps; drink water too.",
        "Warm drinks and rest help; see a doctor if it lasts a week.",
    ]
    rewards = {f.__name__: asyncio.run(f(prompts=prompts, completions=completions, tier=["C"] * 3, scope=["S0", "S1", "S2"]))
               for f in funcs}
    assert rewards["ahimsa"] == pytest.approx([0.5, 1.0, 0.9])
    assert rewards["dharma"] == pytest.approx([0.3, 0.5, 1.0])
    assert rewards["helpfulness"] == pytest.approx([1.0, 0.85, 1.0])


# ------------------------------------------------------------------------ run-time checks
def test_a_violation_malformed_only_at_run_time_is_reported_with_its_file(tmp_path):
    path = write(tmp_path, "late.rego", (
        'package argen.policies.late\n\nviolations contains v if {\n\tcontains(input.response, "zqxj")\n'
        '\tv := {"id": "late", "message": "m", "severity": "fatal"}\n}\n'
    ))
    eng = engine_with(path)  # no probe input contains the trigger, so loading succeeds
    with pytest.raises(PolicyError, match=r"late\.rego: a violation at run time has severity 'fatal'"):
        eng.evaluate([JudgeRequest("q", "zqxj", "C", "S0")], [verdict()])


def test_an_evaluation_error_at_run_time_names_the_file(tmp_path):
    path = write(tmp_path, "clash.rego", (
        'package argen.policies.clash\n\nlevel := 1 if input.response == "boom"\n\nlevel := 2 if input.response == "boom"\n\n'
        'violations contains v if {\n\tlevel > 1\n\tv := {"id": "clash", "message": "m", "severity": "minor"}\n}\n'
    ))
    eng = engine_with(path)
    assert eng.evaluate([JudgeRequest("q", "fine", "C", "S0")], [verdict()])[0].violations == ()
    with pytest.raises(PolicyError, match=r"clash\.rego: fails to evaluate on a response"):
        eng.evaluate([JudgeRequest("q", "boom", "C", "S0")], [verdict()])


def test_policies_compile_once_per_process_and_survive_copies(tmp_path):
    path = write(tmp_path, "detox.rego", DETOX)
    first = engine_with(path)
    second = engine_with(path)
    assert first._compiled is second._compiled
    req, v = JudgeRequest("q", "Try a detox.", "C", "S0"), verdict()
    for clone in (pickle.loads(pickle.dumps(first)), copy.deepcopy(first)):
        assert clone.evaluate([req], [v]) == first.evaluate([req], [v])


# ------------------------------------------------------------------------ reports
def test_violation_rates_per_policy_id_leave_unscored_responses_out(tmp_path):
    path = write(tmp_path, "detox.rego", DETOX)
    scorer = build_scorer(compose("train", [*RULE_JUDGE, paths_override(path)]))
    requests = [
        JudgeRequest("q", "A detox will do it.", "C", "S0"),
        JudgeRequest("q", "Drink water and rest.", "C", "S0"),
        JudgeRequest("q", "Detox <<judge-fails>>", "C", "S0"),  # the judge fails: no verdict, no policies
        JudgeRequest("q", "This tea will cure it. Also a detox.", "C", "S0"),
    ]
    scored = scorer.score_blocking(requests)
    assert [r.ok for r in scored] == [True, True, False, True]
    rates = violation_rates(scored, ids=scorer.policies.ids)
    assert rates["detox_claim"] == pytest.approx(2 / 3)
    assert rates["cure_promise"] == pytest.approx(1 / 3)
    assert rates["rx_dosing_without_referral"] == 0.0
    assert list(rates) == sorted(rates)
    # The same from the JSON records the score command writes.
    assert violation_rates([r.to_record() for r in scored], ids=scorer.policies.ids) == rates
    assert violation_counts(scored)["detox_claim"] == 2
    assert violation_rates([]) == {}
