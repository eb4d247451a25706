"""Run ``python -m argen.train`` and SIGKILL it just before its N-th change under ``checkpoints/``.

``python tests/kill_at_checkpoint_op.py N [argen.train arguments...]``

An audit hook (PEP 578) sees every file the process opens for writing, renames, deletes or
creates through Python (the Trainer's JSON files and directories, the checkpoint rotation,
ArGen's marker and pointer); writes done in C (torch.save, safetensors) fall between two of
them. Counting only paths under ``checkpoints/``, the N-th such operation is replaced by a real
``kill -9`` of the process, as a preempted node would do it. With N = 0 nothing is killed and the
number of operations is printed to stderr at exit as ``checkpoint-ops: K``.
"""

from __future__ import annotations

import atexit
import os
import runpy
import signal
import sys

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_EVENTS = {"open", "os.rename", "os.remove", "os.rmdir", "os.mkdir", "shutil.rmtree", "os.truncate"}


def _is_change(event: str, args: tuple) -> bool:
    if event != "open":
        return True
    mode, flags = (args[1], args[2]) if len(args) >= 3 else (None, 0)
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def main() -> None:
    target = int(sys.argv[1])
    count = 0

    def hook(event: str, args: tuple) -> None:
        nonlocal count
        if event not in _EVENTS or not args:
            return
        path = args[0]
        if isinstance(path, bytes):
            path = path.decode(errors="replace")
        if not isinstance(path, str) or "checkpoints" not in path or not _is_change(event, args):
            return
        count += 1
        if count == target:
            os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(hook)
    if target == 0:
        atexit.register(lambda: print(f"checkpoint-ops: {count}", file=sys.stderr, flush=True))
    sys.argv = ["argen.train", *sys.argv[2:]]
    runpy.run_module("argen.train", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
