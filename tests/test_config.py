"""Config composition and validation: every option composes; bad configs name their key."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from argen.config import to_plain
from argen.training.validation import validate_train_config
from argen.errors import ConfigError
from argen.rewards.registry import build_reward_functions
from argen.scoring.build import build_scorer
from argen.training.grpo_args import grpo_kwargs
from tests.conftest import CONF, cli_env, compose, run_cli

RULE_JUDGE = ["judge._target_=tests.rule_judge.RuleJudge", "judge.name=rule"]
# Options that need something this machine lacks (a directory to point at, a GPU with vLLM):
# they must fail validation with a message naming the key.
NEEDS_INPUT = {("model", "local"): "model.path", ("experiment", "gpu_vllm"): "grpo.use_vllm",
               ("experiment", "paper_llama1b"): "eval.path"}


def group_options():
    for group_dir in sorted(p for p in CONF.iterdir() if p.is_dir() and p.name not in ("hydra", "accelerate")):
        for option in sorted(group_dir.glob("*.yaml")):
            yield group_dir.name, option.stem


@pytest.mark.parametrize("group,option", list(group_options()))
def test_every_option_of_every_group_composes(group, option):
    prefix = "+" if group == "sweep" else ""
    cfg = compose("train", [f"{prefix}{group}={option}"])
    if group == "sweep":
        return  # sweeps only set hydra.sweeper params; composing is the check
    if (group, option) in NEEDS_INPUT:
        with pytest.raises(ConfigError, match=NEEDS_INPUT[(group, option)]):
            validate_train_config(cfg)
    else:
        validate_train_config(cfg)


def test_cfg_job_prints_composed_config_without_loading(tmp_path):
    result = run_cli("argen.train", "model=llama1b", "reward=ahimsa_heavy", "--cfg", "job", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = OmegaConf.create(result.stdout)
    assert printed.model.path == "unsloth/Llama-3.2-1B-Instruct"
    assert printed.model.dtype == "bfloat16"
    assert dict(printed.reward.weights) == {"ahimsa": 0.6, "dharma": 0.2, "helpfulness": 0.2}
    assert not (tmp_path / "outputs").exists()


def test_weights_by_name_reach_grpo_config_aligned(tmp_path):
    cfg = compose("train", ["reward.weights.ahimsa=0.5", "reward.weights.helpfulness=0.1", *RULE_JUDGE])
    scorer = build_scorer(cfg)
    funcs, weights = build_reward_functions(to_plain(cfg.reward), scorer)
    names = [f.__name__ for f in funcs]
    assert dict(zip(names, weights)) == {"ahimsa": 0.5, "dharma": 0.4, "helpfulness": 0.1}
    assert grpo_kwargs(cfg, tmp_path, weights)["reward_weights"] == weights


def test_combined_mode_is_one_function_with_unit_weight():
    cfg = compose("train", ["reward=combined", *RULE_JUDGE])
    funcs, weights = build_reward_functions(to_plain(cfg.reward), build_scorer(cfg))
    assert [f.__name__ for f in funcs] == ["combined"] and weights == [1.0]


def test_plain_function_plugs_in_from_the_command_line():
    cfg = compose("train", ["+reward.functions.brevity._target_=tests.custom_rewards.brevity",
                            "+reward.weights.brevity=0.2", *RULE_JUDGE])
    funcs, weights = build_reward_functions(to_plain(cfg.reward), build_scorer(cfg))
    by_name = dict(zip([f.__name__ for f in funcs], funcs))
    assert dict(zip(by_name, weights))["brevity"] == 0.2
    short, long = [{"role": "assistant", "content": "Rest and fluids."}], [{"role": "assistant", "content": "word " * 200}]
    assert by_name["brevity"](completions=[short, long], prompts=["q", "q"]) == [1.0, 0.0]


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["grpo.num_generations=3"], "grpo.per_device_train_batch_size"),
        (["+grpo.generation_batch_size=12", "grpo.per_device_train_batch_size=4", "grpo.num_generations=8"], "grpo.generation_batch_size"),
        (["grpo.num_generations=1"], "grpo.num_generations"),
        (["grpo.beta=-0.1"], "grpo.beta"),
        (["grpo.learning_rate=0"], "grpo.learning_rate"),
        (["+grpo.gamma=0.99"], "grpo.gamma"),
        (["+grpo.output_dir=/tmp/x"], "grpo.output_dir"),
        (["reward.weights.dharma=-0.4"], "reward.weights.dharma"),
        (["reward.weights.ahimsa=0", "reward.weights.dharma=0", "reward.weights.helpfulness=0"], "reward.weights"),
        (["~reward.weights.helpfulness"], "reward.weights.helpfulness"),
        (["+reward.weights.typo=1.0"], "reward.weights.typo"),
        (["reward.functions.ahimsa._target_=argen.nope.Missing", *RULE_JUDGE], "reward.functions.ahimsa._target_"),
        (["reward.mode=parallel"], "reward.mode"),
        (["hardware.num_processes=0"], "hardware.num_processes"),
        (["model.source=ftp"], "model.source"),
        (["model=local", "model.path=/does/not/exist"], "model.path"),
        (["logging.backend=tensorboard"], "logging.backend"),
        (["eval.limit=0"], "eval.limit"),
    ],
)
def test_bad_configs_name_the_key(overrides, key):
    cfg = compose("train", overrides)
    with pytest.raises(ConfigError) as err:
        validate_train_config(cfg)
        build_reward_functions(to_plain(cfg.reward), build_scorer(cfg))
    assert err.value.key == key, str(err.value)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["grpo.beta=-1"], "config key 'grpo.beta': must be >= 0"),
        (["grpo.num_generations=3"], "must be divisible by grpo.num_generations (3)"),
        (["reward.weights.ahimsa=0", "reward.weights.dharma=0", "reward.weights.helpfulness=0"], "all weights are zero"),
        (["data.path=/nonexistent/scenarios.jsonl"], "/nonexistent/scenarios.jsonl: file not found"),
    ],
)
def test_cli_reports_user_errors_in_one_line_before_loading(tmp_path, args, needle):
    result = run_cli("argen.train", "experiment=smoke", f"hydra.run.dir={tmp_path}/run", *args, env=cli_env())
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert "Loading weights" not in result.stderr + result.stdout
    assert not (Path(tmp_path) / "run" / "checkpoints").exists()


def test_unknown_group_option_is_reported_by_hydra(tmp_path):
    result = run_cli("argen.train", "model=gpt9", f"hydra.run.dir={tmp_path}/run")
    assert result.returncode != 0
    assert "gpt9" in result.stderr and "Available options" in result.stderr
