"""Bad config values, as a new user would type them, across train, evaluate and score.

Each row goes through the validation entry the command itself calls first (train:
validate_train_config; evaluate and score: check_settings) and must end in a ConfigError naming
its key, printed by errors.format_error as one line. A few rows run the real command in a
subprocess: exit 2, one error line naming the key, no traceback, and nothing loaded (a training
run dir gets no config.yaml and no checkpoints: the model never loaded).
"""

from __future__ import annotations

import pytest

from argen.errors import ConfigError, format_error
from tests.conftest import cli_env, compose, run_cli

# (root, overrides, the key the error must name)
TRAIN = [
    ("grpo.learning_rate=abc", "grpo.learning_rate"),
    ("grpo.max_steps=1.5", "grpo.max_steps"),
    ("grpo.temperature=-1", "grpo.temperature"),
    ("model.lora_config.r=0", "model.lora_config.r"),
    ("grpo.max_steps=abc", "grpo.max_steps"),
    ("grpo.max_steps=0", "grpo.max_steps"),
    ("grpo.num_generations=2.5", "grpo.num_generations"),
    ("grpo.num_generations=abc", "grpo.num_generations"),
    ("grpo.beta=abc", "grpo.beta"),
    ("grpo.beta=true", "grpo.beta"),
    ("grpo.use_vllm=maybe", "grpo.use_vllm"),
    ("grpo.loss_type=foo", "grpo.loss_type"),
    ("grpo.scale_rewards=sometimes", "grpo.scale_rewards"),
    ("grpo.lr_scheduler_type=bogus", "grpo.lr_scheduler_type"),
    ("grpo.save_strategy=weekly", "grpo.save_strategy"),
    ("grpo.max_completion_length=abc", "grpo.max_completion_length"),
    ("grpo.per_device_train_batch_size=0.5", "grpo.per_device_train_batch_size"),
    ("grpo.gradient_accumulation_steps=0", "grpo.gradient_accumulation_steps"),
    ("grpo.num_train_epochs=0", "grpo.num_train_epochs"),
    ("grpo.warmup_steps=-1", "grpo.warmup_steps"),
    ("+grpo.top_p=1.5", "grpo.top_p"),
    ("+grpo.vllm_gpu_memory_utilization=1.5", "grpo.vllm_gpu_memory_utilization"),
    ("+grpo.disable_dropout=yes", "grpo.disable_dropout"),
    ("+grpo.data_seed=3", "grpo.data_seed"),
    ("model.lora_config.r=1.5", "model.lora_config.r"),
    ("model.lora_config.dropout=1.5", "model.lora_config.dropout"),
    ("+model.lora_config.rank=8", "model.lora_config.rank"),
    ("model.lora=maybe", "model.lora"),
    ("hardware.bf16=maybe", "hardware.bf16"),
    ("eval.at_end=maybe", "eval.at_end"),
    ("resume_allow_changes=maybe", "resume_allow_changes"),
    ("reward.adapt.target=2", "reward.adapt.target"),
    ("+judge.ideal_words=abc", "judge.ideal_words"),
    ("+judge.ideal_words=5", "judge.ideal_words"),
    ("judge=openai judge.temperature=abc", "judge.temperature"),
    ("judge=openai judge.max_tokens=1.5", "judge.max_tokens"),
    ("rubric.weights.ahimsa=abc", "rubric.weights.ahimsa"),
    ("rubric.domain_cap.S2=abc", "rubric.domain_cap.S2"),
    ("+eval.audit_judge_overrides.batch_size=0", "eval.audit_judge_overrides.batch_size"),
    ("hardware.accelerate_config=nope.yaml", "hardware.accelerate_config"),
]
EVALUATE = [
    ("progress=maybe", "progress"),
    ("compare_allow_mismatch=maybe", "compare_allow_mismatch"),
    ("compare=abc", "compare"),
    ("label=[1,2]", "label"),
    ("model.lora_config.r=0", "model.lora_config.r"),
    ("+typo=1", "typo"),
    ("temperature=abc", "temperature"),
    ("max_new_tokens=1.5", "max_new_tokens"),
    ("audit_judge_overrides=abc", "audit_judge_overrides"),
    ("+audit=1", "audit"),  # a field the schema derives (from audit_judge) is not a key to set
]
SCORE = [
    ("retry_errors=maybe", "retry_errors"),
    ("progress=maybe", "progress"),
    ("limit=1.5", "limit"),
    ("batch_size=abc", "batch_size"),
    ("judge.max_error_rate=2", "judge.max_error_rate"),
    ("+typo=1", "typo"),
    ("output=null", "output"),
    ("input=[1]", "input"),
]
ROWS = ([("train", *row) for row in TRAIN] + [("evaluate", *row) for row in EVALUATE]
        + [("score", *row) for row in SCORE])


@pytest.fixture(scope="module")
def score_files(tmp_path_factory):
    where = tmp_path_factory.mktemp("score")
    (where / "in.jsonl").write_text('{"prompt": "Is ibuprofen safe with tea?", "response": "Usually, yes."}\n')
    return where / "in.jsonl", where / "out.jsonl"


def _validate(root: str, overrides: list[str], score_files) -> None:
    """The validation the command runs first, on the config it would compose."""
    if root == "train":
        from argen.training.validation import validate_train_config

        validate_train_config(compose("train", [*overrides, "model=tiny"]))
    elif root == "evaluate":
        from argen.evaluate import check_settings

        check_settings(compose("evaluate", [*overrides, "model=tiny"]))
    else:
        from argen.score import check_settings

        src, out = score_files
        check_settings(compose("score", [f"input={src}", f"output={out}", *overrides]))


def test_the_table_has_at_least_30_rows_over_three_commands():
    assert len(ROWS) >= 30 and {r[0] for r in ROWS} == {"train", "evaluate", "score"}


@pytest.mark.parametrize(("root", "override", "key"), ROWS, ids=[f"{r[0]}:{r[1]}" for r in ROWS])
def test_a_bad_value_is_refused_naming_its_key(root, override, key, score_files):
    with pytest.raises(ConfigError) as caught:
        _validate(root, override.split(), score_files)
    assert caught.value.key == key
    line = format_error(caught.value, f"argen.{root}")
    assert "\n" not in line and line.startswith(f"argen.{root}: error: config key '{key}': ")


# The real commands: exit 2, one line naming the key, no traceback, nothing loaded.
CLI = [
    ("argen.train", ["grpo.max_steps=1.5"], "grpo.max_steps"),
    ("argen.train", ["grpo.learning_rate=abc"], "grpo.learning_rate"),
    ("argen.evaluate", ["progress=maybe"], "progress"),
    ("argen.score", ["retry_errors=maybe"], "retry_errors"),
]


@pytest.mark.parametrize(("module", "overrides", "key"), CLI, ids=[c[0] + ":" + c[1][0] for c in CLI])
def test_the_command_exits_2_with_one_line_before_loading(module, overrides, key, tmp_path, score_files):
    run = tmp_path / "run"
    args = [*overrides]
    if module == "argen.score":
        src, _ = score_files
        args += [f"input={src}", f"output={tmp_path / 'out.jsonl'}"]
    else:
        args += ["model=tiny", f"hydra.run.dir={run}"]
    proc = run_cli(module, *args, env=cli_env(), timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and errors[0].startswith(f"{module}: error: config key '{key}': "), proc.stderr[-2000:]
    if module == "argen.train":
        assert not (run / "config.yaml").exists() and not (run / "checkpoints").exists()
        assert not (run / "metrics.jsonl").exists()
    if module == "argen.evaluate":
        assert not (run / "responses.jsonl").exists()
    if module == "argen.score":
        assert not (tmp_path / "out.jsonl").exists()
