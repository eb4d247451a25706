"""Unwritable outputs and protected inputs: one line naming the path, exit 2, before any work.

Tests run as root in CI containers, and root ignores file modes, so the unwritable paths here lie
under a regular file (``afile/run``), which nobody can create.
"""

from __future__ import annotations

import json
import os

import pytest

from argen.data.outputs import check_inputs_untouched, check_writable_dir, check_writable_file
from argen.errors import ConfigError
from tests.conftest import run_cli


def one_line_error(result, prog: str) -> str:
    assert result.returncode == 2, (result.stdout[-1000:], result.stderr[-2000:])
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), lines
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def blocker(tmp_path):
    path = tmp_path / "afile"
    path.write_text("a regular file, not a directory\n")
    return path


def scored_input(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"prompt": "a headache", "response": "rest and drink water"}\n')
    return src


def test_unit_checks_name_the_path(tmp_path, blocker):
    check_writable_dir(tmp_path / "new" / "deeper", "output")  # creatable: fine, and nothing is created
    assert not (tmp_path / "new").exists()
    with pytest.raises(ConfigError, match=rf"config key 'output': {blocker}/run cannot be written: {blocker} is not a directory"):
        check_writable_dir(blocker / "run", "output")
    with pytest.raises(ConfigError, match="it exists and is not a directory"):
        check_writable_dir(blocker, "output")
    with pytest.raises(ConfigError, match="it is a directory"):
        check_writable_file(tmp_path, "output")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file modes")
def test_read_only_directory_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(ConfigError, match="not writable"):
            check_writable_file(ro / "out.jsonl", "output")
    finally:
        ro.chmod(0o755)


def test_score_output_that_cannot_be_written(tmp_path, blocker):
    src = scored_input(tmp_path)
    line = one_line_error(run_cli("argen.score", f"input={src}", f"output={blocker}/out.jsonl", "policy=none",
                                  cwd=tmp_path), "argen.score")
    assert f"{blocker}/out.jsonl cannot be written" in line


@pytest.mark.parametrize("case", ["summary over the input", "output over the input's summary", "same file via a link"])
def test_score_never_overwrites_its_input(tmp_path, case):
    rows = '{"prompt": "a headache", "response": "rest and drink water"}\n'
    if case == "summary over the input":
        src, out = tmp_path / "x.summary.json", tmp_path / "x.jsonl"
    elif case == "output over the input's summary":
        src, out = tmp_path / "x.jsonl", tmp_path / "x.summary.json"
        out.write_text('{"n": 1}\n')
    else:
        src, out = tmp_path / "in.jsonl", tmp_path / "link.jsonl"
    src.write_text(rows)
    if case == "same file via a link":
        out.symlink_to(src)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    line = one_line_error(run_cli("argen.score", f"input={src}", f"output={out}", "policy=none", cwd=tmp_path),
                          "argen.score")
    assert "config key 'output'" in line
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_train_run_dir_that_cannot_be_written(tmp_path, blocker):
    line = one_line_error(run_cli("argen.train", "experiment=smoke", f"hydra.run.dir={blocker}/run", cwd=tmp_path),
                          "argen.train")
    assert f"config key 'hydra.run.dir': {blocker}/run cannot be written: {blocker} is not a directory" in line


def test_train_sweep_dir_that_cannot_be_written(tmp_path, blocker):
    line = one_line_error(run_cli("argen.train", "-m", "experiment=smoke", f"hydra.sweep.dir={blocker}/sweep",
                                  cwd=tmp_path), "argen.train")
    assert f"{blocker}/sweep cannot be written" in line


def test_evaluate_run_dir_that_cannot_be_written(tmp_path, blocker):
    line = one_line_error(run_cli("argen.evaluate", "model=tiny", f"hydra.run.dir={blocker}/run", cwd=tmp_path),
                          "argen.evaluate")
    assert f"{blocker}/run cannot be written" in line


@pytest.mark.parametrize(("entry", "overrides", "name"), [
    ("argen.train", ["experiment=smoke"], "metrics.jsonl"),
    ("argen.evaluate", ["model=tiny"], "responses.jsonl"),
])
def test_a_run_dir_that_would_overwrite_its_scenarios_is_refused(tmp_path, entry, overrides, name):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    data = run_dir / name  # a file the run writes
    # Two scenarios: the fewest one smoke training step needs (one is refused for that, first).
    original = json.dumps({"prompt": "I have a headache"}) + "\n" + json.dumps({"prompt": "Is a cold serious?"}) + "\n"
    data.write_text(original)
    line = one_line_error(run_cli(entry, *overrides, f"data.path={data}", f"hydra.run.dir={run_dir}", cwd=tmp_path), entry)
    assert "config key 'hydra.run.dir'" in line and f"would overwrite data.path {data}" in line
    assert data.read_text() == original


def test_inputs_untouched_unit(tmp_path):
    model = tmp_path / "run" / "final_model"
    model.mkdir(parents=True)
    outputs = {"the run's final_model/": tmp_path / "run" / "final_model", "the run's summary.json": tmp_path / "run" / "summary.json"}
    with pytest.raises(ConfigError, match="would overwrite model.path"):
        check_inputs_untouched(outputs, {"model.path": model}, key="hydra.run.dir")
    with pytest.raises(ConfigError, match="would overwrite data.path"):
        check_inputs_untouched(outputs, {"data.path": model / "x.jsonl"}, key="hydra.run.dir")
    check_inputs_untouched(outputs, {"data.path": tmp_path / "run" / "mine.jsonl", "eval.path": None})
