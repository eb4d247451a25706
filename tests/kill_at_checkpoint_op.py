"""Run ``python -m argen.train`` and SIGKILL it just before a named change under ``checkpoints/``.

``python tests/kill_at_checkpoint_op.py OPERATION [argen.train arguments...]``

An audit hook (PEP 578) sees every file the process opens for writing, renames, deletes or
creates through Python (the Trainer's JSON files and directories, the checkpoint rotation,
ArGen's marker and pointer); writes done in C (torch.save, safetensors) fall between two of
them. Only paths under ``checkpoints/`` count, and only from the first save that has an older
checkpoint beside it (the save whose rotation the issue is about: the second save of a fresh run,
the first of a resumed one).

Each operation is named by what it does, not by its number, so that a change in the order or
the number of the Trainer's writes cannot move a kill somewhere else unnoticed:
``<event> <path under checkpoints/>``, where the checkpoint being saved is ``NEW``, any older
one ``OLD``, temporary names lose their process and thread ids (``.latest.tmp``), and the files
``shutil.rmtree`` removes one by one are shown inside the folder being deleted
(``.deleting-OLD/scheduler.pt``). Examples: ``open NEW/trainer_state.json``,
``os.rename NEW/.argen_complete.json.tmp``, ``os.rename .latest.tmp``, ``os.rename OLD``.

The first operation with that name is replaced by a real ``kill -9`` of the process, as a
preempted node would do it. An operation that never happens kills nothing: the run finishes and
its exit status says so. ``none`` kills nothing and prints the number of operations to stderr at
exit as ``checkpoint-ops: K``; ``ARGEN_TRACE_CHECKPOINT_OPS=1`` prints each operation, with its
name, as it happens (the last one printed before a kill is the one killed at).
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import runpy
import signal
import sys

from argen.reporting.console_output import console

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_EVENTS = {"open", "os.rename", "os.remove", "os.rmdir", "os.mkdir", "shutil.rmtree", "os.truncate"}
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")
_TEMP = re.compile(r"\.\d+\.\d+\.tmp$")


def _is_change(event: str, args: tuple) -> bool:
    if event != "open":
        return True
    mode, flags = (args[1], args[2]) if len(args) >= 3 else (None, 0)
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def operation_name(event: str, path: str, new_step: int | None) -> str:
    """``<event> <path under checkpoints/>`` with NEW / OLD for the checkpoints and no ids in temp names."""
    match = re.search(r"[/\\]checkpoints(?:[/\\](.*))?$", path)
    relative = (match.group(1) or "") if match else path
    relative = _CHECKPOINT.sub(lambda m: "NEW" if new_step is not None and int(m.group(1)) == new_step else "OLD", relative)
    relative = _TEMP.sub(".tmp", relative)
    return f"{event} {relative}".rstrip()


def main() -> None:
    target = sys.argv[1]
    trace = bool(os.environ.get("ARGEN_TRACE_CHECKPOINT_OPS"))
    count = 0
    deleting: str | None = None
    new_step: int | None = None

    def hook(event: str, args: tuple) -> None:
        nonlocal count, deleting, new_step
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
        match = re.search(r"[/\\]checkpoints[/\\]checkpoint-(\d+)$", path) if event == "os.mkdir" else None
        if match and (new_step is None or int(match.group(1)) > new_step):
            # The Trainer creates checkpoint-N: a save starts. Count from the first one that has
            # an older checkpoint beside it, i.e. one that rotates.
            step = int(match.group(1))
            older = [int(m.group(1)) for p in glob.glob(path[: match.start()] + "/checkpoints/checkpoint-*")
                     if (m := re.search(r"checkpoint-(\d+)$", p)) and int(m.group(1)) < step]
            if new_step is not None or older:
                new_step = step
        if new_step is None:
            return
        if event == "shutil.rmtree" and "checkpoints" in path:
            deleting = path
        elif not (relative and deleting) and ("checkpoints" not in path or not _is_change(event, args)):
            return
        shown = f"{deleting}/{path}" if relative and deleting else path
        if event == "os.rmdir" and path == deleting:
            deleting = None
        count += 1
        name = operation_name(event, shown, new_step)
        if trace:
            # the console, not fd 2: the quiet console sends fd 2 to train.log while the run trains
            print(f"checkpoint-op {count}: {name}", file=console(), flush=True)
        if name == target:
            os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(hook)
    if target == "none":
        atexit.register(lambda: print(f"checkpoint-ops: {count}", file=sys.stderr, flush=True))
    sys.argv = ["argen.train", *sys.argv[2:]]
    runpy.run_module("argen.train", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
