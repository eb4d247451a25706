"""The GPU paths' known faults (issue 23), each caught on a CPU: version-dependent field names,
wrapped models, dtypes, device placement, the vLLM sync of LoRA adapters, evaluation under FSDP.

Real parts: Hydra composition, the tiny model, real PEFT models, a real torch DDP wrapper on a
one-process gloo group, GRPO training runs through the CLI.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from argen.config_schema import TrainConfig
from argen.errors import ConfigError
from tests.conftest import compose

DATA = Path(__file__).parent / "data"
FLOOR_TRANSFORMERS = "5.17.0"


def training_arguments_fields(version: str = FLOOR_TRANSFORMERS) -> frozenset[str]:
    """TrainingArguments' field names in that transformers (recorded from a virtualenv with it)."""
    lines = (DATA / f"training_arguments_fields-{version}.txt").read_text().splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def floor_grpo_config_fields() -> frozenset[str]:
    """GRPOConfig's fields over the floor transformers: TRL 1.16's own fields (pinned, so the same
    everywhere) plus that version's TrainingArguments fields."""
    from transformers import TrainingArguments
    from trl import GRPOConfig

    installed_base = {f.name for f in dataclasses.fields(TrainingArguments)}
    trl_own = {f.name for f in dataclasses.fields(GRPOConfig)} - installed_base
    return frozenset(trl_own) | training_arguments_fields()


# Every grpo option and experiment, on every hardware option they are meant for.
COMPOSITIONS = [
    [],
    ["grpo=paper"],
    ["grpo=smoke"],
    ["experiment=smoke"],
    ["experiment=smoke", "model.gradient_checkpointing=true"],
    ["experiment=paper_llama1b", "eval.path=x.jsonl", "eval.at_end=false"],
    ["experiment=gpu_vllm"],
    ["experiment=gpu_vllm", "hardware=fsdp"],
    ["experiment=gpu_vllm", "hardware=zero3"],
]


# ---------------------------------------------------------------- 1. field names of transformers 5.17


@pytest.mark.parametrize("overrides", COMPOSITIONS, ids=lambda o: " ".join(o) or "default")
def test_every_grpo_argument_is_a_field_on_the_floor_transformers_too(overrides, tmp_path, monkeypatch):
    """vLLM 0.31 pins transformers < 5.18; 5.17 has no ``activation_checkpointing`` (every run crashed)."""
    import argen.training.grpo_args as grpo_args
    from argen.config_schema import grpo_config_fields

    cfg = compose("train", overrides)
    installed = grpo_config_fields()
    assert set(grpo_args.grpo_kwargs(cfg, tmp_path, [0.3, 0.4, 0.3])) <= installed
    # The same config on the floor version: ArGen reads the field set it runs on.
    floor = floor_grpo_config_fields()
    monkeypatch.setattr(grpo_args, "grpo_config_fields", lambda: floor, raising=False)
    kwargs = grpo_args.grpo_kwargs(cfg, tmp_path, [0.3, 0.4, 0.3])
    assert set(kwargs) <= floor, f"not fields in transformers {FLOOR_TRANSFORMERS}: {sorted(set(kwargs) - floor)}"
    assert kwargs["gradient_checkpointing"] is bool(cfg.model.gradient_checkpointing)


def test_the_checkpointing_flag_is_named_as_the_installed_transformers_names_it():
    from argen.training.grpo_args import checkpointing_field

    assert checkpointing_field(training_arguments_fields()) == "gradient_checkpointing"
    assert checkpointing_field(training_arguments_fields() | {"activation_checkpointing"}) == "activation_checkpointing"


@pytest.mark.parametrize("key", ["gradient_checkpointing", "model_init_kwargs"])
def test_grpo_fields_that_argen_sets_from_other_groups_are_refused_naming_that_group(key):
    with pytest.raises(ConfigError) as err:
        TrainConfig.parse(compose("train", ["experiment=smoke", f"+grpo.{key}={{}}" if key == "model_init_kwargs" else f"+grpo.{key}=true"]))
    assert err.value.key == f"grpo.{key}"
    assert ("model.gradient_checkpointing" if key == "gradient_checkpointing" else "model.dtype") in str(err.value)


# ---------------------------------------------------------------- 2. wrapped models


def _tiny_model_dir() -> str:
    from argen.config import to_plain
    from argen.models import resolve_model

    return resolve_model(to_plain(compose("train", ["experiment=smoke"]).model))


def test_lora_with_beta_starts_under_fsdp_and_ddp_wrappers(tmp_path):
    """Under FSDP ``trainer.model`` is the wrapper when ``on_train_begin`` runs, and TRL loads no
    reference model for a PEFT policy: asking the wrapper refused every LoRA run with beta > 0."""
    import json
    import subprocess
    import sys

    from argen.launch import free_port
    from tests.conftest import REPO, cli_env

    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1", "--master_port", str(free_port()),
           str(REPO / "tests" / "wrapped_policy_worker.py"), _tiny_model_dir()]
    done = subprocess.run(cmd, cwd=REPO, env=cli_env(PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"none": "started", "ddp": "started", "fsdp": "started"}
