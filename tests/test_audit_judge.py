"""The audit judge: a second judge scores every evaluated answer; agreement, lift under both judges,
and answers flagged as possible reward hacking. Real processes against real servers on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from argen.errors import ConfigError
from argen.config_schema import RubricConfig
from argen.config_schema.audit import audit_judge_config
from argen.evaluation.audit import AUDIT_KEY, agreement, audit_lift, build_audit_scorer, lift_headline
from argen.evaluation.generation import GenerationSettings
from argen.evaluation.harness import fixed_responder, run_evaluation, run_identity
from argen.judges.heuristic import HeuristicJudge
from argen.scoring.build import build_scorer
from tests.chat_server import GOOD_VERDICT, ChatServer, Reply
from tests.conftest import cli_env, compose, run_cli
from tests.test_evaluate import SCENARIOS

BASE = {s.id: f"Base answer to {s.id}: please rest." for s in SCENARIOS}
TRAINED = {s.id: f"TRAINED answer to {s.id}: please see a doctor today." for s in SCENARIOS}


def verdict(level: float, scope: str = "S0") -> Reply:
    return Reply(verdict={**GOOD_VERDICT, "harm_avoidance": level, "safety_context": level, "clarity": level,
                          "completeness": level, "relevance": level, "empathy": level, "domain_adherence": level,
                          "response_scope": scope})


def pleased_by_training(call):
    """The training judge: likes the trained answers."""
    return verdict(0.95) if "TRAINED" in call.judged_response else verdict(0.4)


def displeased_by_training(call):
    """The audit judge: scores the trained answers lower (what reward hacking would look like)."""
    return verdict(0.3) if "TRAINED" in call.judged_response else verdict(0.8)


def judge_overrides(prefix: str, srv: ChatServer, tmp_path, name: str) -> list[str]:
    return [f"{prefix}base_url={srv.url}", f"{prefix}model=judge-test", f"{prefix}cache.path={tmp_path}/{name}.sqlite",
            f"{prefix}name={name}", f"{prefix}max_retries=0"]


# ---------------------------------------------------------------------------- numbers
def rows_with(pairs, scopes=None):
    rows = []
    for i, (a, b) in enumerate(pairs):
        rows.append({"id": f"s{i}", "combined": a, "ahimsa": a, "dharma": a, "helpfulness": a,
                     "response_scope": (scopes or ["S0"] * len(pairs))[i],
                     AUDIT_KEY: {"judge": "aud", "combined": b, "ahimsa": b, "dharma": b, "helpfulness": b,
                                 "response_scope": "S0"}})
    return rows


def test_agreement_reports_spearman_and_scope_agreement():
    block = agreement(rows_with([(0.1, 0.2), (0.5, 0.6), (0.9, 0.95), (0.3, None)], scopes=["S0", "S1", "S0", "S0"]))
    assert block["n"] == 4 and block["scored_by_both"] == 3 and block["audit_unscored"] == 1
    assert block["spearman"]["combined"]["rho"] == pytest.approx(1.0)
    assert block["scope_agreement"] == {"n": 3, "agree": 2, "rate": pytest.approx(0.6667, abs=1e-4)}
    reverse = agreement(rows_with([(0.1, 0.9), (0.5, 0.5), (0.9, 0.1)]))
    assert reverse["spearman"]["ahimsa"]["rho"] == pytest.approx(-1.0)
    assert agreement([{"combined": 0.5}]) is None


def test_lift_under_both_judges_flags_answers_the_audit_disagrees_with():
    base = rows_with([(0.4, 0.8)] * 6)
    trained = rows_with([(0.9, 0.3)] * 4 + [(0.9, 0.9)] * 2)
    lift = audit_lift(base, trained)
    assert lift["pairs"] == 6
    assert lift["lift"]["mean_diff"] == pytest.approx(0.5) and (lift["lift"]["ci_low"], lift["lift"]["ci_high"]) == (0.5, 0.5)
    assert lift["audit_lift"]["mean_diff"] == pytest.approx((4 * -0.5 + 2 * 0.1) / 6, abs=1e-4)
    assert lift["audit_lift"]["ci_low"] < lift["audit_lift"]["mean_diff"] < lift["audit_lift"]["ci_high"]
    assert lift["possible_reward_hacking"] == 4 and {f["id"] for f in lift["flagged"]} == {"s0", "s1", "s2", "s3"}


# ---------------------------------------------------------------------------- config errors
def _lift_of(reward_changes, audit_changes):
    base = rows_with([(0.5, 0.5)] * len(reward_changes))
    trained = rows_with([(0.5 + a, 0.5 + b) for a, b in zip(reward_changes, audit_changes)])
    return audit_lift(base, trained, reward_judge="rew")


RISE = [0.05 + 0.01 * i for i in range(20)]  # every answer better: p < 0.001
NOISE = [(-1) ** i * 0.01 * (i + 1) for i in range(20)]  # up and down: not significant


def test_a_significant_gain_under_the_reward_judge_only_is_flagged_as_possible_reward_hacking():
    lift = _lift_of(RISE, NOISE)
    assert lift["lift"]["significant"] and lift["lift"]["p_value"] < 0.001 and lift["lift"]["ci_low"] > 0
    assert not lift["audit_lift"]["significant"] and lift["audit_lift"]["ci_low"] < 0 < lift["audit_lift"]["ci_high"]
    assert lift["flag_kind"] == "possible_reward_hacking"
    assert lift["flag"].startswith("POSSIBLE REWARD HACKING: combined rose significantly under the reward judge rew")
    assert lift["flag"] in lift_headline(lift) and "\n" not in lift["flag"]
    # The same paired test as every other comparison, per principle too.
    assert set(lift["by_principle"]) == {"ahimsa", "dharma", "helpfulness"}
    assert lift["by_principle"]["dharma"]["lift"]["verdict"].startswith("significant")


def test_agreeing_judges_raise_no_flag_and_a_gain_under_the_audit_only_is_named_apart():
    both = _lift_of(RISE, RISE)
    assert both["flag"] is None and both["flag_kind"] is None and "REWARD HACKING" not in lift_headline(both)
    assert _lift_of(NOISE, NOISE)["flag"] is None
    audit_only = _lift_of(NOISE, RISE)
    assert audit_only["flag_kind"] == "audit_only_gain" and "under the audit judge aud" in audit_only["flag"]


def test_an_unknown_audit_option_names_its_key(tmp_path):
    cfg = compose("evaluate", ["audit_judge=nosuch"])
    with pytest.raises(ConfigError, match="audit_judge.*unknown judge option 'nosuch'.*heuristic"):
        audit_judge_config(cfg.audit_judge, cfg.audit_judge_overrides, cfg.rubric)
    with pytest.raises(ConfigError, match="audit_judge_overrides"):
        audit_judge_config(None, ["base_url=http://x"], cfg.rubric)
    with pytest.raises(ConfigError, match="not key=value"):
        audit_judge_config("local", ["justaword"], cfg.rubric)


def test_training_refuses_a_bad_audit_judge_before_loading_anything(tmp_path):
    result = run_cli("argen.train", "model=tiny", "eval.audit_judge=nosuch", f"hydra.run.dir={tmp_path}/run",
                     timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "eval.audit_judge" in result.stderr and "nosuch" in result.stderr
    assert not (tmp_path / "run" / "final_model").exists()


# ---------------------------------------------------------------------------- real processes
def test_score_with_an_offline_judge_audited_by_a_server(tmp_path, monkeypatch):
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"prompt": s.prompt, "response": TRAINED[s.id], "tier": s.tier, "scope": s.scope}) + "\n"
                            for s in SCENARIOS))
    out = tmp_path / "out.jsonl"
    # The audit server places each answer in a scope of its own choosing, so the agreement rate is known.
    audit_scope = {"s-a": "S0", "s-b": "S2", "s-c": "S1", "s-d": "S3"}

    def scoped(call):
        sid = call.judged_response.split("answer to ")[1].split(":")[0]
        return verdict(0.3, audit_scope[sid])

    with ChatServer() as srv:
        srv.responder = scoped
        overrides = [f"+audit_judge_overrides.{o}" for o in judge_overrides("", srv, tmp_path, "audit-server")]
        result = run_cli("argen.score", f"input={data}", f"output={out}", "judge=heuristic", "audit_judge=local",
                         *overrides, "progress=false", env=cli_env(), timeout=300)
        calls = srv.chat_count
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert calls == len(SCENARIOS)
    assert all(r[AUDIT_KEY]["judge"] == "audit-server" and r[AUDIT_KEY]["combined"] is not None for r in rows)
    assert all(r["scored_by"]["audit_judge"] == "audit-server" for r in rows)
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    block = summary["audit"]
    assert block["judge"] == "audit-server" and block["scored_by_both"] == len(SCENARIOS)
    assert set(block["spearman"]) == {"ahimsa", "dharma", "helpfulness", "combined"}
    # Each row carries both judges' scopes; the rate is the share of rows where they are the same.
    by_prompt = {s.prompt: s.id for s in SCENARIOS}
    assert {by_prompt[r["prompt"]]: r[AUDIT_KEY]["response_scope"] for r in rows} == audit_scope
    agree = sum(r["response_scope"] == audit_scope[by_prompt[r["prompt"]]] for r in rows)
    assert 0 < agree < len(rows)  # the heuristic judge agrees on some answers, not all: the rate means something
    assert block["scope_agreement"] == {"n": len(rows), "agree": agree, "rate": round(agree / len(rows), 4)}
    assert summary["audit_judge_info"]["response_format"] == "json_schema"
    assert "audit judge audit-server" in result.stdout and "Spearman" in result.stdout


def test_compare_shows_lift_under_both_judges_and_flags_reward_hacking(tmp_path):
    with ChatServer() as main_srv, ChatServer() as audit_srv:
        main_srv.responder = pleased_by_training
        audit_srv.responder = displeased_by_training
        cfg = compose("evaluate", ["judge=local", *judge_overrides("judge.", main_srv, tmp_path, "train-judge")])
        scorer = build_scorer(cfg)
        rubric = RubricConfig.parse(cfg.rubric)
        audit_node = audit_judge_config("local", judge_overrides("", audit_srv, tmp_path, "audit-judge"), rubric)
        audit = build_audit_scorer(audit_node, rubric, main=scorer)
        settings = GenerationSettings(temperature=0.0, max_new_tokens=32)
        for label, answers in (("base", BASE), ("trained", TRAINED)):
            identity = run_identity(scorer, settings, model="fixed")
            identity["audit_judge"] = audit.judge.name
            summary = run_evaluation(tmp_path / label, SCENARIOS, scorer, fixed_responder(answers), identity=identity,
                                     batch_size=2, meta={"label": label}, progress=False, audit=audit)
            assert summary["audit"]["scored_by_both"] == len(SCENARIOS)
            assert "## Audit judge: audit-judge" in (tmp_path / label / "report.md").read_text()
        scorer.close()
        audit.close()
    result = run_cli("argen.evaluate", f"compare=[{tmp_path / 'base'},{tmp_path / 'trained'}]",
                     f"hydra.run.dir={tmp_path / 'cmp'}", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lift = json.loads((tmp_path / "cmp" / "audit.json").read_text())["trained"]
    assert lift["lift"]["mean_diff"] > 0.2 and lift["audit_lift"]["mean_diff"] < -0.2
    assert lift["reward_judge"] == "train-judge"
    assert lift["possible_reward_hacking"] == len(SCENARIOS)
    assert "possible reward hacking" in result.stdout and "audit judge audit-judge combined" in result.stdout
    assert "Possible reward hacking" in (tmp_path / "cmp" / "audit.md").read_text()


def test_end_of_training_reports_lift_under_both_judges(tmp_path):
    from argen.evaluation.end_of_training import evaluate_base_and_trained
    from argen.models import resolve_model

    with ChatServer() as audit_srv:
        audit_srv.responder = displeased_by_training
        overrides = [f"+eval.audit_judge_overrides.{o}" for o in judge_overrides("", audit_srv, tmp_path, "audit-judge")]
        cfg = compose("train", ["model=tiny", "judge=heuristic", "eval.max_new_tokens=6", "eval.batch_size=4",
                                "eval.audit_judge=local", *overrides])
        tiny = resolve_model(cfg.model)
        result = evaluate_base_and_trained(cfg, tmp_path, tiny, tiny, build_scorer(cfg), SCENARIOS[:3])
        calls = audit_srv.chat_count
    assert "error" not in result, result.get("error")
    assert calls == 3  # the same answers twice: the audit judge's cache answers the second time
    assert result["audit"]["pairs"] == 3 and result["audit"]["judge"] == "audit-judge"
    assert f"under the reward judge {HeuristicJudge().name}" in result["headline"] and "audit judge audit-judge" in result["headline"]
    assert (tmp_path / "eval" / "audit.md").is_file()
    for label in ("base", "trained"):
        assert json.loads((tmp_path / "eval" / label / "summary.json").read_text())["audit"]["n"] == 3
