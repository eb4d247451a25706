"""ArGen's model card (argen.reporting.model_card) and the lift under two judges in compare.md.

Fast tests render from real evaluation dirs (answers fixed, scored by the offline heuristic judge
and audited by a judge server on 127.0.0.1 that dislikes the trained answers). The slow test runs
``argen.train`` end to end with ``grpo.push_to_hub`` against a Hub stand-in on 127.0.0.1.
"""

from __future__ import annotations

import json

import pytest
import yaml

from argen.config_schema import RubricConfig
from argen.config_schema.audit import audit_judge_config
from argen.evaluation.audit import build_audit_scorer
from argen.evaluation.generation import GenerationSettings
from argen.evaluation.harness import fixed_responder, run_evaluation, run_identity
from argen.judges.heuristic import HeuristicJudge
from argen.reporting.model_card import render_model_card, reproduce_command
from argen.scoring.build import build_scorer
from tests.chat_server import ChatServer
from tests.conftest import cli_env, compose
from tests.test_audit_judge import BASE, TRAINED, displeased_by_training, judge_overrides
from tests.test_evaluate import SCENARIOS

TEMPLATE = "[More Information Needed]"


def front_matter(card: str) -> dict:
    assert card.startswith("---\n"), card[:200]
    return yaml.safe_load(card.split("---\n", 2)[1])


@pytest.fixture(scope="module")
def audited_pair(tmp_path_factory):
    """Two evaluation dirs (base, trained) of fixed answers, both judges' scores on every row."""
    tmp_path = tmp_path_factory.mktemp("pair")
    with ChatServer() as audit_srv:
        audit_srv.responder = displeased_by_training
        cfg = compose("evaluate", ["judge=heuristic"])
        scorer = build_scorer(cfg)
        rubric = RubricConfig.parse(cfg.rubric)
        audit_node = audit_judge_config("local", judge_overrides("", audit_srv, tmp_path, "audit-judge"), rubric)
        audit = build_audit_scorer(audit_node, rubric, main=scorer)
        settings = GenerationSettings(temperature=0.0, max_new_tokens=32)
        for label, answers in (("base", BASE), ("trained", TRAINED)):
            identity = run_identity(scorer, settings, model="fixed")
            identity["audit_judge"] = audit.judge.name
            run_evaluation(tmp_path / label, SCENARIOS, scorer, fixed_responder(answers), identity=identity,
                           batch_size=2, meta={"label": label}, progress=False, audit=audit)
        scorer.close()
        audit.close()
    return tmp_path


def test_compare_md_carries_the_lift_under_both_judges_per_principle(audited_pair, tmp_path):
    from argen.evaluation.compare import compare_runs

    result = compare_runs([audited_pair / "base", audited_pair / "trained"], tmp_path, labels=["base", "trained"])
    lift = result["audit"]["trained"]
    assert lift["judge"] == "audit-judge" and lift["reward_judge"] == HeuristicJudge().name
    assert lift["audit_lift"]["mean_diff"] < -0.2  # the audit judge dislikes the trained answers
    md = (tmp_path / "compare.md").read_text()
    section = md.split("## Lift under each judge (audit: audit-judge): trained against base", 1)[1].split("\n## ", 1)[0]
    for key in ("combined", "ahimsa", "dharma", "helpfulness"):
        row = next(line for line in section.splitlines() if line.startswith(f"| {key} |"))
        assert row.count("95% CI") == 2 and row.count("p=") == 2, row  # both judges, each with its test
    assert "audit judge audit-judge combined" in md.split("\n## ", 1)[0]  # the audit headline beside the main one
    assert json.loads((tmp_path / "compare.json").read_text())["audit"]["trained"]["pairs"] == len(SCENARIOS)


def _evaluation_block(audited_pair, tmp_path) -> dict:
    """What the end-of-training evaluation stores in summary.json (argen.evaluation.end_of_training)."""
    from argen.evaluation.compare import compare_runs

    c = compare_runs([audited_pair / "base", audited_pair / "trained"], tmp_path, labels=["base", "trained"])
    return {"dir": str(tmp_path), "report": str(tmp_path / "eval" / "compare.md"), "scenarios": len(SCENARIOS),
            "stats": c["stats"]["trained"], "looping": {"base": c["looping"]["base"], "trained": c["looping"]["trained"]},
            "audit": c["audit"]["trained"], "headline": c["headlines"]["trained"]}


def _config(*overrides: str) -> dict:
    from argen.config import to_plain

    return to_plain(compose("train", list(overrides)))


def test_the_final_card_has_hub_metadata_and_the_table_under_both_judges(audited_pair, tmp_path):
    evaluation = _evaluation_block(audited_pair, tmp_path)
    card = render_model_card(_config(), steps=14, judge="heuristic-v2.1", policies=("referral", "scope", "dosing"),
                             command="python -m argen.train grpo.max_steps=14", evaluation=evaluation, trl_version="1.16.0")
    meta = front_matter(card)
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and meta["license"] == "apache-2.0"
    assert meta["library_name"] == "peft" and {"grpo", "lora", "healthcare"} <= set(meta["tags"])
    assert TEMPLATE not in card
    table = card.split("## Evaluation: base against trained", 1)[1].split("\n## ", 1)[0]
    assert "reward judge `heuristic-v2.1`" in table and "audit judge `audit-judge`" in table
    for key in ("ahimsa", "dharma", "helpfulness", "combined"):
        row = next(line for line in table.splitlines() if line.startswith(f"| {key} |"))
        assert row.count("95% CI") == 2 and row.count("p=") == 2, row
    assert "Looping answers" in table
    for fact in ("LoRA r=16", "learning rate | 0.0002", "beta (KL) | 0.0", "`argen-1`", "`referral`, `scope`, `dosing`",
                 "python -m argen.train grpo.max_steps=14", "not medical advice", "GRPO (TRL 1.16.0)"):
        assert fact in card, fact


def test_a_checkpoint_card_says_it_is_not_evaluated_and_a_full_model_is_transformers():
    card = render_model_card(_config("model.lora=false"), steps=7, judge="heuristic-v2.1", checkpoint=True)
    meta = front_matter(card)
    assert meta["library_name"] == "transformers" and "lora" not in meta["tags"]
    assert "Checkpoint at step 7 of 14. Not evaluated" in card and "full fine-tuning" in card
    assert "| reward judge `" not in card  # no evaluation table


def test_the_reproduce_command_drops_the_run_dir_and_hides_secret_values():
    import shlex

    overrides = ["grpo.max_steps=28", "hydra.run.dir=outputs/x", "+judge.api_key=sk-live-123", "resume=outputs/y",
                 "data.system_prompt='Be kind, be brief'"]
    command = reproduce_command(overrides)
    assert "sk-live" not in command and "outputs/" not in command
    # what a shell hands argen.train: Hydra's own override strings, the secret's value replaced
    assert shlex.split(command) == ["python", "-m", "argen.train", "grpo.max_steps=28", "+judge.api_key=<redacted>",
                                    "data.system_prompt='Be kind, be brief'"]


@pytest.mark.slow
def test_a_pushed_lora_run_writes_argens_cards_and_uploads_the_evaluated_one(tmp_path):
    """``grpo.push_to_hub=true grpo.hub_model_id=...`` reaches TrainingArguments; transformers pushes
    while training with ArGen's card; the card rewritten after the end evaluation follows."""
    import subprocess
    import sys

    from argen.training.checkpoints import MARKER, is_complete
    from tests.fake_hub import FakeHub

    run_dir = tmp_path / "run"
    with FakeHub() as hub:
        env = cli_env(HF_ENDPOINT=hub.url, HF_TOKEN="hf_fake_token_for_the_stand_in", HF_HUB_OFFLINE="0",
                      HF_HUB_DISABLE_TELEMETRY="1")
        done = subprocess.run(
            [sys.executable, "-m", "argen.train", "experiment=smoke", "model.lora=true", "grpo.save_steps=1", "grpo.save_total_limit=2",
             "model.base_model=example/tiny-base", "model.license=apache-2.0", "+grpo.push_to_hub=true",
             "+grpo.hub_model_id=argen-test/tiny-grpo", "eval.at_end=true", "eval.audit_judge=learned",
             f"hydra.run.dir={run_dir}"],
            env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        assert hub.repos == ["argen-test/tiny-grpo"]
        pushed_cards = [c.decode() for c in hub.uploaded("README.md")]
    checkpoint = run_dir / "checkpoints" / "checkpoint-1"
    card = (checkpoint / "README.md").read_text()
    assert TEMPLATE not in card and "Checkpoint at step 1 of 2. Not evaluated" in card
    assert front_matter(card)["base_model"] == "example/tiny-base"
    assert "README.md" in json.loads((checkpoint / MARKER).read_text())["files"] and is_complete(checkpoint)

    final = (run_dir / "final_model" / "README.md").read_text()
    assert TEMPLATE not in final and "Trained 2 steps; evaluated on 4 held-out scenarios" in final
    assert "audit judge `learned-v1`" in final
    assert "python -m argen.train experiment=smoke model.lora=true" in final and str(run_dir) not in final.split("## Reproduce")[1].split("##")[0]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["model_card"] == {"path": str(run_dir / "final_model" / "README.md"), "pushed_to": "argen-test/tiny-grpo"}
    # transformers' own pushes (each checkpoint, the end of training) carried ArGen's card, and the
    # evaluated card went last
    assert len(pushed_cards) >= 2 and all(TEMPLATE not in c and c.startswith("---\n") for c in pushed_cards)
    assert pushed_cards[-1] == final
    assert "hf_fake_token" not in (run_dir / "config.yaml").read_text()


def test_pushing_needs_a_named_repo_and_no_token_in_the_config():
    from argen.config_schema import TrainConfig
    from argen.errors import ConfigError

    with pytest.raises(ConfigError, match="grpo.hub_model_id"):
        TrainConfig.parse(compose("train", ["+grpo.push_to_hub=true"]))
    with pytest.raises(ConfigError, match="grpo.hub_token.*HF_TOKEN"):
        TrainConfig.parse(compose("train", ["+grpo.push_to_hub=true", "+grpo.hub_model_id=me/x", "+grpo.hub_token=hf_x"]))
    settings = TrainConfig.parse(compose("train", ["+grpo.push_to_hub=true", "+grpo.hub_model_id=me/x"]))
    from argen.training.grpo_args import build_grpo_config

    args = build_grpo_config(settings, __import__("pathlib").Path("/tmp/argen-card-run"), [0.3, 0.4, 0.3])
    assert args.push_to_hub is True and args.hub_model_id == "me/x" and args.hub_token is None
