"""The checkpoint rules at the limits real configs use: rotation with save_total_limit 1 (smoke),
2 (the default run) and 3 (the paper recipe), what counts as complete, what may be resumed, and
how ``resume=`` is resolved. Real files in a temporary directory, the real callback."""

from __future__ import annotations

import json
import logging
import os
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from argen.errors import ConfigError
from argen.training.checkpoints import (
    MARKER,
    POINTER,
    LatestPointerCallback,
    checkpoint_step,
    checkpoints,
    is_complete,
    is_resumable,
    latest_checkpoint,
    mark_complete,
    remove_checkpoint,
    write_latest,
)
from argen.training.resume import check_same_config, config_differences, flatten, resolve_resume, resume_config
from tests.test_resume import CHECKPOINT_FILES, fake_checkpoint


class _State:
    """The two fields of TrainerState the callback reads."""

    def __init__(self, step: int, rank_zero: bool = True):
        self.global_step, self.is_world_process_zero = step, rank_zero


def _names(ckpts) -> list[str]:
    return sorted((p.name for p in ckpts.iterdir()), key=lambda n: (checkpoint_step(n) is None, checkpoint_step(n) or 0, n))


def _train(ckpts, limit, steps, first=1):
    """What the Trainer and the callback do over ``steps`` saves: write checkpoint-N, then on_save."""
    args = SimpleNamespace(save_total_limit=limit)
    callback = LatestPointerCallback(ckpts)
    callback.on_train_begin(args, _State(first - 1), None)
    for step in range(first, first + steps):
        fake_checkpoint(ckpts, step, complete=False)
        callback.on_save(args, _State(step), None)
    return args, callback


# ------------------------------------------------------------------------------------ rotation
@pytest.mark.parametrize("limit", [1, 2, 3])
def test_rotation_keeps_exactly_save_total_limit_checkpoints(tmp_path, limit):
    ckpts = tmp_path / "checkpoints"
    args, callback = _train(ckpts, limit, 6)
    assert args.save_total_limit is None and callback.keep == limit  # the Trainer's own rotation is off
    kept = [f"checkpoint-{s}" for s in range(7 - limit, 7)]
    assert _names(ckpts) == [*kept, POINTER]
    assert all(is_complete(ckpts / name) for name in kept)
    assert latest_checkpoint(ckpts) == ckpts / "checkpoint-6"
    assert json.loads((ckpts / POINTER).read_text()) == {"checkpoint": "checkpoint-6", "step": 6}
    assert json.loads((ckpts / "checkpoint-6" / MARKER).read_text())["step"] == 6
    assert not [p for p in ckpts.iterdir() if p.name.startswith(".")]  # no trash, no temporary files


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_rotation_keeps_every_checkpoint_until_the_limit_is_reached(tmp_path, limit):
    ckpts = tmp_path / "checkpoints"
    for saves in range(1, limit + 1):
        _train(ckpts, limit, 1, first=saves)
        assert _names(ckpts) == [*(f"checkpoint-{s}" for s in range(1, saves + 1)), POINTER]


@pytest.mark.parametrize("limit", [2, 3])
def test_an_incomplete_older_checkpoint_is_removed_and_does_not_count_as_kept(tmp_path, limit):
    """A save that was killed half-way (no marker) leaves a directory that rotation must clear
    away, and the complete checkpoints kept are the newest ones."""
    ckpts = tmp_path / "checkpoints"
    fake_checkpoint(ckpts, 1)
    fake_checkpoint(ckpts, 2, complete=False)  # killed while writing
    fake_checkpoint(ckpts, 3)
    _train(ckpts, limit, 1, first=4)
    kept = {2: ["checkpoint-3", "checkpoint-4"], 3: ["checkpoint-1", "checkpoint-3", "checkpoint-4"]}[limit]
    assert _names(ckpts) == [*kept, POINTER]


def test_without_a_limit_nothing_is_removed(tmp_path):
    ckpts = tmp_path / "checkpoints"
    args, callback = _train(ckpts, None, 4)
    assert callback.keep is None
    assert _names(ckpts) == [*(f"checkpoint-{s}" for s in range(1, 5)), POINTER]
    _train(ckpts, 0, 1, first=5)  # 0: the Trainer's "no limit" too
    assert len(checkpoints(ckpts)) == 5


def test_only_rank_zero_marks_points_and_rotates(tmp_path):
    ckpts = tmp_path / "checkpoints"
    args = SimpleNamespace(save_total_limit=1)
    callback = LatestPointerCallback(ckpts)
    callback.on_train_begin(args, _State(0, rank_zero=False), None)
    for step in (1, 2):
        fake_checkpoint(ckpts, step, complete=False)
        callback.on_save(args, _State(step, rank_zero=False), None)
    assert _names(ckpts) == ["checkpoint-1", "checkpoint-2"]
    assert not any((ckpts / f"checkpoint-{s}" / MARKER).exists() for s in (1, 2))


def test_a_save_whose_directory_is_missing_changes_nothing(tmp_path):
    ckpts = tmp_path / "checkpoints"
    _train(ckpts, 1, 2)
    LatestPointerCallback(ckpts).on_save(SimpleNamespace(save_total_limit=None), _State(3), None)
    assert _names(ckpts) == ["checkpoint-2", POINTER]
    assert latest_checkpoint(ckpts).name == "checkpoint-2"


def test_a_resumed_run_drops_the_future_and_points_back_before_removing_it(tmp_path):
    ckpts = tmp_path / "checkpoints"
    for step in (2, 4, 6):
        fake_checkpoint(ckpts, step)
    write_latest(ckpts, "checkpoint-6", 6)
    LatestPointerCallback(ckpts).on_train_begin(SimpleNamespace(save_total_limit=2), _State(4), None)
    assert _names(ckpts) == ["checkpoint-2", "checkpoint-4", POINTER]
    assert json.loads((ckpts / POINTER).read_text()) == {"checkpoint": "checkpoint-4", "step": 4}


def test_a_run_resumed_at_step_one_drops_what_came_after(tmp_path, caplog):
    ckpts = tmp_path / "checkpoints"
    fake_checkpoint(ckpts, 1)
    fake_checkpoint(ckpts, 2)
    write_latest(ckpts, "checkpoint-2", 2)
    with caplog.at_level(logging.INFO, logger="argen.training.checkpoints"):
        LatestPointerCallback(ckpts).on_train_begin(SimpleNamespace(save_total_limit=None), _State(1), None)
    assert _names(ckpts) == ["checkpoint-1", POINTER]
    assert [r.getMessage() for r in caplog.records] == [f"removing {ckpts / 'checkpoint-2'} (past the resumed step 1)"]


def test_a_fresh_run_removes_nothing_and_arguments_without_a_limit_keep_everything(tmp_path):
    ckpts = tmp_path / "checkpoints"
    fake_checkpoint(ckpts, 3)  # left by an earlier run in the same dir: a fresh start (step 0) keeps it
    callback = LatestPointerCallback(ckpts)
    callback.on_train_begin(SimpleNamespace(), _State(0), None)
    assert callback.keep is None and _names(ckpts) == ["checkpoint-3"]


def test_a_resume_at_the_newest_step_removes_nothing(tmp_path):
    ckpts = tmp_path / "checkpoints"
    fake_checkpoint(ckpts, 2)
    fake_checkpoint(ckpts, 4)
    write_latest(ckpts, "checkpoint-4", 4)
    before = (ckpts / POINTER).stat().st_mtime_ns
    LatestPointerCallback(ckpts).on_train_begin(SimpleNamespace(save_total_limit=2), _State(4), None)
    assert _names(ckpts) == ["checkpoint-2", "checkpoint-4", POINTER]
    assert (ckpts / POINTER).stat().st_mtime_ns == before  # the pointer was not rewritten


def test_dropping_the_future_leaves_the_pointer_alone_when_the_resumed_checkpoint_is_gone(tmp_path):
    ckpts = tmp_path / "checkpoints"
    fake_checkpoint(ckpts, 2)
    fake_checkpoint(ckpts, 6)
    write_latest(ckpts, "checkpoint-6", 6)
    LatestPointerCallback(ckpts).on_train_begin(SimpleNamespace(save_total_limit=None), _State(4), None)
    # checkpoint-4 does not exist: the pointer is not moved onto it; checkpoint-6 goes.
    assert json.loads((ckpts / POINTER).read_text())["checkpoint"] == "checkpoint-6"
    assert _names(ckpts) == ["checkpoint-2", POINTER]
    assert latest_checkpoint(ckpts).name == "checkpoint-2"


# ------------------------------------------------------------------------------------ complete
def test_a_marker_is_complete_only_with_trainer_state_listed_and_present(tmp_path):
    ckpts = tmp_path / "checkpoints"
    no_state = ckpts / "checkpoint-3"
    no_state.mkdir(parents=True)
    for name in CHECKPOINT_FILES:
        if name != "trainer_state.json":
            (no_state / name).write_text(name)
    mark_complete(no_state, 3)  # every file the directory has, but no trainer state
    assert "trainer_state.json" not in json.loads((no_state / MARKER).read_text())["files"]
    assert not is_complete(no_state) and not is_resumable(no_state)
    assert latest_checkpoint(ckpts) is None
    whole = fake_checkpoint(ckpts, 5)
    (whole / "trainer_state.json").unlink()  # listed in the marker, gone from the directory
    assert not is_complete(whole)


def test_the_marker_lists_every_file_with_its_size_and_not_itself(tmp_path):
    path = fake_checkpoint(tmp_path / "checkpoints", 7, complete=False)
    (path / "sub").mkdir()
    (path / "sub" / "shard.bin").write_bytes(b"x" * 11)
    (path / f".{MARKER}.123.456.tmp").write_text("a temporary marker left by a kill")
    mark_complete(path, 7)
    marker = json.loads((path / MARKER).read_text())
    assert marker["step"] == 7
    expected = {name: (path / name).stat().st_size for name in CHECKPOINT_FILES}
    assert marker["files"] == {**expected, os.path.join("sub", "shard.bin"): 11}
    mark_complete(path, 7)  # marking again does not list the marker itself
    assert MARKER not in json.loads((path / MARKER).read_text())["files"]
    assert is_complete(path)


@pytest.mark.parametrize("marker", ["", "not json", "[]", '{"files": 3}', '{"step": 1}', '{"files": {"trainer_state.json": "big"}}',
                                    '{"files": ["trainer_state.json"]}', '{"files": "trainer_state.json"}'])
def test_a_damaged_marker_is_not_complete(tmp_path, marker):
    path = fake_checkpoint(tmp_path / "checkpoints", 1)
    (path / MARKER).write_text(marker)
    assert not is_complete(path)


def test_a_file_grown_after_marking_makes_the_checkpoint_incomplete(tmp_path):
    path = fake_checkpoint(tmp_path / "checkpoints", 2)
    with open(path / "optimizer.pt", "a") as fh:
        fh.write("more")
    assert not is_complete(path)


# ------------------------------------------------------------------------------------ resumable
def test_an_unmarked_checkpoint_beside_marked_ones_is_not_resumable(tmp_path):
    """Markers exist, so this ArGen writes them: an unmarked checkpoint is a save that was cut
    short, even when every file a resume reads is present."""
    ckpts = tmp_path / "checkpoints"
    fake_checkpoint(ckpts, 4)
    unmarked = fake_checkpoint(ckpts, 6, complete=False)
    write_latest(ckpts, "checkpoint-6", 6)  # even the pointer names it
    assert not is_resumable(unmarked)
    assert latest_checkpoint(ckpts).name == "checkpoint-4"
    with pytest.raises(ConfigError, match="checkpoint-6 is not a complete checkpoint"):
        resolve_resume(str(unmarked), tmp_path)


@pytest.mark.parametrize("missing", ["trainer_state.json", "optimizer.pt", "scheduler.pt", "model.safetensors"])
def test_a_checkpoint_from_before_markers_needs_every_file_a_resume_reads(tmp_path, missing):
    ckpts = tmp_path / "checkpoints"
    legacy = fake_checkpoint(ckpts, 4, complete=False)
    assert is_resumable(legacy)
    (legacy / missing).unlink()
    assert not is_resumable(legacy)


@pytest.mark.parametrize("weights", ["adapter_model.safetensors", "pytorch_model.bin", "model.safetensors.index.json"])
def test_a_checkpoint_from_before_markers_may_hold_its_weights_in_any_form(tmp_path, weights):
    legacy = fake_checkpoint(tmp_path / "checkpoints", 4, complete=False)
    (legacy / "model.safetensors").rename(legacy / weights)
    assert is_resumable(legacy)


def test_a_checkpoint_from_before_markers_is_resumed_with_a_warning(tmp_path, caplog):
    ckpts = tmp_path / "checkpoints"
    legacy = fake_checkpoint(ckpts, 4, complete=False)
    write_latest(ckpts, "checkpoint-4", 4)
    with caplog.at_level(logging.WARNING, logger="argen.training.checkpoints"):
        assert latest_checkpoint(ckpts) == legacy
    assert [r.getMessage() for r in caplog.records] == [
        f"{legacy} has no completeness marker (saved by an older ArGen); its files are all there"]


def test_a_missing_directory_is_neither_complete_nor_resumable(tmp_path):
    assert not is_complete(tmp_path / "checkpoint-1") and not is_resumable(tmp_path / "checkpoint-1")
    assert checkpoints(tmp_path / "nowhere") == [] and latest_checkpoint(tmp_path / "nowhere") is None


# ------------------------------------------------------------------------------------ finding the latest
def test_checkpoints_are_ordered_by_step_not_by_name(tmp_path):
    ckpts = tmp_path / "checkpoints"
    for step in (10, 9, 100):
        fake_checkpoint(ckpts, step)
    (ckpts / "checkpoint-x").mkdir()
    (ckpts / "checkpoint-11.tmp").mkdir()
    (ckpts / "checkpoint-12").write_text("a file, not a checkpoint")
    assert [p.name for p in checkpoints(ckpts)] == ["checkpoint-9", "checkpoint-10", "checkpoint-100"]
    assert latest_checkpoint(ckpts).name == "checkpoint-100"  # no pointer: the newest complete one


def test_checkpoint_step_reads_only_whole_checkpoint_names():
    assert [checkpoint_step(n) for n in ("checkpoint-12", "a/checkpoint-3", "checkpoint-", "xcheckpoint-1", "checkpoint-1x")] == [
        12, 3, None, None, None]


def test_a_pointer_to_an_incomplete_checkpoint_falls_back_with_a_warning(tmp_path, caplog):
    ckpts = tmp_path / "checkpoints"
    fake_checkpoint(ckpts, 2)
    fake_checkpoint(ckpts, 4)
    fake_checkpoint(ckpts, 6, complete=False)
    write_latest(ckpts, "checkpoint-6", 6)
    with caplog.at_level(logging.WARNING, logger="argen.training.checkpoints"):
        assert latest_checkpoint(ckpts).name == "checkpoint-4"
    assert [r.getMessage() for r in caplog.records] == [
        f"{ckpts / POINTER} names checkpoint-6, which is not complete; using checkpoint-4"]


def test_the_pointer_wins_over_a_newer_complete_checkpoint(tmp_path):
    """After a resume from an older step, ``latest`` names the step the run continues from."""
    ckpts = tmp_path / "checkpoints"
    fake_checkpoint(ckpts, 2)
    fake_checkpoint(ckpts, 4)
    write_latest(ckpts, "checkpoint-2", 2)
    assert latest_checkpoint(ckpts).name == "checkpoint-2"


@pytest.mark.parametrize("pointer", ['{"checkpoint": 7}', '{"step": 2}', "[1]", "null"])
def test_a_pointer_that_names_nothing_usable_falls_back_to_the_newest_complete(tmp_path, pointer):
    ckpts = tmp_path / "checkpoints"
    fake_checkpoint(ckpts, 2)
    (ckpts / POINTER).write_text(pointer)
    assert latest_checkpoint(ckpts).name == "checkpoint-2"


def test_write_latest_creates_the_folder_and_replaces_the_pointer_whole(tmp_path):
    ckpts = tmp_path / "new" / "checkpoints"
    write_latest(ckpts, "checkpoint-1", 1)
    write_latest(ckpts, "checkpoint-2", 2)
    assert json.loads((ckpts / POINTER).read_text()) == {"checkpoint": "checkpoint-2", "step": 2}
    assert [p.name for p in ckpts.iterdir()] == [POINTER]


def test_remove_checkpoint_takes_the_marker_first_and_clears_old_trash(tmp_path):
    ckpts = tmp_path / "checkpoints"
    path = fake_checkpoint(ckpts, 3)
    trash = ckpts / ".deleting-checkpoint-3"
    trash.mkdir()
    (trash / "left-over").write_text("from a kill mid-delete")
    remove_checkpoint(path)
    assert list(ckpts.iterdir()) == []
    unmarked = fake_checkpoint(ckpts, 4, complete=False)
    remove_checkpoint(unmarked)  # no marker to take away: still removed
    assert list(ckpts.iterdir()) == []


# ------------------------------------------------------------------------------------ resume=
@pytest.mark.parametrize("value", [False, None, "false", "False", ""])
def test_resume_off_resolves_to_nothing(tmp_path, value):
    assert resolve_resume(value, tmp_path) is None


@pytest.mark.parametrize("value", [True, "true", "True"])
def test_resume_true_continues_the_current_run_dir(tmp_path, value):
    fake_checkpoint(tmp_path / "checkpoints", 2)
    assert resolve_resume(value, tmp_path) == (tmp_path, tmp_path / "checkpoints" / "checkpoint-2")


def test_resume_from_a_named_checkpoint_uses_that_one(tmp_path):
    run = tmp_path / "run"
    older = fake_checkpoint(run / "checkpoints", 2)
    fake_checkpoint(run / "checkpoints", 4)
    assert resolve_resume(str(older), tmp_path) == (run, older)


def test_resume_expands_the_home_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    fake_checkpoint(tmp_path / "run" / "checkpoints", 1)
    assert resolve_resume("~/run", tmp_path)[0] == tmp_path / "run"


def test_a_checkpoint_dir_outside_a_checkpoints_folder_is_a_run_dir(tmp_path):
    odd = tmp_path / "checkpoint-5"
    fake_checkpoint(odd / "checkpoints", 1)
    assert resolve_resume(str(odd), tmp_path) == (odd, odd / "checkpoints" / "checkpoint-1")


def test_config_differences_name_keys_on_either_side_and_ignore_resume_keys():
    saved = {"grpo": {"beta": 0.0, "max_steps": 10}, "resume": False, "gone": 1}
    current = {"grpo": {"beta": 0.0, "max_steps": 10, "new": True}, "resume": "/x", "resume_allow_changes": True}
    assert config_differences(saved, current) == ["gone: 1 -> '<absent>'", "grpo.new: '<absent>' -> True"]
    assert config_differences(saved, saved) == []
    assert flatten({"a": {"b": {"c": 1}}, "d": 2}) == {"a.b.c": 1, "d": 2}


def _saved_run(tmp_path):
    run = tmp_path / "run"
    fake_checkpoint(run / "checkpoints", 2)
    (run / "config.yaml").write_text(OmegaConf.to_yaml({"grpo": {"max_steps": 10, "beta": 0.0}, "seed": 3, "resume": False}))
    return run


def test_resume_config_is_the_saved_config_plus_key_overrides(tmp_path, monkeypatch):
    run = _saved_run(tmp_path)
    monkeypatch.chdir(tmp_path)
    cfg = OmegaConf.create({"resume": str(run), "resume_allow_changes": True, "grpo": {"max_steps": 99}})
    resumed = resume_config(cfg, [f"resume={run}", "grpo.max_steps=20", "+grpo.extra=1", "hydra.run.dir=x",
                                  "resume_allow_changes=true"])
    assert OmegaConf.to_container(resumed) == {"grpo": {"max_steps": 20, "beta": 0.0, "extra": 1}, "seed": 3,
                                               "resume": str(run), "resume_allow_changes": True}


@pytest.mark.parametrize("value", [False, None, True, "false", "False", "true", "True", ""])
def test_resume_config_leaves_a_fresh_or_current_run_alone(value):
    cfg = OmegaConf.create({"resume": value, "grpo": {"max_steps": 5}})
    assert resume_config(cfg, ["grpo.max_steps=5"]) is cfg


def test_resume_config_refuses_a_group_override(tmp_path):
    run = _saved_run(tmp_path)
    cfg = OmegaConf.create({"resume": str(run)})
    with pytest.raises(ConfigError) as err:
        resume_config(cfg, [f"resume={run}", "model=tiny"])
    assert str(err.value) == "config key 'model': config groups cannot change when resuming; override single keys instead"


def test_resume_config_does_not_allow_changes_unless_asked(tmp_path, monkeypatch):
    run = _saved_run(tmp_path)
    monkeypatch.chdir(tmp_path)
    resumed = resume_config(OmegaConf.create({"resume": str(run)}), [f"resume={run}", "grpo.max_steps=20"])
    assert resumed.resume_allow_changes is False and resumed.grpo.max_steps == 20
    with pytest.raises(ConfigError, match=r"grpo.max_steps: 10 -> 20"):
        check_same_config(run, OmegaConf.to_container(resumed), allow_changes=resumed.resume_allow_changes)


def test_resume_config_without_a_resume_key_is_the_config_itself():
    cfg = OmegaConf.create({"grpo": {"max_steps": 5}})
    assert resume_config(cfg, []) is cfg


# ------------------------------------------------------------------------------------ resume= errors, exactly
def test_every_refused_resume_names_the_resume_key_and_says_why(tmp_path):
    run = tmp_path / "run"
    half = fake_checkpoint(run / "checkpoints", 4, complete=False)
    (half / "optimizer.pt").unlink()
    cases = [
        (str(tmp_path / "nope"), f"{tmp_path / 'nope'} does not exist"),
        (str(half), f"{half} is not a complete checkpoint (its save was interrupted); resume={run} picks the newest complete one"),
        (str(run), f"no completed checkpoint under {run / 'checkpoints'} (nothing to resume)"),
    ]
    for value, message in cases:
        with pytest.raises(ConfigError) as err:
            resolve_resume(value, tmp_path)
        assert err.value.key == "resume" and str(err.value) == f"config key 'resume': {message}"
    with pytest.raises(ConfigError) as err:
        check_same_config(tmp_path, {}, allow_changes=True)
    assert str(err.value) == f"config key 'resume': {tmp_path} has no config.yaml: not an ArGen run dir"


@pytest.mark.parametrize("changed,suffix", [(1, ""), (20, ""), (21, "; ... 1 more")])
def test_the_refusal_lists_up_to_twenty_differences(tmp_path, changed, suffix):
    saved = {f"k{i:02d}": i for i in range(25)}
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(saved))
    current = {k: v + (1 if i < changed else 0) for i, (k, v) in enumerate(saved.items())}
    with pytest.raises(ConfigError) as err:
        check_same_config(tmp_path, current, allow_changes=False)
    listing = "; ".join(f"k{i:02d}: {i} -> {i + 1}" for i in range(min(changed, 20))) + suffix
    assert str(err.value) == (f"config key 'resume': the config differs from the run being resumed ({listing}); "
                              "pass resume_allow_changes=true to resume anyway")


def test_the_saved_config_is_compared_with_its_interpolations_resolved(tmp_path):
    (tmp_path / "config.yaml").write_text("a: 2\nb: ${a}\n")
    assert check_same_config(tmp_path, {"a": 2, "b": 2}, allow_changes=False) == []


def test_a_key_set_to_null_differs_from_a_missing_key():
    assert config_differences({"x": None}, {}) == ["x: None -> '<absent>'"]
    assert config_differences({}, {"x": None}) == ["x: '<absent>' -> None"]


def test_every_key_under_resume_is_ignored():
    assert config_differences({"resume": {"from": "a"}}, {"resume": {"from": "b"}, "resume_allow_changes": True}) == []
