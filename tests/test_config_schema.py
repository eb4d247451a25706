"""The typed config (argen.config_schema): one checked node per group, validated once in the Hydra
process (the judge, rubric and policy settings included), every error naming its key."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import pytest

from argen.config_schema import HardwareConfig, JudgeConfig, RubricConfig, TrainConfig
from argen.errors import ConfigError
from argen.training.grpo_args import grpo_kwargs
from argen.training.validation import validate_train_config
from tests.conftest import REPO, cli_env, compose, run_cli


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["model.dtype=int8"], "model.dtype"),
        (["reward.adapt.window=0"], "reward.adapt.window"),
        (["reward=combined", "+reward.adaptive=true"], "reward.adaptive"),
        (["grpo.beta_schedule.kind=step"], "grpo.beta_schedule.kind"),
        (["grpo.beta_schedule.kind=linear"], "grpo.beta_schedule.end"),
        (["+grpo.beta_schedule.warmup=3"], "grpo.beta_schedule.warmup"),
        (["hardware.launcher=external"], "hardware.launcher"),
        (["hardware.num_processes=true"], "hardware.num_processes"),
        (["judge.on_error=ignore"], "judge.on_error"),
        (["judge.max_error_rate=1.5"], "judge.max_error_rate"),
        (["judge._target_=null"], "judge._target_"),
        (["rubric.mode=lenient"], "rubric.mode"),
        (["policy.enabled=maybe"], "policy.enabled"),
        (["data.limit=0"], "data.limit"),
        (["data.limit=true"], "data.limit"),
        (["logging=wandb", "logging.mode=sometimes"], "logging.mode"),
        (["eval.temperature=-1"], "eval.temperature"),
        (["eval.periodic_limit=99"], "eval.periodic_limit"),
        (["eval.every_n_steps=-1"], "eval.every_n_steps"),
        (["completions.sample=0"], "completions.sample"),
        (["completions.every_n_steps=1.5"], "completions.every_n_steps"),
        (["seed=abc"], "seed"),
        (["eval.audit_judge=nope"], "eval.audit_judge"),  # the option is read into the schema's typed node
    ],
)
def test_the_schema_refuses_a_bad_value_naming_its_key(overrides, key):
    with pytest.raises(ConfigError) as err:
        TrainConfig.parse(compose("train", overrides))
    assert err.value.key == key, str(err.value)
    assert str(err.value).startswith(f"config key '{key}': ")


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["+judge.ideal_word=120"], "judge.ideal_word"),  # a key the judge class does not take
        (["+judge.off_domain_share=0", "+judge.scope_model=false"], "judge.off_domain_share"),  # the judge refuses the value
        (["judge=openai", "judge.max_concurrency=0"], "judge.max_concurrency"),
        (["judge=local", "judge.base_url=localhost:8000"], "judge.base_url"),
        (["rubric.scope_factors.S0.S2=2"], "rubric.scope_factors.S0.S2"),
        (["~rubric.referral"], "rubric.referral"),
        (["+policy.typo=1"], "policy.typo"),
        (["policy.exclude=[nope]"], "policy.exclude[0]"),
        (["policy.effects.major.multiply=3"], "policy.effects.major.multiply"),
        (["reward.functions.ahimsa._target_=argen.nope.Missing"], "reward.functions.ahimsa._target_"),
    ],
)
def test_judge_rubric_policy_and_reward_builders_are_checked_by_the_one_validation(overrides, key):
    """What only building can check is built (and let go) by validate_train_config."""
    cfg = compose("train", overrides)
    TrainConfig.parse(cfg)  # the values themselves are well-formed
    with pytest.raises(ConfigError) as err:
        validate_train_config(cfg)
    assert err.value.key == key, str(err.value)


def test_each_group_gets_its_own_frozen_typed_node():
    settings = validate_train_config(compose("train", ["reward=ahimsa_heavy", "judge=openai"]))
    assert settings.reward.weights == {"ahimsa": 0.6, "dharma": 0.2, "helpfulness": 0.2}
    assert settings.judge.target == "argen.judges.openai_judge.OpenAIJudge" and settings.judge.name == "openai:gpt-4o-mini"
    # The scorer's keys are the scorer's, never handed to the judge class.
    assert settings.judge.scorer.on_error == "skip" and settings.judge.scorer.max_error_rate == 0.5
    assert "on_error" not in settings.judge.settings and "max_error_rate" not in settings.judge.settings
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.seed = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.grpo.trl["beta"] = 1.0  # type: ignore[index]


def test_the_beta_schedule_is_argens_field_not_a_grpo_config_kwarg(tmp_path):
    cfg = compose("train", ["grpo.beta=0.04", "grpo.beta_schedule.kind=linear", "grpo.beta_schedule.start=0.1",
                            "grpo.beta_schedule.end=0.0"])
    settings = TrainConfig.parse(cfg)
    assert "beta_schedule" not in settings.grpo.trl
    assert (settings.grpo.beta_schedule.kind, settings.grpo.beta_schedule.start, settings.grpo.beta_schedule.end) == ("linear", 0.1, 0.0)
    kwargs = grpo_kwargs(settings, tmp_path, [0.3, 0.4, 0.3])
    assert "beta_schedule" not in kwargs and kwargs["beta"] == 0.1  # TRL starts from the schedule's start


def test_reward_ablation_and_rubric_mode_are_one_setting():
    assert TrainConfig.parse(compose("train")).rubric.mode == "full"
    assert TrainConfig.parse(compose("train", ["reward=reward_only"])).rubric.mode == "reward_only"
    assert TrainConfig.parse(compose("train", ["rubric.mode=policy_only"])).rubric.mode == "policy_only"
    both = TrainConfig.parse(compose("train", ["reward=policy_only", "rubric.mode=policy_only"]))
    assert both.rubric.mode == "policy_only" and both.rubric.tables["mode"] == "policy_only"
    # Two different modes for one setting: refused, naming the key (before, the ablation won silently).
    with pytest.raises(ConfigError) as err:
        TrainConfig.parse(compose("train", ["reward=reward_only", "rubric.mode=policy_only"]))
    assert err.value.key == "reward.ablation" and "rubric.mode=reward_only" in str(err.value)
    assert RubricConfig.parse({"mode": "full", "version": "v"}, "reward_only").mode == "reward_only"


def test_a_launched_rank_takes_its_process_count_from_world_size():
    node = {"name": "cpu", "num_processes": 1, "launcher": "none", "use_cpu": True}
    assert HardwareConfig.parse(node) == HardwareConfig("cpu", 1, "none", None, True, False, False, launched=False)
    launched = HardwareConfig.parse(node, world_size=2)
    assert launched.num_processes == 2 and launched.launched
    with pytest.raises(ConfigError, match="hardware.launcher"):
        HardwareConfig.parse({**node, "num_processes": 2})  # not launched: someone must start the second process
    # A config.yaml recorded under an outside launcher by earlier versions still resumes under one.
    old = HardwareConfig.parse({**node, "num_processes": 2, "launcher": "external"}, world_size=2)
    assert old.launched and old.num_processes == 2 and old.launcher == "none"


def test_judge_node_split_is_declared_once():
    node = JudgeConfig.parse({"_target_": "x.Judge", "name": "j", "on_error": "raise", "max_error_rate": 0.2, "model": "m"})
    assert node.instantiate_node() == {"_target_": "x.Judge", "name": "j", "model": "m"}
    assert (node.scorer.on_error, node.scorer.max_error_rate) == ("raise", 0.2)


def test_the_config_layer_imports_nothing_above_it():
    # argen.scoring.verdict is still reached through argen.data.scenarios (its value types move to
    # the bottom layer in another part of this step); training and rewards are no longer.
    code = ("import sys, argen.config, argen.config_schema; "
            "print([m for m in sys.modules if m.startswith(('argen.training', 'argen.rewards', 'argen.scoring.build', "
            "'argen.scoring.pipeline', 'argen.judges', 'argen.policy', 'argen.evaluation', 'argen.models'))])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "override,key",
    [
        ("+judge.ideal_word=120", "judge.ideal_word"),
        ("rubric.domain_cap.S2=1.5", "rubric.domain_cap.S2"),
        ("policy.exclude=[nope]", "policy.exclude[0]"),
    ],
)
def test_a_multi_process_run_with_a_bad_judge_rubric_or_policy_key_stops_before_any_worker(tmp_path, override, key):
    """hardware=cpu_ddp2 starts torchrun workers: the error must come from the Hydra process, first."""
    run_dir = tmp_path / "run"
    started = time.monotonic()
    result = run_cli("argen.train", "experiment=smoke", "hardware=cpu_ddp2", override, f"hydra.run.dir={run_dir}", env=cli_env())
    took = time.monotonic() - started
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert f"argen.train: error: config key '{key}': " in lines[-1]
    assert "Traceback" not in result.stderr and "[rank" not in result.stderr + result.stdout
    # No worker started: the launcher writes these before it starts any.
    assert not (run_dir / "worker_config.yaml").exists() and not (run_dir / "workers.log").exists()
    assert not Path(run_dir / "checkpoints").exists()
    status = (run_dir / "status.json").read_text()
    assert '"failed"' in status and key in status
    assert took < 120  # a few seconds of imports, never a training start


# ---------------------------------------------------------------------------- grpo tables (issue 27)
def test_grpo_ranges_and_choices_name_real_fields_and_trl_s_own_values():
    """The tables stay honest: each key is a GRPOConfig field, each loss type is one TRL's help
    text lists, and every value the shipped grpo options set passes."""
    import dataclasses

    import yaml
    from trl import GRPOConfig

    from argen.config import CONF_DIR
    from argen.config_schema.grpo import GRPO_CHOICES, GRPO_RANGES, check_grpo_value, grpo_field_types

    fields = grpo_field_types()
    assert [k for k in (*GRPO_RANGES, *GRPO_CHOICES) if k not in fields] == []
    help_text = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(GRPOConfig)}
    for key in ("loss_type", "importance_sampling_level", "multi_objective_aggregation", "vllm_mode"):
        for choice in GRPO_CHOICES[key]:
            assert f"'{choice}'" in help_text[key], (key, choice)
    for path in sorted(Path(CONF_DIR, "grpo").glob("*.yaml")):
        for key, value in yaml.safe_load(path.read_text()).items():
            if key in fields:
                check_grpo_value(key, value)


def test_check_type_reads_typing_annotations():
    import enum
    from typing import Literal

    from argen.config_schema.values import check_type

    class Kind(enum.Enum):
        A = "a"

    accepted = [(3, int), (3, float), (0.5, float), (None, int | None), ("a", Kind | str), (True, bool),
                (["x"], list[str]), ({"k": 1}, dict), ("x", Literal["x", "y"]), (object(), type(None) | object)]
    refused = [(True, int), (1.5, int), (float("nan"), float), ("abc", float), ("maybe", bool), (1, bool),
               ("b", Kind | str), (None, int), ([1], list[str]), ("z", Literal["x", "y"])]
    for value, annotation in accepted:
        check_type(value, annotation, "k")
    for value, annotation in refused:
        with pytest.raises(ConfigError) as caught:
            check_type(value, annotation, "grpo.k")
        assert caught.value.key == "grpo.k" and "must be" in str(caught.value)
