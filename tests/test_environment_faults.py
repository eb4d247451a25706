"""Issue 25 item 6: environment faults end in one line naming the path and the cause, exit 74.

A full disk during a checkpoint save (the failure recorder used to fail too: an empty error.txt,
no status.json), ``ARGEN_CACHE_DIR`` pointing at a file, a HOME that cannot be written, the
checkpoints dir replaced by a file or made immutable. Real runs of ``experiment=smoke``; the
faults are real file-system states (a file in place of a directory, ``chattr +i``, which binds
root too, so these tests need not skip as root) except the full disk, which
``tests/fault_at_checkpoint_save.py`` injects as ``OSError(ENOSPC)`` on every write of the run
from the first byte of the save on. After each, the run resumes correctly once the fault is fixed.
"""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys

import pytest

from argen.errors import EXIT_ENVIRONMENT, EnvironmentFault, environment_fault
from argen.reporting.metrics import read_jsonl
from argen.training.checkpoints import is_complete
from tests.conftest import REPO, cli_env, run_cli


def _chattr(path, flag: str) -> bool:
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


@pytest.fixture
def immutable(tmp_path):
    """Make directories immutable (undone at the end); skips where the file system has no such flag."""
    made = []
    probe = tmp_path / "chattr-probe"
    probe.mkdir()
    if not _chattr(probe, "+i"):
        pytest.skip("chattr +i is not available on this file system")
    _chattr(probe, "-i")

    def make(path):
        assert _chattr(path, "+i")
        made.append(path)

    yield make
    for path in made:
        _chattr(path, "-i")


def _env_without_cache_dir(**extra: str) -> dict[str, str]:
    env = cli_env(**extra)
    if "ARGEN_CACHE_DIR" not in extra:
        env.pop("ARGEN_CACHE_DIR", None)
    return env


def _one_line(result, prefix: str = "argen.train") -> str:
    assert result.returncode == EXIT_ENVIRONMENT, (result.stdout + result.stderr)[-3000:]
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"{prefix}: error: "), line
    return line


# ------------------------------------------------------------------ before anything loads
def test_argen_cache_dir_pointing_at_a_file_is_named_before_anything_loads(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    result = run_cli("argen.train", "experiment=smoke", f"hydra.run.dir={tmp_path / 'run'}",
                     env=cli_env(ARGEN_CACHE_DIR=str(afile)))
    line = _one_line(result)
    assert line == (f"argen.train: error: ARGEN_CACHE_DIR={afile}: the cache dir cannot be written: {afile} is not a "
                    "directory; tiny is converted into it once. Point ARGEN_CACHE_DIR at a writable directory")
    assert json.loads((tmp_path / "run" / "status.json").read_text())["error_type"] == "EnvironmentFault"
    # argen.evaluate says the same for a model it must build
    result = run_cli("argen.evaluate", "model=tiny", "data.limit=1", f"hydra.run.dir={tmp_path / 'eval'}",
                     env=cli_env(ARGEN_CACHE_DIR=str(afile)))
    assert _one_line(result, "argen.evaluate").startswith(f"argen.evaluate: error: ARGEN_CACHE_DIR={afile}: the cache dir")


@pytest.mark.parametrize("how", ["a file", "immutable"])
def test_a_home_that_cannot_be_written_is_named(tmp_path, how, request):
    home = tmp_path / "home"
    if how == "a file":
        home.write_text("HOME is a file here")
        cause = f"{home} is not a directory"
    else:
        home.mkdir()
        request.getfixturevalue("immutable")(home)
        cause = f"{home} is not writable: Operation not permitted (EPERM) (an immutable directory, chattr +i?)"
    result = run_cli("argen.train", "experiment=smoke", f"hydra.run.dir={tmp_path / 'run'}",
                     env=_env_without_cache_dir(HOME=str(home)))
    assert _one_line(result) == (f"argen.train: error: the cache dir {home}/.cache/argen (under HOME={home}) cannot be "
                                 f"written: {cause}; tiny is converted into it once. Point ARGEN_CACHE_DIR at a "
                                 "writable directory")


def test_a_file_in_place_of_the_checkpoints_dir_is_named_before_anything_loads(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "checkpoints").write_text("a file where the checkpoints directory belongs")
    result = run_cli("argen.train", "experiment=smoke", f"hydra.run.dir={run_dir}", env=cli_env())
    assert _one_line(result) == (f"argen.train: error: {run_dir / 'checkpoints'} cannot be written: it exists and is not "
                                 "a directory; the run saves its checkpoints there (fix it, or choose another hydra.run.dir)")


def test_a_judge_cache_that_cannot_be_created_names_its_key(tmp_path):
    from argen.errors import ConfigError
    from argen.judges.openai_settings import build_settings

    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError) as err:
        build_settings(require_key=False, cache={"path": str(tmp_path / "afile" / "verdicts.sqlite")})
    assert str(err.value).startswith(f"config key 'judge.cache.path': {tmp_path}/afile/verdicts.sqlite cannot be "
                                     f"written: it exists and is not a directory")


# ------------------------------------------------------------------ the recorder itself
def test_the_failure_recorder_says_on_stderr_what_it_could_not_write(tmp_path, capsys):
    """Where status.json and error.txt cannot be written (here: the run dir's parent is a file),
    the recorder says so on stderr instead of failing with a traceback of its own."""
    from argen.train import _record_failure

    (tmp_path / "afile").write_text("x")
    run_dir = tmp_path / "afile" / "run"
    disk_full = OSError(errno.ENOSPC, "No space left on device", str(run_dir / "checkpoints"))
    fault = environment_fault(disk_full, run_dir)
    assert isinstance(fault, EnvironmentFault)
    _record_failure(run_dir, fault, 0.0, cause=disk_full)
    err = capsys.readouterr().err
    assert err.startswith(f"argen.train: the failure could not be recorded in {run_dir / 'error.txt'} (Not a directory) "
                          f"or {run_dir / 'status.json'} (Not a directory); it is only here")


def test_what_counts_as_an_environment_fault():
    nested = RuntimeError("while saving")
    nested.__cause__ = OSError(errno.EROFS, "Read-only file system", "/mnt/ro/checkpoints/checkpoint-4")
    assert str(environment_fault(nested)) == "/mnt/ro/checkpoints/checkpoint-4: Read-only file system (EROFS)"
    assert environment_fault(FileNotFoundError(errno.ENOENT, "No such file or directory", "/x")) is None
    assert environment_fault(ValueError("a bug")) is None
    # torch.save's own words for a failed write count only when the disk is really full
    assert environment_fault(RuntimeError("basic_ios::clear: iostream error"), REPO) is None


# ------------------------------------------------------------------ in the middle of a run
def _fault_run(run_dir, fault: str):
    return subprocess.run(
        [sys.executable, str(REPO / "tests" / "fault_at_checkpoint_save.py"), "2", fault, "experiment=smoke",
         "grpo.save_steps=1", f"hydra.run.dir={run_dir}"],
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # a 2-step run that fails at its second save, then its resume: ~1-2 min on 2 cores
@pytest.mark.parametrize("fault", ["enospc", "file", "immutable"])
def test_a_fault_during_a_checkpoint_save_is_one_line_and_the_run_resumes(tmp_path, fault, request):
    if fault == "immutable":
        request.getfixturevalue("immutable")  # skips where chattr +i is not available
    run_dir = tmp_path / "run"
    checkpoints = run_dir / "checkpoints"
    result = _fault_run(run_dir, fault)
    line = _one_line(result)
    cause = {"enospc": "No space left on device (ENOSPC)",
             "file": f"Not a directory (ENOTDIR): {checkpoints} is a file, not a directory",
             "immutable": "Operation not permitted (EPERM)"}[fault]
    assert line.startswith(f"argen.train: error: {checkpoints / 'checkpoint-2'}: {cause}"), line
    if fault == "enospc":
        # The disk stayed full: nothing could be recorded in the run dir, and stderr says so.
        assert (f"argen.train: the failure could not be recorded in {run_dir / 'error.txt'} (No space left on device) "
                f"or {run_dir / 'status.json'} (No space left on device)") in result.stderr
        assert not (run_dir / "error.txt").exists() and not (run_dir / "status.json").exists()
        assert line.endswith(f"continue from checkpoint-1 with: python -m argen.train resume={run_dir}")
    else:
        status = json.loads((run_dir / "status.json").read_text())
        assert status["status"] == "failed" and status["error"] == line.split("error: ", 1)[1]
        assert "Traceback" in (run_dir / "error.txt").read_text()  # the traceback, for the curious
    # Fix the machine, then resume: every step once, the run completes with its last checkpoint whole.
    if fault == "file":
        checkpoints.unlink()
        (run_dir / "checkpoints.moved").rename(checkpoints)
    elif fault == "immutable":
        assert _chattr(checkpoints, "-i")
    resumed = run_cli("argen.train", f"resume={run_dir}", env=cli_env())
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    assert [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl") if "reward" in r] == [1, 2]
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"
    assert is_complete(checkpoints / "checkpoint-2")


@pytest.mark.slow  # a 2-step run whose first save fills a 30 MB file system: ~1 min on 2 cores
def test_a_real_full_disk_during_the_first_save_is_one_line(tmp_path):
    """No injection: the run dir is a real 30 MB tmpfs (in a mount namespace of its own, so no root
    is needed where user namespaces are allowed); the tiny model's first checkpoint (~40 MB) fills
    it inside torch.save, which raises a RuntimeError with no errno."""
    run_dir = tmp_path / "small" / "run"
    run_dir.parent.mkdir()
    unshare = ["unshare", "--user", "--map-root-user", "--mount"]
    if shutil.which("unshare") is None or subprocess.run([*unshare, "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs",
                                                          str(run_dir.parent)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs in a mount namespace here")
    script = (f"mount -t tmpfs -o size=30m tmpfs {run_dir.parent} && exec {sys.executable} -m argen.train "
              f"experiment=smoke hydra.run.dir={run_dir}")
    result = subprocess.run([*unshare, "sh", "-c", script], cwd=REPO, env=cli_env(), capture_output=True, text=True,
                            timeout=600)
    line = _one_line(result)
    assert line.startswith(f"argen.train: error: {run_dir}: no space left on its file system ("), line
    assert (f"argen.train: the failure could not be recorded in {run_dir / 'error.txt'} (No space left on device)"
            in result.stderr)


def test_a_resume_into_an_immutable_checkpoints_dir_is_refused_and_keeps_the_record(tmp_path, immutable):
    from omegaconf import OmegaConf

    from argen.training.checkpoints import write_latest
    from tests.conftest import compose
    from tests.test_resume import fake_checkpoint  # a complete checkpoint's files, without training

    run_dir = tmp_path / "run"
    # Step 1 of the smoke run's 2: a finished run resumed writes nothing, so it would not be refused.
    fake_checkpoint(run_dir / "checkpoints", 1)
    write_latest(run_dir / "checkpoints", "checkpoint-1", 1)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(compose("train", ["experiment=smoke"]), resolve=True))
    (run_dir / "status.json").write_text('{"status": "interrupted", "wall_s": 5.0, "steps": 1}')
    immutable(run_dir / "checkpoints")
    result = run_cli("argen.train", f"resume={run_dir}", env=cli_env())
    assert _one_line(result) == (f"argen.train: error: {run_dir / 'checkpoints'} cannot be written: Operation not "
                                 "permitted (EPERM) (an immutable directory, chattr +i?); the run saves its checkpoints "
                                 "there (fix it, or choose another hydra.run.dir)")
    assert json.loads((run_dir / "status.json").read_text())["status"] == "interrupted"
