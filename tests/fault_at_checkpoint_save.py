"""Run ``python -m argen.train`` and break its file system when it starts saving ``checkpoint-STEP``.

``python tests/fault_at_checkpoint_save.py STEP FAULT [argen.train arguments...]``

An audit hook (PEP 578) sees the Trainer create ``checkpoints/checkpoint-STEP`` (``os.mkdir``);
there, FAULT happens to the real file system or to every later write:

- ``enospc``: the disk is full from that instant: that ``mkdir``, and every later attempt of
  this process to create, open for writing or rename a path under the run dir, fails with
  ``OSError(ENOSPC)``, as on a full disk (deletions still work, as they do there). Writes made
  in C (``torch.save``) are not seen by the hook; none happen after the refused ``mkdir``.
- ``file``: ``checkpoints/`` is moved to ``checkpoints.moved/`` and a file takes its place;
- ``immutable``: ``chattr +i checkpoints/`` (binds root too; needs a file system that has it).

For ``file`` and ``immutable`` the ``mkdir`` then runs against the changed file system and fails
as the kernel makes it fail. The test undoes the change and resumes.
"""

from __future__ import annotations

import errno
import os
import re
import runpy
import subprocess
import sys

from argen.reporting.console_output import console

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_WRITES = {"open", "os.mkdir", "os.rename", "os.truncate", "os.link", "os.symlink"}


def _writes(event: str, args: tuple) -> bool:
    if event != "open":
        return True
    mode, flags = (args[1], args[2]) if len(args) >= 3 else (None, 0)
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def main() -> None:
    step, fault = int(sys.argv[1]), sys.argv[2]
    assert fault in ("enospc", "file", "immutable"), fault
    target = re.compile(rf"^(.*)[/\\]checkpoints[/\\]checkpoint-{step}$")
    state = {"full": None, "busy": False, "done": False}

    def hook(event: str, args: tuple) -> None:
        if event not in _WRITES or not args or state["busy"] or (state["done"] and state["full"] is None):
            return
        path = args[0]
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        if isinstance(path, bytes):
            path = path.decode(errors="replace")
        if not isinstance(path, str):
            return
        path = os.path.abspath(path)
        full = state["full"]
        if full is not None:
            if path.startswith(full + os.sep) and _writes(event, args):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
            return
        match = target.match(path) if event == "os.mkdir" else None
        if match is None:
            return
        run_dir = match.group(1)
        checkpoints = os.path.join(run_dir, "checkpoints")
        print(f"fault-at-checkpoint-save: {fault} at {path}", file=console(), flush=True)  # fd 2 is train.log
        if fault == "enospc":
            state["full"] = run_dir
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        state["busy"] = True  # the hook's own file operations are not faults
        try:
            if fault == "file":
                os.rename(checkpoints, checkpoints + ".moved")
                with open(checkpoints, "w") as fh:
                    fh.write("a file where the checkpoints directory was\n")
            else:
                subprocess.run(["chattr", "+i", checkpoints], check=True)
        finally:
            state["busy"] = False
        state["done"] = True  # later operations pass untouched

    sys.addaudithook(hook)
    sys.argv = ["argen.train", *sys.argv[3:]]
    runpy.run_module("argen.train", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
