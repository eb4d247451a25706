"""One writer per output (argen/data/run_lock.py): real processes compete for real outputs.

- two ``argen.score`` processes on the same input and output: the second is refused, naming the
  first (pid, host, start time), and the output ends with exactly one row per input;
- a lock left by a process killed with SIGKILL is taken over, by exactly one of several
  processes that try at once;
- a run dir held by another process: ``argen.train`` (fresh or resumed) and ``argen.evaluate``
  are refused before Hydra writes anything into it.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from argen.data.run_lock import DIR_LOCK_NAME, lock_file_for
from tests.chat_server import ChatServer
from tests.conftest import REPO, cli_env, run_cli

# A process that takes a lock, says so on stdout, and holds it until its stdin closes.
HOLDER = """
import sys
from pathlib import Path
from argen.data.run_lock import acquire_output_lock, OutputLocked
try:
    acquire_output_lock(Path(sys.argv[1]), is_dir=sys.argv[2] == "dir", key="output", prog="holder")
except OutputLocked as exc:
    print("refused", exc, flush=True)
    sys.exit(3)
print("got", flush=True)
sys.stdin.read()
"""


def start_holder(target: Path, kind: str = "dir", **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", HOLDER, str(target), kind], cwd=REPO, env=cli_env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, **popen)


def held(proc: subprocess.Popen) -> subprocess.Popen:
    line = proc.stdout.readline()
    assert line.strip() == "got", line
    return proc


def write_rows(path: Path, n: int) -> Path:
    rows = [{"id": i, "prompt": f"I have had a mild headache for {i} days. What should I do?",
             "response": f"Rest, drink water and see a clinician if it lasts (answer {i}).", "tier": "C", "scope": "S0"}
            for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_a_second_scorer_on_the_same_output_is_refused_and_names_the_first(tmp_path):
    n = 6
    src, out = write_rows(tmp_path / "answers.jsonl", n), tmp_path / "scored.jsonl"
    gate = threading.Event()
    with ChatServer() as server:
        # The first writer's first batch (2 calls) waits here, so it is certainly mid-run when the
        # second starts. A third call can only come from a second writer that was let in: then
        # every call goes on, and both finish.
        def responder(call):
            if server.chat_count > 2:
                gate.set()
            gate.wait(300)

        server.responder = responder
        args = [f"input={src}", f"output={out}", "judge=local", f"judge.base_url={server.url}", "judge.model=judge-test",
                "judge.max_retries=0", "judge.cache.enabled=false", "batch_size=2", "progress=false"]
        first = subprocess.Popen([sys.executable, "-m", "argen.score", *args], cwd=tmp_path, env=cli_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            while server.chat_count < 2:
                assert first.poll() is None, first.communicate()[1][-2000:]
                gate.wait(0.1)
            second = run_cli("argen.score", *args, cwd=tmp_path, timeout=300)
        finally:
            gate.set()
        stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr[-2000:]
    assert second.returncode == 2, second.stderr[-2000:]
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("argen.score: error: config key 'output': ")
    assert f"pid {first.pid} on {socket.gethostname()} (argen.score), started 20" in lines[0]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["source_line"] for r in rows) == list(range(1, n + 1))  # exactly one row per input
    assert json.loads((tmp_path / "scored.summary.json").read_text())["n"] == n
    assert not lock_file_for(out, is_dir=False).exists()  # released when the first ended


def test_a_lock_left_by_a_killed_process_is_taken_over_by_exactly_one(tmp_path):
    run_dir = tmp_path / "run"
    dead = held(start_holder(run_dir))
    dead.send_signal(signal.SIGKILL)
    dead.wait()
    record = json.loads((run_dir / DIR_LOCK_NAME).read_text())
    assert record["pid"] == dead.pid  # the dead process's record is still there
    contenders = [start_holder(run_dir) for _ in range(4)]
    try:
        answers = [p.stdout.readline().split()[0] for p in contenders]
        assert sorted(answers) == ["got", "refused", "refused", "refused"], answers
        winner = contenders[answers.index("got")]
        assert json.loads((run_dir / DIR_LOCK_NAME).read_text())["pid"] == winner.pid
    finally:
        for p in contenders:
            p.stdin.close()
            p.wait()
    assert not (run_dir / DIR_LOCK_NAME).exists()


def test_children_keep_the_lock_after_the_process_that_took_it_dies(tmp_path):
    """The launcher passes the lock to the workers it starts: killing the Hydra process alone
    does not let a second writer in while they still write."""
    parent_code = HOLDER.replace('print("got", flush=True)', (
        "import subprocess\n"
        "from argen.data.run_lock import held_lock_fds\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import sys; sys.stdin.read()'], pass_fds=held_lock_fds())\n"
        "print('got', child.pid, flush=True)"))
    parent = subprocess.Popen([sys.executable, "-c", parent_code, str(tmp_path / "run"), "dir"], cwd=REPO, env=cli_env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline().split()[1])
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    try:
        late = start_holder(tmp_path / "run")
        line = late.stdout.readline()
        late.wait()
        assert line.startswith("refused") and f"pid {parent.pid} " in line and "has exited" in line, line
    finally:
        import os

        os.kill(child_pid, signal.SIGKILL)
    free = held(start_holder(tmp_path / "run"))  # free once the child is gone
    free.communicate("")
    assert free.returncode == 0


def test_train_and_evaluate_are_refused_from_a_run_dir_in_use(tmp_path):
    run_dir = tmp_path / "run"
    holder = held(start_holder(run_dir))
    try:
        for args in (["argen.train", "experiment=smoke", f"hydra.run.dir={run_dir}"],
                     ["argen.evaluate", "model=tiny", f"hydra.run.dir={run_dir}"]):
            result = run_cli(*args, cwd=tmp_path)
            assert result.returncode == 2, result.stderr[-2000:]
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and f"pid {holder.pid} on {socket.gethostname()} (holder)" in lines[0], lines
            assert lines[0].startswith(f"{args[0]}: error: config key 'hydra.run.dir': {run_dir} is being written")
            assert sorted(p.name for p in run_dir.iterdir()) == [DIR_LOCK_NAME]  # no .hydra/, no log
    finally:
        holder.communicate("")


def test_only_machine_0_of_a_multi_machine_run_locks_the_shared_run_dir(monkeypatch):
    """Every machine of a multi-machine run runs argen.train on one shared run dir: the others
    must not be refused by machine 0's lock."""
    from argen.command_line import on_first_machine

    monkeypatch.delenv("SLURM_NODEID", raising=False)
    assert on_first_machine([]) and on_first_machine(["hardware.machine_rank=0"])
    assert not on_first_machine(["hardware.machine_rank=1"])
    monkeypatch.setenv("SLURM_NODEID", "2")
    assert not on_first_machine([])
    monkeypatch.setenv("SLURM_NODEID", "0")
    assert on_first_machine([])
