"""Several machines: SLURM's variables, the launch commands, one run dir for every machine, a
shared-filesystem check, and a real two-"machine" run on 127.0.0.1 (two launches, gloo).

No cluster is needed: SLURM's variables are given as a mapping (they are only read), the
commands are parsed by torchrun's and Accelerate's own parsers, and the two machines are two
``python -m argen.train`` commands on this host that meet at 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from argen.config_schema import HardwareConfig
from argen.errors import ConfigError
from argen.launch import check_one_run_dir, free_port, launcher_command, machines_argv
from argen.reporting.metrics import read_jsonl
from argen.runtime import first_host, slurm_step
from argen.training.resume import config_differences
from argen.training.validation import validate_train_config
from tests.conftest import CONF, REPO, cli_env, compose

# What srun gives the task on the second node of a two-node step of job 4242.
SLURM_NODE1 = {"SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0", "SLURM_NNODES": "2", "SLURM_STEP_NUM_NODES": "2",
               "SLURM_NODEID": "1", "SLURM_STEP_NODELIST": "gpu[07-08]", "SLURM_JOB_NODELIST": "gpu[07-08]"}
TWO_MACHINES = ["experiment=smoke", "hardware=cpu_ddp2", "hardware.num_processes=1", "hardware.num_machines=2"]


def _hardware(overrides: list[str], environ: dict[str, str] | None = None) -> HardwareConfig:
    return HardwareConfig.parse(compose("train", overrides).hardware, environ=environ or {})


# --- SLURM's variables --------------------------------------------------------------------------


@pytest.mark.parametrize("nodelist, host", [
    ("node7", "node7"),
    ("gpu[03-05,09],cpu1", "gpu03"),
    ("gpu[09,03-05]", "gpu09"),  # SLURM keeps the order it was given
    ("rack[1-2]-n[08-09]", "rack1-n08"),
    ("a-1,b-2", "a-1"),
    ("n[0007]", "n0007"),
])
def test_the_first_host_of_a_slurm_node_list(nodelist, host):
    assert first_host(nodelist) == host


@pytest.mark.parametrize("nodelist", ["", "gpu[03-05", "gpu]1[", "gpu[a-b]"])
def test_a_malformed_node_list_is_an_error(nodelist):
    with pytest.raises(ValueError):
        first_host(nodelist)


def test_slurm_step_from_srun_variables():
    step = slurm_step(SLURM_NODE1)
    assert step is not None
    assert (step.job_id, step.name, step.num_nodes, step.node_id, step.first_host) == ("4242", "4242.0", 2, 1, "gpu07")
    assert slurm_step({}) is None
    assert slurm_step({"SLURM_JOB_ID": "1"}) is None  # no node list or node id: not inside a step
    # The batch script itself (no step variables): the job's node list and count.
    batch = slurm_step({"SLURM_JOB_ID": "9", "SLURM_NNODES": "3", "SLURM_NODEID": "0", "SLURM_JOB_NODELIST": "c[1-3]"})
    assert batch is not None and batch.name == "9" and batch.first_host == "c1" and batch.num_nodes == 3


def test_machine_rank_address_and_port_come_from_slurm():
    hw = _hardware(TWO_MACHINES, SLURM_NODE1)
    assert (hw.num_machines, hw.machine_rank, hw.main_address, hw.machines_from) == (2, 1, "gpu07", "slurm")
    assert hw.main_port == 20000 + 4242 and hw.world_size == 2 and hw.num_processes == 1
    # Values set in the config win over SLURM's.
    hw = _hardware([*TWO_MACHINES, "hardware.main_address=10.0.0.5", "hardware.main_port=31000"], SLURM_NODE1)
    assert (hw.machine_rank, hw.main_address, hw.main_port) == (1, "10.0.0.5", 31000)


@pytest.mark.parametrize("overrides, environ, key, words", [
    (TWO_MACHINES, {}, "hardware.machine_rank", "is required with hardware.num_machines=2 outside SLURM"),
    ([*TWO_MACHINES, "hardware.machine_rank=1"], {}, "hardware.main_address", "is required with hardware.num_machines=2"),
    ([*TWO_MACHINES, "hardware.machine_rank=2", "hardware.main_address=h"], {}, "hardware.machine_rank", "between 0 and 1"),
    ([*TWO_MACHINES, "hardware.main_port=70000"], {}, "hardware.main_port", "must be a TCP port"),
    (["hardware.num_machines=0"], {}, "hardware.num_machines", "positive integer"),
    (["hardware.machine_rank=1"], {}, "hardware.machine_rank", "hardware.num_machines is 1"),
    (["hardware.num_machines=2", "hardware.machine_rank=0", "hardware.main_address=h"], {}, "hardware.launcher",
     "to train on 2 machines, got none"),
    ([*TWO_MACHINES[:-1], "hardware.num_machines=3"], SLURM_NODE1, "hardware.num_machines", "runs on 2 node(s)"),
    (["experiment=smoke"], SLURM_NODE1, "hardware.num_machines", "is 1, but this SLURM step runs on 2 nodes"),
])
def test_impossible_machine_settings_are_refused_naming_the_key(overrides, environ, key, words):
    with pytest.raises(ConfigError) as err:
        _hardware(overrides, environ)
    assert err.value.key == key and words in str(err.value)


def test_batch_arithmetic_counts_every_machine():
    """6 completions per prompt, 3 prompts per process: one machine cannot form a group, two can."""
    batch = ["grpo.per_device_train_batch_size=3", "grpo.num_generations=6", "hardware.machine_rank=0",
             "hardware.main_address=127.0.0.1"]
    validate_train_config(compose("train", [*TWO_MACHINES, *batch]))
    with pytest.raises(ConfigError) as err:
        validate_train_config(compose("train", [*TWO_MACHINES[:-1], *batch[:2]]))
    assert err.value.key == "grpo.per_device_train_batch_size"


def test_a_resumed_machine_may_differ_only_in_where_it_sits():
    saved = {"hardware": {"num_machines": 2, "machine_rank": 0, "main_address": "a", "main_port": 1}}
    here = {"hardware": {"num_machines": 2, "machine_rank": 1, "main_address": "b", "main_port": 2}}
    assert config_differences(saved, here) == []
    assert config_differences(saved, {"hardware": {**here["hardware"], "num_machines": 3}}) == ["hardware.num_machines: 2 -> 3"]


# --- the commands each machine runs ---------------------------------------------------------------


def test_torchrun_command_for_machine_1_of_2(tmp_path):
    from torch.distributed.run import get_args_parser

    cfg = compose("train", [*TWO_MACHINES, "hardware.num_processes=2", "hardware.machine_rank=1",
                            "hardware.main_address=10.1.2.3", "hardware.main_port=29400"])
    settings = validate_train_config(cfg)
    cmd = launcher_command(settings, tmp_path, settings.hardware.main_port)
    assert cmd[1:3] == ["-m", "torch.distributed.run"]
    args = get_args_parser().parse_args(cmd[3:])
    assert (args.nnodes, args.nproc_per_node, args.node_rank) == ("2", "2", 1)
    assert (args.master_addr, args.master_port, args.rdzv_backend) == ("10.1.2.3", 29400, "static")
    assert args.training_script == "argen.worker" and args.training_script_args == [str(tmp_path / "worker_config.machine1.yaml")]


@pytest.mark.parametrize("hardware", ["ddp", "zero2", "zero3", "fsdp"])
def test_accelerate_command_for_machine_1_of_2(hardware, tmp_path):
    """Accelerate's own parser reads the command, and its own code computes what torchrun gets."""
    from tests.test_launch import _accelerate_view

    overrides = [f"hardware={hardware}", "hardware.num_processes=4", "hardware.num_machines=2", "hardware.machine_rank=1",
                 "hardware.main_address=10.1.2.3", "hardware.main_port=29400"]
    settings = validate_train_config(compose("train", ["experiment=smoke", *overrides]))
    args, env = _accelerate_view(launcher_command(settings, tmp_path, settings.hardware.main_port))
    assert (args.num_processes, args.num_machines, args.machine_rank) == (8, 2, 1)  # every machine's processes
    assert (args.main_process_ip, args.main_process_port) == ("10.1.2.3", 29400)
    # What torchrun is then given (as accelerate's own _run_torchrun filters it): 4 GPUs on this
    # machine, machine 1 of 2, machine 0's store at the main address.
    import torch.distributed.run as distrib_run
    from accelerate.utils.launch import _filter_args

    torchrun_args = _filter_args(args, distrib_run.get_args_parser(), ["--training_script", "x"])
    launch, _, _ = distrib_run.config_from_args(torchrun_args)
    assert (launch.min_nodes, launch.max_nodes, launch.nproc_per_node) == (2, 2, 4)
    assert launch.rdzv_backend == "static" and launch.rdzv_endpoint == "10.1.2.3:29400"
    assert int(launch.rdzv_configs["rank"]) == 1
    assert args.training_script_args == [str(tmp_path / "worker_config.machine1.yaml")]


def test_one_machine_commands_are_unchanged(tmp_path):
    settings = validate_train_config(compose("train", ["experiment=smoke", "hardware=cpu_ddp2"]))
    cmd = launcher_command(settings, tmp_path, 1234)
    assert cmd[3:11] == ["--nnodes", "1", "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", "1234"]


# --- one run dir for every machine ------------------------------------------------------------------


def test_under_slurm_every_node_gets_the_run_dir_of_the_job_step(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    node0 = {**SLURM_NODE1, "SLURM_NODEID": "0"}
    assert machines_argv(["hardware.num_machines=2"], node0) == ["hardware.num_machines=2", "hydra.run.dir=outputs/slurm-4242.0"]
    # Machine 1 writes no .hydra/ files and logs to stdout only (machine 0 writes them).
    assert machines_argv(["x=1"], SLURM_NODE1) == ["x=1", "hydra.run.dir=outputs/slurm-4242.0", "hydra.output_subdir=null",
                                                   "hydra/job_logging=stdout"]
    assert machines_argv(["hydra.run.dir=/shared/r"], node0) == ["hydra.run.dir=/shared/r"]  # given: kept
    assert machines_argv(["-m", "x=1,2"], SLURM_NODE1) == ["-m", "x=1,2"]  # a sweep: its sweep dir decides
    one_node = {**node0, "SLURM_NNODES": "1", "SLURM_STEP_NUM_NODES": "1", "SLURM_STEP_NODELIST": "gpu07"}
    assert machines_argv(["x=1"], one_node) == ["x=1"]  # one node: Hydra's own run dir, as always


def test_outside_slurm_several_machines_need_an_explicit_run_dir(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(ConfigError) as err:
        machines_argv(["hardware.num_machines=2", "hardware.machine_rank=0"], {})
    assert err.value.key == "hydra.run.dir" and "every machine must train in one shared run dir" in str(err.value)
    argv = ["hardware.num_machines=2", "hardware.machine_rank=1", "hydra.run.dir=/shared/r"]
    assert machines_argv(argv, {}) == [*argv, "hydra.output_subdir=null", "hydra/job_logging=stdout"]


def test_a_config_file_with_several_machines_still_needs_one_run_dir():
    """num_machines set in a config file (not on the command line): checked once Hydra composed it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    def hydra_node(overrides: list[str], multirun: bool = False):
        mode = ["hydra.mode=MULTIRUN"] if multirun else []
        with initialize_config_dir(config_dir=str(CONF), version_base=None):
            hydra_cfg = hydra_compose("train", [*overrides, *mode], return_hydra_config=True).hydra
        return compose("train", [o for o in overrides if not o.startswith("hydra.")]), hydra_cfg

    two = [*TWO_MACHINES, "hardware.machine_rank=0", "hardware.main_address=127.0.0.1"]
    cfg, hydra_cfg = hydra_node(two)
    with pytest.raises(ConfigError) as err:
        check_one_run_dir(validate_train_config(cfg), hydra_cfg)
    assert err.value.key == "hydra.run.dir"
    cfg, hydra_cfg = hydra_node([*two, "hydra.run.dir=/shared/r"])
    check_one_run_dir(validate_train_config(cfg), hydra_cfg)
    cfg, hydra_cfg = hydra_node(two, multirun=True)
    with pytest.raises(ConfigError) as err:
        check_one_run_dir(validate_train_config(cfg), hydra_cfg)
    assert err.value.key == "hydra.sweep.dir"
    cfg, hydra_cfg = hydra_node(["experiment=smoke"])
    check_one_run_dir(validate_train_config(cfg), hydra_cfg)  # one machine: nothing to agree on


def test_the_cli_refuses_two_machines_without_a_run_dir_before_hydra_writes(tmp_path):
    result = subprocess.run([sys.executable, "-m", "argen.train", *TWO_MACHINES, "hardware.machine_rank=0",
                             "hardware.main_address=127.0.0.1"], cwd=tmp_path, env=cli_env(PYTHONPATH=str(REPO)),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("argen.train: error: config key 'hydra.run.dir': is required with "
                                                            "hardware.num_machines=2 outside SLURM")
    assert not (tmp_path / "outputs").exists()


def test_slurm_launcher_runs_one_task_on_each_machine(hydra_config):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    import hydra.utils
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = hydra_compose("train", ["hydra/launcher=slurm", "hardware=ddp", "hardware.num_processes=4",
                                      "hardware.num_machines=2"], return_hydra_config=True)
    hydra_config(cfg)
    params = hydra.utils.instantiate(cfg.hydra.launcher).params
    assert (params["nodes"], params["tasks_per_node"], params["gpus_per_node"]) == (2, 1, 4)


# --- one shared filesystem ----------------------------------------------------------------------------


def test_ranks_that_do_not_share_the_run_dir_are_refused(tmp_path):
    """Two gloo ranks: one directory both see passes; a directory per rank (two disks mounted at
    one path, as two machines without a shared filesystem would have) is refused on both ranks,
    naming the path."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(REPO / "tests" / "shared_run_dir_worker.py"), str(tmp_path)]
    result = subprocess.run(cmd, cwd=REPO, env=cli_env(PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["rank"] for r in lines) == [0, 1]
    for r in lines:
        assert r["shared"] == "ok"
        assert r["separate"].startswith(f"refused: the run dir {tmp_path / ('rank' + str(r['rank']))} is not one shared directory")
        assert "rank(s) 1 on" in r["separate"] and "put hydra.run.dir on a filesystem every machine mounts" in r["separate"]
        assert r["leftovers"] == []  # the probe file is gone


# --- two machines on 127.0.0.1 ----------------------------------------------------------------------


@pytest.mark.slow  # two launches of one gloo rank each: ~60 s on 2 idle cores, ~2 min when shared
def test_two_machines_train_one_run(tmp_path):
    run_dir = tmp_path / "run"
    port = str(free_port())
    common = [*TWO_MACHINES, "hardware.main_address=127.0.0.1", f"hardware.main_port={port}", f"hydra.run.dir={run_dir}"]
    procs = [subprocess.Popen([sys.executable, "-m", "argen.train", *common, f"hardware.machine_rank={k}"], cwd=REPO,
                              env=cli_env(OMP_NUM_THREADS="1"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for k in (0, 1)]
    outputs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        outputs.append(out)
        assert proc.returncode == 0, out[-4000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["world_size"] == 2 and summary["steps"] == 2
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"
    assert [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl") if "reward" in r] == [1, 2]  # one writer
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["hardware"]["num_machines"] == 2 and config["hardware"]["num_processes"] == 1
    # One run dir: machine 0's .hydra/ and log, each machine's own launcher log and worker config.
    assert (run_dir / ".hydra" / "overrides.yaml").is_file()
    assert "hardware.machine_rank=0" in (run_dir / ".hydra" / "overrides.yaml").read_text()
    assert "--nnodes 2 --nproc_per_node 1 --node_rank 0" in (run_dir / "workers.log").read_text().splitlines()[0]
    assert "--nnodes 2 --nproc_per_node 1 --node_rank 1" in (run_dir / "workers.machine1.log").read_text().splitlines()[0]
    assert not [p for p in run_dir.parent.iterdir() if p != run_dir]  # no second run dir anywhere
    assert sum(line.startswith("argen: trained 2 steps") for out in outputs for line in out.splitlines()) == 1
    assert "machine 1 of 2 finished its processes" in outputs[1]
