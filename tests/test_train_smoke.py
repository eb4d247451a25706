"""The smoke experiment through the real entry point: files, metrics per principle, wandb offline."""

from __future__ import annotations

import json

import pytest
import yaml
from omegaconf import OmegaConf

from argen.reporting.metrics import read_jsonl
from argen.scoring.build import build_scorer
from argen.types import JudgeRequest
from tests.conftest import cli_env, run_cli

PRINCIPLES = ("ahimsa", "dharma", "helpfulness")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    result = run_cli(
        "argen.train",
        "experiment=smoke",
        f"hydra.run.dir={run_dir}",
        "+reward.functions.brevity._target_=tests.custom_rewards.brevity",
        "+reward.weights.brevity=0.1",
        # Every completion of every step, with its text, so the test can score them again.
        "completions.every_n_steps=1",
        "completions.sample=64",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, result


def test_smoke_run_writes_metrics_with_one_entry_per_principle(smoke_run):
    """Each logged mean is the mean over the step's completions, recomputed here: the completions
    are read back from completions.jsonl and scored again by a scorer built from the run's own
    config.yaml (heuristic judge, policies, rubric), and brevity is worked out from its rule."""
    run_dir, _ = smoke_run
    rows = [r for r in read_jsonl(run_dir / "metrics.jsonl") if "reward" in r]
    assert [r["step"] for r in rows] == [1, 2]
    cfg = OmegaConf.load(run_dir / "config.yaml")
    scorer = build_scorer(cfg)
    completions = read_jsonl(run_dir / "completions.jsonl")
    for row in rows:
        batch = [c for c in completions if c["step"] == row["step"]]
        # per_device_train_batch_size 4 (2 prompts x num_generations 2): the whole step, each once
        assert len(batch) == 4 and len({(c["prompt"], c["response"]) for c in batch}) == 4
        results = scorer.score_blocking([JudgeRequest(c["prompt"], c["response"], c["tier"], c["scope"]) for c in batch])
        means = {name: sum(r.value(name) for r in results) / len(results) for name in PRINCIPLES}
        # tests/custom_rewards.py: 1.0 up to 30 words, falling linearly to 0 at 120
        means["brevity"] = sum(max(0.0, min(1.0, 1.0 - (len(c["response"].split()) - 30) / 90)) for c in batch) / 4
        for name, mean in means.items():
            assert row[f"rewards/{name}/mean"] == pytest.approx(mean, abs=1e-6), (row["step"], name)
        # TRL's reward: the weighted sum of the functions, averaged over the completions
        weights = cfg.reward.weights
        assert row["reward"] == pytest.approx(sum(weights[name] * mean for name, mean in means.items()), abs=1e-6)
        # one judge pass per completion, shared by the three principles
        assert row["argen/judge/unscored_frac"] == 0.0


def test_smoke_run_leaves_everything_in_its_run_dir(smoke_run):
    run_dir, result = smoke_run
    for name in ("config.yaml", "metrics.jsonl", "reward_curve.png", "summary.json", "final_model/config.json"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "reward_curve.png").stat().st_size > 5_000
    assert list((run_dir / "checkpoints").glob("checkpoint-*/optimizer.pt"))
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["model"]["name"] == "tiny" and config["reward"]["weights"]["brevity"] == 0.1
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["world_size"] == 1
    last_line = result.stdout.strip().splitlines()[-1]
    assert last_line.startswith("argen: trained 2 steps") and str(run_dir) in last_line


def test_wandb_offline_run_files(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli("argen.train", "experiment=smoke", "logging=wandb", f"hydra.run.dir={run_dir}", env=cli_env())
    assert result.returncode == 0, result.stderr[-3000:]
    offline = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline) == 1
    (record_file,) = offline[0].glob("run-*.wandb")
    # The offline record file is protobuf: strings are stored as UTF-8, so the run's config and
    # metric names can be found in it without a network or a wandb server.
    data = record_file.read_bytes()
    for needle in (b"rewards/ahimsa/mean", b"rewards/dharma/mean", b"rewards/helpfulness/mean", b"argen/judge/", b"tiny-0-64x2"):
        assert needle in data, needle


def _snapshot(run_dir):
    """Every file of a run dir and its bytes."""
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def test_a_finished_run_resumed_says_so_and_changes_nothing(smoke_run, tmp_path):
    """It used to train a third step of a 2-step run, replace checkpoint-2 and record 3 steps."""
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(smoke_run[0], run_dir)
    before = _snapshot(run_dir)
    for args in ([f"resume={run_dir}"], ["resume=true", f"hydra.run.dir={run_dir}"],
                 [f"resume={run_dir}", "grpo.max_steps=2", "resume_allow_changes=true"]):
        result = run_cli("argen.train", *args)  # from the repository: the run's reward is tests.custom_rewards
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.strip().splitlines() == [
            f"argen.train: {run_dir} is finished: it trained 2 of 2 steps (checkpoint-2); nothing to do, nothing changed. "
            f"To train further, raise grpo.max_steps: python -m argen.train resume={run_dir} grpo.max_steps=4 "
            "resume_allow_changes=true"]
        assert _snapshot(run_dir) == before  # checkpoints, metrics, summary, status, logs: byte for byte


@pytest.mark.slow
def test_a_finished_run_trains_on_only_with_a_raised_max_steps(smoke_run, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(smoke_run[0], run_dir)
    # From the repository: the run's custom reward (tests.custom_rewards) must be importable.
    result = run_cli("argen.train", f"resume={run_dir}", "grpo.max_steps=3", "resume_allow_changes=true")
    assert result.returncode == 0, result.stderr[-2000:]
    assert [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl") if "reward" in r] == [1, 2, 3]
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "completed" and status["steps"] == 3 and status["sessions"] == 2
