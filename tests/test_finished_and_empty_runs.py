"""Runs that have nothing to train: too few scenarios for one step, and a finished run resumed."""

from __future__ import annotations

import pytest

from argen.config_schema import TrainConfig
from tests.conftest import compose, run_cli


@pytest.mark.parametrize(("overrides", "need"), [
    ([], 2),  # smoke: 4 completions per step, 2 per scenario
    (["grpo.num_generations=4"], 1),
    (["grpo.gradient_accumulation_steps=2"], 4),  # steps_per_generation follows it: 8 completions
    (["+grpo.steps_per_generation=2", "grpo.gradient_accumulation_steps=1"], 4),
    (["+grpo.generation_batch_size=12", "grpo.per_device_train_batch_size=4"], 6),
    (["hardware=cpu_ddp2"], 4),  # 2 processes
])
def test_scenarios_one_step_needs(overrides, need):
    settings = TrainConfig.parse(compose("train", ["experiment=smoke", *overrides]))
    assert settings.grpo.scenarios_per_step(settings.hardware.num_processes)[0] == need


@pytest.mark.parametrize("source", ["data.limit", "data.path"])
def test_too_few_scenarios_for_one_step_is_refused_before_the_model_loads(tmp_path, source):
    """data.limit=1 used to train 0 steps, record the run as completed and save the base model."""
    if source == "data.limit":
        args = ["data.limit=1"]
    else:
        (tmp_path / "one.jsonl").write_text('{"prompt": "Is a mild cold something to worry about?"}\n')
        args = [f"data.path={tmp_path / 'one.jsonl'}", "data.limit=null"]
    result = run_cli("argen.train", "experiment=smoke", *args, f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"argen.train: error: config key '{source}': ")
    assert "1 scenario" in lines[0] and "one training step needs 2" in lines[0] and "num_generations 2" in lines[0]
    run = tmp_path / "run"
    assert not (run / "final_model").exists() and not (run / "checkpoints").exists() and not (run / "config.yaml").exists()
