"""Ready for a GPU cluster: preflight checks, the end evaluation's own process, sharded periodic
evaluation, the paper recipe and the device check, as far as a CPU machine can test them.

Real parts: the CLI in subprocesses, a local HTTP server standing in for the model hub, a real
(tiny) model for generation. Nothing here needs a GPU; on a machine with one, the GPU-count
tests still ask for one process more than it has.
"""

from __future__ import annotations

import http.server
import json
import re
import socket
import subprocess
import sys
import threading

import pytest

from argen.config import to_plain
from argen.training.validation import validate_train_config
from argen.errors import ConfigError
from tests.conftest import REPO, cli_env, compose, run_cli

ISOLATED = ["judge._target_=tests.rule_judge.RuleJudge", "judge.name=rule", "policy.enabled=false"]


# ---------------------------------------------------------------- GPU count


def test_more_gpu_processes_than_visible_gpus_are_refused_unless_allowed():
    from argen.launch import check_gpu_count, visible_gpus

    n = visible_gpus() + 1
    cfg = compose("train", ["hardware=ddp", f"hardware.num_processes={n}"])
    with pytest.raises(ConfigError) as err:
        check_gpu_count(cfg.hardware)
    assert err.value.key == "hardware.num_processes"
    assert f"{n} GPU process" in str(err.value) and "hardware.allow_more_processes_than_gpus=true" in str(err.value)
    check_gpu_count(compose("train", ["hardware=ddp", f"hardware.num_processes={n}",
                                      "hardware.allow_more_processes_than_gpus=true"]).hardware)
    check_gpu_count(compose("train", ["hardware=cpu_ddp2"]).hardware)  # CPU processes need no GPU


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_the_cli_refuses_eight_gpu_processes_on_a_machine_without_gpus(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli("argen.train", "hardware=ddp", f"hydra.run.dir={run_dir}", env=cli_env(CUDA_VISIBLE_DEVICES=""))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "argen.train: error: config key 'hardware.num_processes': 8 GPU processes for hardware=ddp, but 0 GPUs are "
        "visible (CUDA_VISIBLE_DEVICES=): use hardware=cpu (or hardware=cpu_ddp2), or set "
        "hardware.allow_more_processes_than_gpus=true to start them anyway"
    ]
    assert not (run_dir / "worker_config.yaml").exists() and not (run_dir / "workers.log").exists()


def test_which_runs_train_in_worker_processes(monkeypatch):
    import argen.launch as launch
    from argen.launch import needs_workers

    monkeypatch.setattr(launch, "visible_gpus", lambda: 1)  # several GPUs: test_gpu_faults.py

    assert needs_workers(compose("train", ["hardware=ddp", "hardware.num_processes=1"]), isolate=False)
    assert needs_workers(compose("train", ["hardware=cpu_ddp2"]), isolate=False)
    assert needs_workers(compose("train", ["hardware=cpu"]), isolate=True)  # a multirun job
    assert not needs_workers(compose("train", ["hardware=cpu"]), isolate=False)
    assert not needs_workers(compose("train", ["hardware=gpu"]), isolate=False)


def test_one_ddp_process_still_goes_through_accelerate_launch(tmp_path):
    from accelerate.commands.launch import launch_command_parser

    from argen.launch import launcher_command

    cmd = launcher_command(compose("train", ["hardware=ddp", "hardware.num_processes=1"]), tmp_path, 29500)
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    args = launch_command_parser().parse_args(cmd[3:])
    assert args.num_processes == 1 and args.config_file.endswith("conf/accelerate/ddp.yaml")


# ---------------------------------------------------------------- missing weights


class _FakeHub(http.server.BaseHTTPRequestHandler):
    """Answers like the hub for three repos: one served, one gated, everything else not found."""

    def do_HEAD(self):  # noqa: N802 - http.server's naming
        if "/org/served/" in self.path:
            self.send_response(200)
            self.send_header("ETag", '"abc"')
            self.send_header("X-Repo-Commit", "0" * 40)
            self.send_header("Content-Length", "2")
        elif "/org/gated/" in self.path:
            self.send_response(401)
            self.send_header("X-Error-Code", "GatedRepo")
            self.send_header("X-Error-Message", "Access to model org/gated is restricted.")
        else:
            self.send_response(404)
            self.send_header("X-Error-Code", "RepoNotFound")
            self.send_header("X-Error-Message", "Repository not found")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_hub(monkeypatch):
    from huggingface_hub import constants

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        f"http://127.0.0.1:{server.server_port}/{{repo_id}}/resolve/{{revision}}/{{filename}}")
    yield
    server.shutdown()


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return tmp_path / "hub"


def _hub_model(path: str) -> dict:
    return {"name": "my-model", "source": "hub", "path": path, "dtype": "bfloat16"}


def test_a_cached_hub_model_passes_even_offline(empty_hf_cache, monkeypatch):
    from argen.models import check_model_available

    snapshot = empty_hf_cache / "models--org--cached" / "snapshots" / ("1" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (empty_hf_cache / "models--org--cached" / "refs").mkdir()
    (empty_hf_cache / "models--org--cached" / "refs" / "main").write_text("1" * 40)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    check_model_available(_hub_model("org/cached"))
    check_model_available({"source": "packaged_gguf", "name": "smollm2"})  # not a hub model: nothing to check


def test_an_uncached_model_offline_is_refused_naming_model_name(empty_hf_cache, monkeypatch):
    from argen.models import check_model_available

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError) as err:
        check_model_available(_hub_model("org/Some-Model-1B"))
    assert err.value.key == "model.name"
    text = str(err.value)
    assert "\n" not in text and "my-model (hub id org/Some-Model-1B)" in text and "HF_HUB_OFFLINE=1" in text
    assert "`hf download org/Some-Model-1B`" in text and "huggingface-cli download org/Some-Model-1B" in text
    assert "model=local model.path=/path/to/Some-Model-1B" in text


def test_the_hub_answers_tell_missing_gated_and_served_models_apart(empty_hf_cache, fake_hub):
    from argen.models import check_model_available

    check_model_available(_hub_model("org/served"))  # downloadable now: fine
    with pytest.raises(ConfigError, match="gated model: accept its licence"):
        check_model_available(_hub_model("org/gated"))
    with pytest.raises(ConfigError, match="the hub has no such model"):
        check_model_available(_hub_model("org/typo"))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: connections are refused


@pytest.mark.parametrize("hub", ["offline", "unreachable"])
def test_the_headline_command_without_weights_stops_in_the_hydra_process_with_one_line(tmp_path, hub):
    """`python -m argen.train model=llama1b reward=ahimsa_heavy` on a machine with no copy of the
    model and no hub: one line, exit 2, nothing loaded, no retry warnings."""
    env = cli_env(HF_HOME=str(tmp_path / "hf"), ARGEN_CACHE_DIR=str(tmp_path / "cache"))
    if hub == "unreachable":
        env.pop("HF_HUB_OFFLINE"), env.pop("TRANSFORMERS_OFFLINE")
        env["HF_ENDPOINT"] = f"http://127.0.0.1:{_closed_port()}"
    run_dir = tmp_path / "run"
    result = run_cli("argen.train", "model=llama1b", "reward=ahimsa_heavy", f"hydra.run.dir={run_dir}", env=env, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("argen.train: error: config key 'model.name': llama-3.2-1b-instruct "
                           "(hub id unsloth/Llama-3.2-1B-Instruct) is not in the local Hugging Face cache")
    assert ("HF_HUB_OFFLINE=1" if hub == "offline" else "the hub is unreachable (") in line
    assert "`hf download unsloth/Llama-3.2-1B-Instruct`" in line and "model=local model.path=" in line
    assert "Retrying" not in result.stdout + result.stderr and "Traceback" not in result.stdout + result.stderr
    assert not (run_dir / "final_model").exists() and not (run_dir / "config.yaml").exists()


# ---------------------------------------------------------------- the end evaluation's own process


def test_the_after_training_process_gets_no_engine_or_process_group_variables(monkeypatch, tmp_path):
    from argen.launch import after_training_command, after_training_env

    for name, value in {"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3", "FSDP_SHARDING_STRATEGY": "1",
                        "ACCELERATE_USE_FSDP": "true", "RANK": "0", "WORLD_SIZE": "8", "MASTER_PORT": "29500",
                        "ARGEN_KEEP_ME": "yes"}.items():
        monkeypatch.setenv(name, value)
    env = after_training_env()
    assert not [k for k in env if k.startswith(("ACCELERATE_", "FSDP_")) or k in ("RANK", "WORLD_SIZE", "MASTER_PORT")]
    assert env["ARGEN_KEEP_ME"] == "yes" and env["PYTHONUNBUFFERED"] == "1"
    assert after_training_command(tmp_path, tmp_path / "r") == [
        sys.executable, "-m", "argen.worker", "--after-training", str(tmp_path / "worker_config.yaml"), str(tmp_path / "r")]


def test_a_crashing_evaluation_process_keeps_the_run_summary(tmp_path):
    """The process after training dies (here: a summary without model paths); the run keeps its
    summary, and the failure with the way to evaluate again is recorded in it."""
    from argen.launch import run_after_training

    cfg = compose("train", ["experiment=smoke", *ISOLATED, "eval.at_end=true"])
    summary = {"status": "completed", "run_dir": str(tmp_path), "steps": 2}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    result = run_after_training(cfg, tmp_path, summary)
    assert result["steps"] == 2 and result["status"] == "completed"
    error = result["evaluation"]["error"]
    assert error.startswith("end-of-training evaluation failed (python -m argen.worker --after-training, exit code 1): KeyError")
    assert result["evaluation"]["headline"].endswith(f"redo it with: python -m argen.evaluate end_of_training={tmp_path}")
    assert json.loads((tmp_path / "summary.json").read_text()) == result  # written back: nothing lost
    log = (tmp_path / "after_training.log").read_text()
    assert log.startswith(f"$ {sys.executable} -m argen.worker --after-training")


def test_nothing_runs_after_training_without_at_end_or_after_an_interrupt(tmp_path):
    from argen.launch import run_after_training

    summary = {"status": "completed", "run_dir": str(tmp_path)}
    assert run_after_training(compose("train", ["experiment=smoke"]), tmp_path, summary) is summary  # eval.at_end=false
    stopped = {"status": "interrupted", "run_dir": str(tmp_path)}
    assert run_after_training(compose("train", ["experiment=smoke", "eval.at_end=true"]), tmp_path, stopped) is stopped
    assert not (tmp_path / "after_training.log").exists()


@pytest.mark.slow  # a 2-step CPU run plus the evaluation of two tiny models: ~30-60 s on 2 shared cores
def test_a_single_cpu_run_evaluates_in_a_fresh_process_after_training(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli("argen.train", "experiment=smoke", *ISOLATED, "eval.at_end=true", "eval.limit=2", "eval.max_new_tokens=4",
                     f"hydra.run.dir={run_dir}", env=cli_env(ARGEN_CACHE_DIR=str(REPO / ".cache" / "argen-tests")))
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["evaluation"]["scenarios"] == 2 and "error" not in summary["evaluation"]
    assert (run_dir / "eval" / "base" / "responses.jsonl").is_file() and (run_dir / "eval" / "compare.md").is_file()
    log = (run_dir / "after_training.log").read_text()
    assert f"-m argen.worker --after-training {run_dir / 'worker_config.yaml'} {run_dir}" in log.splitlines()[0]
    assert "evaluating base and trained models on 2 scenarios" in log
    assert summary["evaluation"]["headline"] in result.stdout.strip().splitlines()[-1]


# ---------------------------------------------------------------- periodic evaluation in lockstep


def test_lockstep_shards_generate_equally_often_and_report_only_real_scenarios():
    """Under FSDP / ZeRO-3 every process must call generate as often as the others, with synced_gpus."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from argen.data.scenarios import Scenario
    from argen.models import resolve_model
    from argen.scoring.build import build_rubric
    from argen.scoring.pipeline import Scorer
    from argen.training.periodic_eval import PeriodicEvaluator
    from tests.rule_judge import RuleJudge

    cfg = compose("train", ["experiment=smoke", *ISOLATED])
    path = resolve_model(to_plain(cfg.model))
    model = AutoModelForCausalLM.from_pretrained(path)
    calls: list[dict] = []
    real_generate = model.generate

    def counting_generate(**kwargs):
        calls.append({"rows": kwargs["input_ids"].shape[0], "synced_gpus": kwargs.get("synced_gpus")})
        kwargs.pop("synced_gpus", None)  # one process here: nothing to synchronise with
        return real_generate(**kwargs)

    model.generate = counting_generate
    scenarios = [Scenario(f"s{i}", f"question {i}?", "C", "S0") for i in range(5)]
    evaluator = PeriodicEvaluator(Scorer(RuleJudge(), build_rubric(compose("train", ISOLATED))), AutoTokenizer.from_pretrained(path),
                                  scenarios, system_prompt=None, max_new_tokens=2, temperature=0.0, batch_size=1)
    per_shard = {}
    for lockstep in (False, True):
        for index in range(3):
            calls.clear()
            _, records = evaluator.evaluate(model, step=1, shard=(index, 3), lockstep=lockstep)
            per_shard[lockstep, index] = (len(calls), [r["id"] for r in records], {c["synced_gpus"] for c in calls})
    assert [per_shard[False, i][0] for i in range(3)] == [2, 2, 1]  # uneven: a sharded model would hang here
    assert [per_shard[True, i][0] for i in range(3)] == [2, 2, 2]  # the short shard generates a filler batch
    assert per_shard[True, 2][1] == ["s2"]  # ...whose answer is dropped
    assert per_shard[True, 0][2] == {True} and per_shard[False, 0][2] == {None}


# ---------------------------------------------------------------- the paper recipe


def test_paper_recipe_needs_its_benchmark_file_on_the_command_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        validate_train_config(compose("train", ["experiment=paper_llama1b"]))
    assert err.value.key == "eval.path"
    result = run_cli("argen.train", "experiment=paper_llama1b", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "argen.train: error: config key 'eval.path': is required here: add eval.path=/path/to/benchmark.jsonl "
        "(the scenarios to evaluate on)"]


def test_paper_recipe_follows_argens_published_settings(reference_dir, tmp_path):
    from argen.config import load_configured_scenarios
    from argen.training.grpo_args import grpo_kwargs

    cfg = compose("train", ["experiment=paper_llama1b", f"data.path={reference_dir / 'train-300.jsonl'}",
                            f"eval.path={reference_dir / 'benchmark-100.jsonl'}"])
    validate_train_config(cfg)
    kwargs = grpo_kwargs(cfg, tmp_path, [1.0])
    expected = {"beta": 0.1, "learning_rate": 3.2e-6, "num_train_epochs": 3, "num_iterations": 2, "num_generations": 6,
                "per_device_train_batch_size": 12, "max_completion_length": 256, "temperature": 0.9, "loss_type": "bnpo",
                "epsilon": 0.2, "scale_rewards": "none", "warmup_steps": 5, "lr_scheduler_type": "linear", "seed": 42,
                "disable_dropout": True, "bf16": True}
    assert {k: kwargs[k] for k in expected} == expected
    assert cfg.model.path == "unsloth/Llama-3.2-1B-Instruct"
    assert cfg.reward.mode == "combined" and not cfg.reward.get("adaptive")  # ArGen's default: combined, no adaptive weights
    assert dict(cfg.reward.weights) == {"ahimsa": 0.3, "dharma": 0.4, "helpfulness": 0.3}
    assert (cfg.eval.temperature, cfg.eval.max_new_tokens, cfg.eval.every_n_steps) == (0.2, 256, 0)
    validate_train_config(compose("train", ["experiment=paper_llama1b", "eval.at_end=false"]))  # no evaluation: no file needed
    assert len(load_configured_scenarios({"path": cfg.eval.path, "limit": cfg.eval.limit}, "eval")) == 100
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", cfg.data.system_prompt.strip()) if s]
    assert len(sentences) <= 4 and "four sentences" in cfg.data.system_prompt
    readme = (REPO / "experiments" / "paper_llama1b" / "README.md").read_text()
    assert "max_prompt_length" in readme and "disable_dropout" in readme and "eval.path=" in readme


# ---------------------------------------------------------------- make gpu-check: tests/test_gpu_check.py


@pytest.mark.slow  # two torchrun launches of 2 CPU ranks: ~40 s each on 2 shared cores
def test_periodic_evaluation_under_fsdp_needs_and_gets_lockstep(tmp_path):
    """Real FSDP (CPU, gloo), three scenarios on two ranks: in lockstep all three come back; without
    it the short rank leaves the collective early and the ranks fail (or hang: the timeout)."""
    from argen.launch import free_port
    from argen.models import resolve_model

    model_dir = resolve_model(to_plain(compose("train", ["experiment=smoke"]).model))

    def launch(mode: str) -> subprocess.CompletedProcess | None:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
               str(REPO / "tests" / "fsdp_lockstep_worker.py"), model_dir, mode]
        try:
            return subprocess.run(cmd, cwd=REPO, env=cli_env(PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=240)
        except subprocess.TimeoutExpired:
            return None

    ok = launch("lockstep")
    assert ok is not None and ok.returncode == 0, (ok.stdout + ok.stderr)[-3000:] if ok else "timed out"
    assert json.loads(ok.stdout.strip().splitlines()[-1]) == {"ids": ["s0", "s1", "s2"]}
    broken = launch("none")
    assert broken is None or broken.returncode != 0
