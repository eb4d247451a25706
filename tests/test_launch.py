"""Hardware options and the multi-process launcher: composition, commands, and real CPU runs.

GPU launches cannot run here: their commands are parsed by Accelerate's own launcher parser
and validated, and the environment it would give the ranks is checked, without starting anything.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import yaml
from omegaconf import OmegaConf

from argen.config import resolve_config_path, to_plain
from argen.config_schema import HardwareConfig
from argen.training.validation import validate_train_config
from argen.errors import ConfigError
from argen.launch import config_file, free_port, launcher_command, write_worker_config
from argen.reporting.metrics import read_jsonl
from tests.conftest import CONF, REPO, cli_env, compose, run_cli

HARDWARE = sorted(p.stem for p in (CONF / "hardware").glob("*.yaml"))
GPU_LAUNCHES = ["ddp", "zero2", "zero3", "fsdp"]


def test_the_hardware_options_the_issue_names_exist():
    assert {"cpu", "gpu", "ddp", "zero2", "zero3", "fsdp", "cpu_ddp2"} <= set(HARDWARE)


@pytest.mark.parametrize("hardware", HARDWARE)
def test_every_hardware_option_composes_and_validates(hardware):
    cfg = compose("train", [f"hardware={hardware}"])
    validate_train_config(cfg)  # includes TRL's batch arithmetic for this process count
    hw = cfg.hardware
    expected = "none" if hw.num_processes == 1 else ("torchrun" if hw.use_cpu else "accelerate")
    assert hw.launcher == expected
    if hw.accelerate_config:
        path = resolve_config_path(hw.accelerate_config)
        assert path.is_file() and path.parent == CONF / "accelerate"


def test_multi_gpu_options_default_to_eight_processes_and_take_an_override():
    for hardware in GPU_LAUNCHES:
        assert compose("train", [f"hardware={hardware}"]).hardware.num_processes == 8
    assert compose("train", ["hardware=ddp", "hardware.num_processes=2"]).hardware.num_processes == 2


def test_accelerate_config_is_found_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = compose("train", ["hardware=zero3"])
    assert HardwareConfig.parse(cfg.hardware).num_processes == 8
    assert resolve_config_path(cfg.hardware.accelerate_config) == CONF / "accelerate" / "zero3.yaml"
    # A file of the user's own, relative to where they run, wins over the repository's.
    (tmp_path / "conf" / "accelerate").mkdir(parents=True)
    (tmp_path / "conf" / "accelerate" / "zero3.yaml").write_text("distributed_type: DEEPSPEED\n")
    assert resolve_config_path("conf/accelerate/zero3.yaml") == tmp_path / "conf" / "accelerate" / "zero3.yaml"


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["hardware=cpu", "hardware.num_processes=2"], "hardware.launcher"),
        (["hardware=ddp", "hardware.use_cpu=true"], "hardware.launcher"),
        (["hardware=cpu_ddp2", "hardware.launcher=mpirun"], "hardware.launcher"),
        (["hardware=ddp", "hardware.accelerate_config=null"], "hardware.accelerate_config"),
        (["hardware=ddp", "hardware.accelerate_config=conf/accelerate/nope.yaml"], "hardware.accelerate_config"),
        (["hardware=cpu_ddp2", "hardware.num_processes=0"], "hardware.num_processes"),
        (["grpo.use_vllm=true"], "grpo.use_vllm"),
        (["hardware=gpu", "grpo.use_vllm=true", "grpo.vllm_mode=remote"], "grpo.vllm_mode"),
    ],
)
def test_impossible_hardware_is_refused_naming_the_key(overrides, key):
    cfg = compose("train", overrides)
    with pytest.raises(ConfigError) as err:
        validate_train_config(cfg)
    assert err.value.key == key


def test_batch_arithmetic_uses_the_process_count():
    # 3 generations per prompt: 8 per device x 1 process is not divisible by 3, x 3 processes is.
    with pytest.raises(ConfigError, match="divisible by grpo.num_generations"):
        validate_train_config(compose("train", ["grpo.num_generations=3"]))
    validate_train_config(compose("train", ["grpo.num_generations=3", "hardware=ddp", "hardware.num_processes=3"]))


def test_cpu_ddp2_command_is_torchrun_with_two_processes(tmp_path):
    from torch.distributed.run import get_args_parser

    cfg = compose("train", ["experiment=smoke", "hardware=cpu_ddp2"])
    cmd = launcher_command(cfg, tmp_path, 29123)
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    args = get_args_parser().parse_args(cmd[3:])  # torchrun's own parser
    assert args.nproc_per_node == "2" and args.nnodes == "1"
    assert args.master_port == 29123 and args.master_addr == "127.0.0.1"
    assert args.module and args.training_script == "argen.worker"
    assert args.training_script_args == [str(config_file(tmp_path))]


def test_single_process_job_runs_the_worker_directly(tmp_path):
    cmd = launcher_command(compose("train", ["experiment=smoke"]), tmp_path, 29123)
    assert cmd == [sys.executable, "-m", "argen.worker", str(tmp_path / "worker_config.yaml")]


def _accelerate_view(cmd: list[str]):
    """Parse and validate a launch command exactly as `accelerate launch` would, and compute the
    environment it would give the ranks, without starting a process."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    args, defaults, _ = _validate_launch_command(launch_command_parser().parse_args(cmd[3:]))
    if args.use_deepspeed:
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
        _, env = prepare_deepspeed_cmd_env(args)
    else:
        env = prepare_multi_gpu_env(args)
    return args, env


@pytest.mark.parametrize("hardware", GPU_LAUNCHES)
def test_gpu_launch_commands_are_what_accelerate_launch_accepts(hardware, tmp_path):
    cfg = compose("train", [f"hardware={hardware}", "hardware.num_processes=4"])
    cmd = launcher_command(cfg, tmp_path, 29555)
    args, env = _accelerate_view(cmd)
    assert args.config_file == str(CONF / "accelerate" / f"{hardware}.yaml")
    assert args.num_processes == 4 and args.num_machines == 1 and args.main_process_port == 29555
    assert args.module and args.training_script == "argen.worker"
    assert args.training_script_args == [str(config_file(tmp_path))]
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    if hardware == "ddp":
        assert args.multi_gpu and "ACCELERATE_USE_DEEPSPEED" not in env and "ACCELERATE_USE_FSDP" not in env
    elif hardware in ("zero2", "zero3"):
        assert env["ACCELERATE_USE_DEEPSPEED"] == "true"
        assert env["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == hardware[-1]
        if hardware == "zero3":
            assert env["ACCELERATE_DEEPSPEED_ZERO3_SAVE_16BIT_MODEL"] == "true"
    else:
        assert env["ACCELERATE_USE_FSDP"] == "true"
        assert env["FSDP_SHARDING_STRATEGY"] == "FULL_SHARD"
        assert env["FSDP_STATE_DICT_TYPE"] == "FULL_STATE_DICT"  # final_model/ loads with from_pretrained


def test_precision_follows_the_hardware_group(tmp_path):
    cfg = compose("train", ["hardware=ddp", "hardware.bf16=false"])
    _, env = _accelerate_view(launcher_command(cfg, tmp_path, 29555))
    assert env["ACCELERATE_MIXED_PRECISION"] == "no"


def test_worker_config_is_fully_resolved_and_holds_no_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-do-not-write-me")
    cfg = compose("train", ["hardware=zero2", "judge=openai"])
    path = write_worker_config(cfg, tmp_path)
    text = path.read_text()
    assert "${" not in text  # interpolations resolved once, in the Hydra process
    assert "sk-test-do-not-write-me" not in text
    loaded = OmegaConf.to_container(OmegaConf.load(path))
    assert loaded == to_plain(cfg)
    assert loaded["judge"]["name"] == "openai:gpt-4o-mini" and loaded["judge"]["api_key_env"] == "OPENAI_API_KEY"
    assert loaded["hardware"]["name"] == "zero2"


def test_free_port_can_be_bound():
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_worker_without_a_config_file_says_so(tmp_path):
    result = run_cli("argen.worker", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"argen.worker: error: {tmp_path / 'missing.yaml'}: resolved config not found (the launcher writes it before starting workers)"
    ]


# --- real processes on the CPU -------------------------------------------------------------

LAUNCH_AND_INSPECT = """
import json, sys
from hydra import compose, initialize_config_dir
from argen.errors import ArgenError
from argen.launch import launch_workers
with initialize_config_dir(config_dir=sys.argv[1], version_base=None):
    cfg = compose("train", ["experiment=smoke", "hardware=cpu_ddp2", "data.limit=0"])
try:
    launch_workers(cfg, sys.argv[2])
    error = None
except ArgenError as err:
    error = str(err)
from accelerate.state import PartialState
import torch.distributed as dist
print(json.dumps({"error": error, "accelerator_state": dict(PartialState._shared_state), "dist": dist.is_initialized()}))
"""


def test_a_failing_worker_raises_with_its_exit_code_and_the_parent_stays_clean(tmp_path):
    """Both ranks fail on a bad data.limit; the launcher names the exit code and the workers' own
    error line, and the launching process never initialised accelerator or process-group state."""
    result = subprocess.run(
        [sys.executable, "-c", LAUNCH_AND_INSPECT, str(CONF), str(tmp_path)],
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "torchrun, exit code 1" in report["error"]
    assert "config key 'data.limit': must be a positive integer" in report["error"]
    assert str(tmp_path / "workers.log") in report["error"]
    assert report["accelerator_state"] == {} and report["dist"] is False
    assert (tmp_path / "worker_config.yaml").is_file()
    assert "argen.worker: error: config key 'data.limit'" in (tmp_path / "workers.log").read_text()


@pytest.fixture(scope="module")
def ddp2_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ddp2") / "run"
    result = run_cli("argen.train", "experiment=smoke", "hardware=cpu_ddp2", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return run_dir, result


@pytest.mark.slow  # ~20 s on an idle 2-core machine, 50 s when it is shared
def test_cpu_ddp2_smoke_trains_in_two_processes(ddp2_run):
    run_dir, result = ddp2_run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 2 and summary["status"] == "completed"
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["hardware"]["num_processes"] == 2 and config["hardware"]["launcher"] == "torchrun"
    assert result.stdout.strip().splitlines()[-1].startswith("argen: trained 2 steps")


@pytest.mark.slow  # ~20 s on an idle 2-core machine, 50 s when it is shared
def test_cpu_ddp2_ranks_share_one_run_dir_and_only_rank0_writes(ddp2_run):
    run_dir, _ = ddp2_run
    rows = [r for r in read_jsonl(run_dir / "metrics.jsonl") if "reward" in r]
    assert [r["step"] for r in rows] == [1, 2]  # one writer: no step logged twice
    assert (run_dir / "final_model" / "config.json").is_file()
    assert list((run_dir / "checkpoints").glob("checkpoint-*"))
    # Hydra ran once, in the launching process: one .hydra/, no stray run dirs inside.
    assert (run_dir / ".hydra" / "overrides.yaml").is_file()
    assert not [p for p in run_dir.iterdir() if p.is_dir() and p.name[:4].isdigit()]
    log = (run_dir / "workers.log").read_text()
    assert "torch.distributed.run --nnodes 1 --nproc_per_node 2" in log.splitlines()[0]


@pytest.mark.slow
def test_an_outside_launcher_works_with_an_explicit_run_dir(tmp_path):
    """torchrun -m argen.train (the CPU stand-in for `accelerate launch -m argen.train`)."""
    run_dir = tmp_path / "run"
    port = str(free_port())
    base = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port, "-m", "argen.train", "experiment=smoke"]
    refused = subprocess.run(base, cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0
    assert "argen.train: error: config key 'hydra.run.dir': is required under an outside launcher" in refused.stderr
    # With the end evaluation on: rank 0 starts its own process once training is over.
    result = subprocess.run([*base, f"hydra.run.dir={run_dir}", "eval.at_end=true", "eval.limit=2", "eval.max_new_tokens=4"],
                            cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["evaluation"]["scenarios"] == 2 and "error" not in summary["evaluation"]
    assert "--after-training" in (run_dir / "after_training.log").read_text().splitlines()[0]
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    # The process count the launcher started; the launcher stays as composed (a launched rank is
    # told by WORLD_SIZE, not by a config value).
    assert config["hardware"]["num_processes"] == 2 and config["hardware"]["launcher"] == "none"
    assert [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl") if "reward" in r] == [1, 2]
    # Only rank 0 printed the summary line.
    assert sum(line.startswith("argen: trained") for line in result.stdout.splitlines()) == 1


def test_outside_launcher_arguments(monkeypatch):
    from argen.train import outside_launch_argv

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert outside_launch_argv(["-m", "grpo.beta=0,1"]) == ["-m", "grpo.beta=0,1"]  # not launched: untouched
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ConfigError) as err:
        outside_launch_argv(["experiment=smoke"])
    assert err.value.key == "hydra.run.dir"
    with pytest.raises(ConfigError) as err:
        outside_launch_argv(["-m", "hydra.run.dir=x", "grpo.beta=0,1"])
    assert err.value.key == "hydra.mode"
    assert outside_launch_argv(["hydra.run.dir=x"]) == ["hydra.run.dir=x"]
    monkeypatch.setenv("RANK", "1")
    assert outside_launch_argv(["hydra.run.dir=x"]) == ["hydra.run.dir=x", "hydra.output_subdir=null", "hydra/job_logging=stdout"]



# --- GPU features: compose and reach TRL's arguments (they run only where the hardware is) -----


def test_gpu_features_reach_grpo_config_arguments(tmp_path):
    from argen.config_schema import grpo_config_fields
    from argen.training.grpo_args import grpo_kwargs

    cfg = compose("train", ["experiment=gpu_vllm", "hardware=zero3"])
    kwargs = grpo_kwargs(cfg, tmp_path, [0.3, 0.4, 0.3])
    assert kwargs["bf16"] is True and kwargs["use_cpu"] is False
    from argen.training.grpo_args import checkpointing_field

    assert kwargs[checkpointing_field(grpo_config_fields())] is True  # its name depends on the transformers version
    assert kwargs["use_vllm"] is True and kwargs["vllm_mode"] == "colocate"
    assert kwargs["vllm_gpu_memory_utilization"] == 0.3
    assert set(kwargs) <= grpo_config_fields()  # every key is a real GRPOConfig field
    assert cfg.model.lora is True and cfg.model.dtype == "bfloat16"


def test_vllm_server_mode_composes(tmp_path):
    from argen.training.grpo_args import grpo_kwargs

    cfg = compose("train", ["experiment=gpu_vllm", "hardware=ddp", "hardware.num_processes=7", "grpo.vllm_mode=server",
                            "+grpo.vllm_server_host=10.0.0.5"])
    kwargs = grpo_kwargs(cfg, tmp_path, [1.0])
    assert kwargs["vllm_mode"] == "server" and kwargs["vllm_server_host"] == "10.0.0.5"


def test_gpu_feature_dependencies_are_checked_before_anything_loads():
    vllm = importlib.util.find_spec("vllm") is not None
    peft = importlib.util.find_spec("peft") is not None
    cfg = compose("train", ["experiment=gpu_vllm"])
    if not vllm:
        with pytest.raises(ConfigError, match=r"pip install -e '\.\[gpu\]' \(vllm 0\.22\.0-0\.31\.0") as err:
            validate_train_config(cfg)
        assert err.value.key == "grpo.use_vllm"
    cfg = compose("train", ["experiment=gpu_vllm", "grpo.use_vllm=false"])
    if peft:
        validate_train_config(cfg)
    else:
        with pytest.raises(ConfigError) as err:
            validate_train_config(cfg)
        assert err.value.key == "model.lora"


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is not None, reason="deepspeed is installed here")
def test_deepspeed_options_without_deepspeed_stop_before_anything_starts(tmp_path):
    from argen.launch import launch_workers

    with pytest.raises(ConfigError, match="uses DeepSpeed, which is not installed") as err:
        launch_workers(compose("train", ["hardware=zero2"]), tmp_path)
    assert err.value.key == "hardware.accelerate_config"
    assert not (tmp_path / "workers.log").exists() and not (tmp_path / "worker_config.yaml").exists()
