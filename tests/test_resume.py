"""Resume and preemption: a SIGTERM saves a checkpoint, resume continues it, nothing is duplicated."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest
from omegaconf import OmegaConf

from argen.errors import ConfigError
from argen.reporting.metrics import read_jsonl
from argen.training.checkpoints import LatestPointerCallback, is_complete, latest_checkpoint, mark_complete, write_latest
from argen.training.resume import check_same_config, config_differences, resolve_resume
from tests.conftest import REPO, cli_env, compose, run_cli


def test_sigterm_checkpoints_and_resume_continues_exactly(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "argen.train", "experiment=smoke", "grpo.max_steps=12", "grpo.save_steps=100",
         f"hydra.run.dir={run_dir}"],
        cwd=REPO, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(read_jsonl(run_dir / "metrics.jsonl")) < 3:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert "stopped by SIGTERM" in stderr and f"resume={run_dir}" in stderr and "Traceback" not in stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    stopped = summary["steps"]
    assert summary["status"] == "interrupted" and 3 <= stopped < 12
    assert latest_checkpoint(run_dir / "checkpoints").name == f"checkpoint-{stopped}"

    first = json.loads((run_dir / "status.json").read_text())
    assert first["status"] == "interrupted" and first["wall_s"] > 0
    hydra_config = (run_dir / ".hydra" / "config.yaml").read_text()

    result = run_cli("argen.train", f"resume={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    steps = [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl") if "reward" in r]
    assert steps == list(range(1, 13))  # no step lost, none logged twice
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    state = json.loads((latest_checkpoint(run_dir / "checkpoints") / "trainer_state.json").read_text())
    assert state["global_step"] == 12
    # The resumed run's records are its own: no stray run dir, the status says it completed.
    assert not (tmp_path / "outputs").exists()
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "completed" and status["steps"] == 12 and status["sessions"] == 2
    assert status["wall_s"] > first["wall_s"] and status["session_wall_s"] > 0
    assert (run_dir / ".hydra" / "config.yaml").read_text() == hydra_config  # what was trained, unchanged
    table = run_cli("argen.summarize", str(tmp_path), cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "1 jobs, 1 completed" in table.stdout + table.stderr + (tmp_path / "summary.md").read_text()


CHECKPOINT_FILES = ("model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json")


def fake_checkpoint(ckpts, step: int, complete: bool = True):
    """A checkpoint dir as the Trainer leaves it (marked complete as ArGen does after a save)."""
    path = ckpts / f"checkpoint-{step}"
    path.mkdir(parents=True)
    for name in CHECKPOINT_FILES:
        (path / name).write_text(json.dumps({"global_step": step}) if name == "trainer_state.json" else name * step)
    if complete:
        mark_complete(path, step)
    return path


def test_half_written_checkpoint_is_never_resumed(tmp_path):
    ckpts = tmp_path / "run" / "checkpoints"
    fake_checkpoint(ckpts, 4)
    write_latest(ckpts, "checkpoint-4", 4)
    (ckpts / "checkpoint-8").mkdir()  # killed while saving: no pointer moved to it
    (ckpts / "checkpoint-8" / "trainer_state.json").write_text('{"global_step": 8}')
    run, checkpoint = resolve_resume(str(tmp_path / "run"), tmp_path)
    assert run == tmp_path / "run" and checkpoint.name == "checkpoint-4"
    assert not list(ckpts.glob(".latest.*"))  # the pointer was renamed into place
    with pytest.raises(ConfigError, match="checkpoint-8 is not a complete checkpoint"):
        resolve_resume(str(ckpts / "checkpoint-8"), tmp_path)


@pytest.mark.parametrize("state", ["half-deleted", "deleted", "torn pointer"])
def test_pointer_to_a_checkpoint_being_deleted_falls_back_to_the_newest_complete(tmp_path, state):
    """The window of save_total_limit=1: checkpoint-8 is complete while the pointer still names
    checkpoint-4, which is being deleted (the Trainer rotated it away before the pointer moved)."""
    ckpts = tmp_path / "run" / "checkpoints"
    old = fake_checkpoint(ckpts, 4)
    write_latest(ckpts, "checkpoint-4", 4)
    fake_checkpoint(ckpts, 8)
    if state == "half-deleted":  # rmtree got as far as the optimizer and scheduler; the marker is left
        (old / "optimizer.pt").unlink()
        (old / "scheduler.pt").unlink()
    elif state == "deleted":
        shutil.rmtree(old)
    else:
        (ckpts / "latest").write_text('{"checkpoi')
    assert latest_checkpoint(ckpts).name == "checkpoint-8"
    assert resolve_resume(str(tmp_path / "run"), tmp_path)[1].name == "checkpoint-8"


def test_a_modified_or_unmarked_checkpoint_is_not_complete(tmp_path):
    ckpts = tmp_path / "checkpoints"
    good, unmarked = fake_checkpoint(ckpts, 2), fake_checkpoint(ckpts, 4, complete=False)
    assert is_complete(good) and not is_complete(unmarked)
    (good / "rng_state.pth").write_text("torn")
    assert not is_complete(good)
    assert latest_checkpoint(ckpts) is None


class _State:
    def __init__(self, step):
        self.global_step, self.is_world_process_zero = step, True


def test_pointer_moves_before_an_old_checkpoint_is_deleted(tmp_path, monkeypatch):
    """The callback takes save_total_limit over from the Trainer and deletes only after the pointer moved."""
    from types import SimpleNamespace

    from argen.training import checkpoints as ck

    ckpts = tmp_path / "checkpoints"
    args = SimpleNamespace(save_total_limit=1)
    callback = LatestPointerCallback(ckpts)
    callback.on_train_begin(args, _State(0), None)
    assert args.save_total_limit is None and callback.keep == 1
    events = []
    real_remove, real_latest = ck.remove_checkpoint, ck.write_latest
    monkeypatch.setattr(ck, "remove_checkpoint", lambda p: (events.append(("remove", p.name)), real_remove(p)))
    monkeypatch.setattr(ck, "write_latest", lambda d, n, s: (events.append(("latest", n)), real_latest(d, n, s)))
    for step in (1, 2, 3):
        fake_checkpoint(ckpts, step, complete=False)
        callback.on_save(args, _State(step), None)
    assert events == [("latest", "checkpoint-1"), ("latest", "checkpoint-2"), ("remove", "checkpoint-1"),
                      ("latest", "checkpoint-3"), ("remove", "checkpoint-2")]
    assert sorted(p.name for p in ckpts.iterdir()) == ["checkpoint-3", "latest"]
    assert is_complete(ckpts / "checkpoint-3")


def test_resumed_run_drops_checkpoints_past_the_resumed_step(tmp_path):
    ckpts = tmp_path / "checkpoints"
    fake_checkpoint(ckpts, 2)
    fake_checkpoint(ckpts, 4)
    fake_checkpoint(ckpts, 6, complete=False)
    write_latest(ckpts, "checkpoint-4", 4)
    from types import SimpleNamespace

    LatestPointerCallback(ckpts).on_train_begin(SimpleNamespace(save_total_limit=None), _State(2), None)
    assert sorted(p.name for p in ckpts.iterdir()) == ["checkpoint-2", "latest"]
    assert latest_checkpoint(ckpts).name == "checkpoint-2"


def test_nothing_to_resume_and_missing_dir_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="no completed checkpoint"):
        resolve_resume(str(tmp_path), tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_resume(str(tmp_path / "missing"), tmp_path)


def test_a_file_given_as_the_run_dir_or_in_place_of_checkpoints_is_named(tmp_path):
    """Issue 25 item 12: say what the path is, not "no completed checkpoint under FILE/checkpoints"."""
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match=r"afile is a file, not a run dir"):
        resolve_resume(str(tmp_path / "afile"), tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoints").write_text("not a directory")
    with pytest.raises(ConfigError, match=r"run/checkpoints is not a directory"):
        resolve_resume(str(tmp_path / "run"), tmp_path)


def test_config_differences_are_listed_and_refused(tmp_path):
    (tmp_path / "config.yaml").write_text("grpo:\n  max_steps: 10\n  beta: 0.0\nresume: false\n")
    current = {"grpo": {"max_steps": 20, "beta": 0.0}, "resume": str(tmp_path)}
    assert config_differences({"grpo": {"max_steps": 10, "beta": 0.0}}, current) == ["grpo.max_steps: 10 -> 20"]
    with pytest.raises(ConfigError, match=r"grpo.max_steps: 10 -> 20.*resume_allow_changes=true"):
        check_same_config(tmp_path, current, allow_changes=False)
    assert check_same_config(tmp_path, current, allow_changes=True) == ["grpo.max_steps: 10 -> 20"]


@pytest.mark.parametrize("case", ["missing dir", "no checkpoint", "changed config"])
def test_a_refused_resume_leaves_no_stray_dir_and_keeps_the_record(tmp_path, case):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(compose("train", ["experiment=smoke"]), resolve=True))
    (run_dir / "status.json").write_text('{"status": "interrupted", "wall_s": 5.0, "steps": 2}')
    args = {"missing dir": [f"resume={tmp_path / 'nope'}"], "no checkpoint": [f"resume={run_dir}"],
            "changed config": [f"resume={run_dir}", "grpo.max_steps=9"]}[case]
    if case == "changed config":
        fake_checkpoint(run_dir / "checkpoints", 2)
        write_latest(run_dir / "checkpoints", "checkpoint-2", 2)
    result = run_cli("argen.train", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("argen.train: error: config key 'resume'"), lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no outputs/<date>/<time>/
    assert json.loads((run_dir / "status.json").read_text())["status"] == "interrupted"


class _Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs."""


def test_a_crash_before_any_operation_of_marking_and_rotating_leaves_a_complete_checkpoint(tmp_path, monkeypatch):
    """The callback's part of a save (marker, pointer, deleting the old checkpoint), crashed before
    each of its file operations in turn (rmtree's own unlinks included): a complete checkpoint,
    the old or the new one, is always there to resume."""
    import os as os_module
    from types import SimpleNamespace

    budget = {"left": 0}

    def crashing(real):
        def op(*args, **kwargs):
            budget["left"] -= 1
            if budget["left"] == 0:
                raise _Killed
            return real(*args, **kwargs)
        return op

    n, outcomes = 0, set()
    while True:
        n += 1
        ckpts = tmp_path / f"try-{n}" / "checkpoints"
        fake_checkpoint(ckpts, 1)
        write_latest(ckpts, "checkpoint-1", 1)
        fake_checkpoint(ckpts, 2, complete=False)  # the Trainer has just written it
        callback = LatestPointerCallback(ckpts)
        callback.on_train_begin(SimpleNamespace(save_total_limit=1), _State(0), None)
        budget["left"] = n
        with monkeypatch.context() as m:
            for name in ("open", "replace", "rename", "unlink", "remove", "rmdir", "fsync"):
                m.setattr(os_module, name, crashing(getattr(os_module, name)))
            try:
                callback.on_save(None, _State(2), None)
                crashed = False
            except _Killed:
                crashed = True
        found = latest_checkpoint(ckpts)
        assert found is not None and is_complete(found), f"crash before operation {n}"
        state = json.loads((found / "trainer_state.json").read_text())
        assert f"checkpoint-{state['global_step']}" == found.name
        outcomes.add(found.name)
        if not crashed:
            break
    assert n > 10 and outcomes == {"checkpoint-1", "checkpoint-2"}
    assert sorted(p.name for p in ckpts.iterdir()) == ["checkpoint-2", "latest"]


def test_a_checkpoint_saved_before_markers_still_resumes_when_whole(tmp_path):
    ckpts = tmp_path / "checkpoints"
    legacy = fake_checkpoint(ckpts, 4, complete=False)
    write_latest(ckpts, "checkpoint-4", 4)
    assert latest_checkpoint(ckpts) == legacy
    (legacy / "scheduler.pt").unlink()  # half deleted: refused even then
    assert latest_checkpoint(ckpts) is None
