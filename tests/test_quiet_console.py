"""A quiet console: ArGen's lines on the terminal, the libraries' output in the run's log file
(argen.reporting.console_output), and ``logging.verbose=true`` to see everything."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_env

LIBRARY_NOISE = ("Loading weights", "Writing model shards", "FutureWarning", "warnings.warn(")

# Everything ArGen itself writes on a console: its per-step lines, its end lines and errors, its
# own progress bars (tqdm frames, redrawn with \r), its warnings from a worker ("[rank 0] ... argen.x WARNING").
ARGEN_LINE = re.compile(
    r"^(step \d+/\d+ \| .*"
    r"|argen(\.\w+)?: .*"
    r"|(eval (base|trained)|converting \S+ \(once\)): .*"
    r"|\[rank \d+\] \S+ \S+ argen(\.\w+)* (WARNING|ERROR): .*"
    r"|\$ .*argen\.worker --after-training.*)$"
)

PROBE = r"""
import logging, os, sys, warnings
from argen.reporting.console_output import console, library_output_to_log
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s %(levelname)s: %(message)s")
print("argen: before", flush=True)
with library_output_to_log(sys.argv[1], verbose=sys.argv[2] == "true"):
    warnings.warn("a library FutureWarning", FutureWarning)
    from tqdm.auto import tqdm
    for _ in tqdm(range(3), desc="Loading weights"):
        pass
    logging.getLogger("transformers.modeling_utils").warning("a library log record")
    os.write(2, b"a C-level library message\n")
    logging.getLogger("argen.training").info("an argen info record")
    logging.getLogger("argen.training").warning("an argen warning")
    print("step 1/2 | reward 0.500", flush=True)
    print("argen: an own stderr line", file=console(), flush=True)
print("argen: after", file=sys.stderr, flush=True)
"""


def _probe(tmp_path: Path, verbose: bool) -> tuple[str, str, str]:
    log = tmp_path / "train.log"
    done = subprocess.run([sys.executable, "-c", PROBE, str(log), "true" if verbose else "false"], cwd=REPO,
                          env=cli_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr, log.read_text() if log.exists() else ""


def test_library_output_goes_to_the_log_and_argens_lines_stay_on_the_console(tmp_path):
    out, err, log = _probe(tmp_path, verbose=False)
    console = out + err
    for own in ("argen: before", "step 1/2 | reward 0.500", "argen: an own stderr line", "argen: after",
                "argen.training WARNING: an argen warning"):
        assert own in console, own
    for noise in ("FutureWarning", "Loading weights", "a library log record", "C-level", "an argen info record"):
        assert noise not in console, noise
        assert noise in log, noise
    assert "argen: an own stderr line" not in log and "step 1/2" not in log


def test_verbose_shows_the_libraries_on_the_console(tmp_path):
    out, err, log = _probe(tmp_path, verbose=True)
    console = out + err
    for line in ("FutureWarning", "Loading weights", "a library log record", "C-level", "argen: an own stderr line"):
        assert line in console, line
    assert log == ""


def _console_lines(text: str) -> list[str]:
    return [piece.strip() for line in text.splitlines() for piece in line.split("\r") if piece.strip()]


def _run(module: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=cli_env(), capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_a_training_run_and_an_evaluation_print_only_argens_lines(tmp_path):
    """A real ``argen.train`` (LoRA, the end evaluation in its own process) and ``argen.evaluate``:
    every console line is one of ArGen's; the libraries' bars and warnings are in the log files."""
    run_dir = tmp_path / "run"
    done = _run("argen.train", "experiment=smoke", "model.lora=true", "eval.at_end=true", f"hydra.run.dir={run_dir}")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    lines = _console_lines(done.stdout + done.stderr)
    assert [line for line in lines if not ARGEN_LINE.match(line)] == []
    assert any(line.startswith("step 2/2") for line in lines) and any(line.startswith("argen: trained 2 steps") for line in lines)
    assert any(line.startswith("eval trained:") for line in lines)  # ArGen's own bar for the evaluation
    log = (run_dir / "train.log").read_text()
    for noise in LIBRARY_NOISE:
        assert noise not in done.stdout + done.stderr, noise
    for noise in ("Loading weights", "FutureWarning"):  # (a LoRA run writes no model shards)
        assert noise in log, noise

    eval_dir = tmp_path / "eval"
    done = _run("argen.evaluate", f"checkpoint={run_dir}", "data.limit=2", "max_new_tokens=8", f"hydra.run.dir={eval_dir}")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    lines = _console_lines(done.stdout + done.stderr)
    assert [line for line in lines if not ARGEN_LINE.match(line) and not line.startswith("eval ")] == []
    assert "Loading weights" in (eval_dir / "evaluate.log").read_text()

    # logging.verbose=true: the libraries' output on the console as well
    done = _run("argen.train", "experiment=smoke", "logging.verbose=true", f"hydra.run.dir={tmp_path / 'verbose'}")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert "Loading weights" in done.stdout + done.stderr and "FutureWarning" in done.stdout + done.stderr
