"""One writer per output: a lock that says who holds it.

Every output ArGen resumes into (a training run dir, an evaluation run dir, an ``argen.score``
output file) is written by one process at a time. Two writers would each skip what the other had
not written yet and append the same rows twice. The lock is a small file, ``RUN_DIR/.argen.lock``
or ``OUTPUT.lock`` beside an output file:

- **The kernel arbitrates.** The file is locked with ``flock`` (:func:`filelock.lock_descriptor`),
  which the kernel releases when the holder exits, even by SIGKILL. So a lock left by a dead
  process is simply taken by the next writer; no two processes can both take it over, and no
  guess about a pid decides anything.
- **It names its holder.** Once locked, the holder writes its pid, host, start time and command
  into the file. A second writer is refused with one line naming them (a
  :class:`~argen.errors.ConfigError` on the output's key: exit status 2).
- **Children keep it.** :func:`held_lock_fds` lists the locked descriptors, which the launcher
  passes to the processes it starts (training workers, the end evaluation): if the starting
  process dies, the lock stays held while they still write.
- Released (file removed, then unlocked) when the process ends or :meth:`OutputLock.release` is
  called. A writer that opened the file just before it was removed notices (the path no longer
  names the file it locked) and locks again.
"""

from __future__ import annotations

import atexit
import errno
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from argen.errors import ConfigError

#: The lock file inside a run dir.
DIR_LOCK_NAME = ".argen.lock"

_held: dict[str, OutputLock] = {}
log = logging.getLogger(__name__)
# flock failing for these reasons means the file system cannot lock (some network and FUSE mounts).
_NO_LOCKING = (errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK)


class OutputLocked(ConfigError):
    """Another process is writing the output: one line naming it (exit status 2)."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as the holder recorded it."""

    pid: int
    host: str
    started: str
    command: str

    def describe(self) -> str:
        """``pid 123 on host h (argen.score), started 2026-11-25 14:02:03``, noting a holder that
        has exited while a process it started still holds the lock."""
        text = f"pid {self.pid} on {self.host} ({self.command}), started {self.started}"
        if self.host == socket.gethostname() and not _pid_running(self.pid):
            text += "; that process has exited, but one it started (a training worker) still holds the lock"
        return text


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_file_for(target: Path, is_dir: bool) -> Path:
    """The lock file of an output: inside a run dir, or beside an output file."""
    target = Path(target)
    return target / DIR_LOCK_NAME if is_dir else target.with_name(target.name + ".lock")


class OutputLock:
    """A held lock on one output (see the module docstring)."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self.fd = fd
        self._pid = os.getpid()

    def release(self) -> None:
        """Remove the file, then unlock (idempotent; only in the process that took it)."""
        if self.fd < 0 or os.getpid() != self._pid:
            return
        try:
            self.path.unlink()
        except OSError:
            pass
        os.close(self.fd)  # closing the descriptor releases the flock
        self.fd = -1
        _held.pop(str(self.path), None)


def _read_holder(fd: int) -> Holder | None:
    try:
        raw = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return Holder(int(raw["pid"]), str(raw["host"]), str(raw["started"]), str(raw.get("command", "argen")))
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None  # being written at this instant, or not written yet


def acquire_output_lock(target: str | Path, *, is_dir: bool, key: str, prog: str, what: str = "output") -> OutputLock:
    """Lock ``target`` (a run dir when ``is_dir``, else an output file) for this process, or raise
    :class:`OutputLocked` naming the holder. Taking a lock this process already holds returns it.

    ``key``: the config key the refusal names (``output``, ``hydra.run.dir``); ``what``: the words
    for the output in the message's advice.
    """
    from filelock import lock_descriptor

    # One spelling per file (symlinks, "..", relative): this process must never lock it twice.
    path = Path(os.path.realpath(lock_file_for(Path(target), is_dir)))
    if str(path) in _held:
        return _held[str(path)]
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            locked = lock_descriptor(fd, blocking=False)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in _NO_LOCKING:
                raise
            path.unlink(missing_ok=True)
            log.warning("%s: this file system cannot lock files (%s); another writer of %s would not be noticed",
                        path.parent, exc.strerror, target)
            return OutputLock(path, -1)
        if not locked:
            holder = _read_holder(fd)
            os.close(fd)
            who = holder.describe() if holder else "a process that has not recorded itself yet"
            raise OutputLocked(key, f"{target} is being written by another ArGen process ({who}); "
                               f"wait for it to end, or choose another {what} (lock file {path})")
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file as we opened it: lock the new one
    record = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%d %H:%M:%S %z"), "command": prog}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(record).encode("utf-8"), 0)  # one JSON object, not a JSONL file
    lock = OutputLock(path, fd)
    _held[str(path)] = lock
    return lock


def held_lock_fds() -> tuple[int, ...]:
    """Descriptors of the locks this process holds: pass them to child processes that write the
    same outputs (``subprocess.Popen(..., pass_fds=held_lock_fds())``)."""
    return tuple(lock.fd for lock in _held.values() if lock.fd >= 0)


@atexit.register
def _release_all() -> None:
    for lock in list(_held.values()):
        lock.release()
