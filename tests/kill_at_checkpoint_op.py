"""Run ``python -m argen.train`` and SIGKILL it just before its N-th change under ``checkpoints/``.

``python tests/kill_at_checkpoint_op.py N [argen.train arguments...]``

An audit hook (PEP 578) sees every file the process opens for writing, renames, deletes or
creates through Python (the Trainer's JSON files and directories, the checkpoint rotation,
ArGen's marker and pointer); writes done in C (torch.save, safetensors) fall between two of
them. Counting only paths under ``checkpoints/``, and only from the first save that has an older
checkpoint beside it (the save whose rotation the issue is about: the second save of a fresh run,
the first of a resumed one), the N-th such operation is replaced by a real ``kill -9`` of the
process, as a preempted node would do it. With N = 0 nothing is killed and the
number of operations is printed to stderr at exit as ``checkpoint-ops: K``;
``ARGEN_TRACE_CHECKPOINT_OPS=1`` prints each operation as it happens.
"""

from __future__ import annotations

import atexit
import glob
import os
import re
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
    trace = bool(os.environ.get("ARGEN_TRACE_CHECKPOINT_OPS"))
    count = 0
    deleting: str | None = None
    started = False

    def hook(event: str, args: tuple) -> None:
        nonlocal count, deleting, started
        if event not in _EVENTS or not args:
            return
        path = args[0]
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        if isinstance(path, bytes):
            path = path.decode(errors="replace")
        if not isinstance(path, str):
            return
        # shutil.rmtree removes the files of a tree relative to a directory fd: bare names.
        relative = event in ("os.remove", "os.rmdir") and len(args) > 1 and args[1] not in (None, -1)
        if not started:
            # Count from the start of the first save (the Trainer creates checkpoint-N) that has an
            # older checkpoint beside it, i.e. one that rotates.
            match = re.search(r"[/\\]checkpoints[/\\]checkpoint-(\d+)$", path)
            if event != "os.mkdir" or not match or not any(int(m.group(1)) < int(match.group(1)) for p in
                                    glob.glob(path[: match.start()] + "/checkpoints/checkpoint-*")
                                    if (m := re.search(r"checkpoint-(\d+)$", p))):
                return
            started = True
        if event == "shutil.rmtree" and "checkpoints" in path:
            deleting = path
        elif not (relative and deleting) and ("checkpoints" not in path or not _is_change(event, args)):
            return
        if event == "os.rmdir" and path == deleting:
            deleting = None
        count += 1
        if trace:
            print(f"checkpoint-op {count}: {event} {path}", file=sys.stderr, flush=True)
        if count == target:
            os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(hook)
    if target == 0:
        atexit.register(lambda: print(f"checkpoint-ops: {count}", file=sys.stderr, flush=True))
    sys.argv = ["argen.train", *sys.argv[2:]]
    runpy.run_module("argen.train", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
