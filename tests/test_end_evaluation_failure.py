"""Issue 25 item 7: a failed end-of-training evaluation is not a success.

``argen.train`` exits 3 ("trained, evaluation failed") and prints a command that redoes the end
evaluation exactly (base and trained, the run's own settings) and updates the run's summary.json.
The judge is the real local chat-completions server, answering HTTP 500 for the evaluation's
scenarios (training judges other prompts) until the test repairs it.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest

from argen.data.scenarios import bundled_path, load_scenarios
from argen.errors import EXIT_EVALUATION_FAILED
from tests.chat_server import ChatServer, Reply
from tests.conftest import REPO, cli_env, run_cli


@pytest.mark.slow  # a 2-step run, two evaluations of the tiny model, then the redo: ~2 min on 2 cores
def test_a_failed_end_evaluation_exits_3_and_the_printed_command_redoes_it(tmp_path):
    run_dir = tmp_path / "run"
    eval_prompts = {s.prompt for s in load_scenarios(bundled_path("eval"), limit=4)}  # experiment=smoke: eval.limit=4
    broken = {"on": True}

    def respond(call):
        if broken["on"] and call.judged_prompt in eval_prompts:
            return Reply(status=500, error_message="judge overloaded")
        return None  # a good verdict

    with ChatServer() as server:
        server.responder = respond
        judge = ["judge=local", f"judge.base_url={server.url}", "judge.model=judge-test", "judge.max_retries=0",
                 f"judge.cache.path={tmp_path / 'cache.sqlite'}"]
        result = run_cli("argen.train", "experiment=smoke", "eval.at_end=true", f"hydra.run.dir={run_dir}", *judge,
                         env=cli_env(ARGEN_CACHE_DIR=str(REPO / ".cache" / "argen-tests")))
        assert result.returncode == EXIT_EVALUATION_FAILED, (result.stdout + result.stderr)[-3000:]
        line = result.stderr.strip().splitlines()[-1]
        command = f"python -m argen.evaluate end_of_training={run_dir}"
        assert line.startswith("argen.train: error: trained, but the end-of-training evaluation failed (") and \
            line.endswith(f"; redo it with: {command}"), line
        assert "judge overloaded" in line or "HTTP 500" in line
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "completed" and "error" in summary["evaluation"]
        assert summary["evaluation"]["headline"].endswith(f"redo it with: {command}")
        status = json.loads((run_dir / "status.json").read_text())
        assert status["status"] == "completed" and status["evaluation_error"] == summary["evaluation"]["error"]

        broken["on"] = False  # the judge is back
        argv = shlex.split(command)
        assert argv[:3] == ["python", "-m", "argen.evaluate"]
        redo = subprocess.run([sys.executable, *argv[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                              env=cli_env(ARGEN_CACHE_DIR=str(REPO / ".cache" / "argen-tests")))
    assert redo.returncode == 0, (redo.stdout + redo.stderr)[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    evaluation = summary["evaluation"]
    assert "error" not in evaluation and evaluation["scenarios"] == 4
    assert set(evaluation["base"]) >= {"combined", "ahimsa", "dharma", "helpfulness"} and evaluation["delta"]
    assert evaluation["headline"] in redo.stdout
    # The run's own settings, not evaluate's defaults (80 scenarios, 256 tokens): eval.max_new_tokens=8 of smoke.
    for label in ("base", "trained"):
        meta = json.loads((run_dir / "eval" / label / "eval_meta.json").read_text())
        assert meta["max_new_tokens"] == 8 and meta["temperature"] == summary_settings(run_dir)["temperature"]
        rows = (run_dir / "eval" / label / "responses.jsonl").read_text().splitlines()
        assert len(rows) == 4 and all(json.loads(r).get("combined") is not None for r in rows)
    assert (run_dir / "eval" / "compare.md").is_file()
    assert summary["steps"] == 2 and summary["final_model"]  # training's record is kept


def summary_settings(run_dir):
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(run_dir / "config.yaml")
    return {"temperature": float(cfg.eval.temperature)}


@pytest.mark.parametrize(("args", "message"), [
    (["end_of_training=NOWHERE"], "config key 'end_of_training': NOWHERE is not a training run dir (it does not exist)"),
    (["end_of_training=EMPTY"], "config key 'end_of_training': EMPTY/summary.json cannot be read"),
    (["end_of_training=EMPTY", "eval.limit=3"], "config key 'end_of_training': takes one run dir and nothing else"),
])
def test_the_redo_command_refuses_what_it_cannot_redo_in_one_line(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    paths = {"NOWHERE": str(tmp_path / "nowhere"), "EMPTY": str(tmp_path / "empty")}
    for name, path in paths.items():
        args = [a.replace(name, path) for a in args]
        message = message.replace(name, path)
    result = run_cli("argen.evaluate", *args)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [result.stderr.strip().splitlines()[-1]]
    assert result.stderr.strip().startswith(f"argen.evaluate: error: {message}"), result.stderr
