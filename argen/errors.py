"""User-facing errors: each is reported as one clear line, without a traceback.

Anything a user can fix (a config key, a scenario file, a judge's settings) raises a subclass of
:class:`ArgenError`. Entry points wrap their work in :func:`user_errors`, which prints the
message and exits with the error's status: 2, or :data:`EXIT_ENVIRONMENT` (74) for a fault of
the machine (:class:`EnvironmentFault`: a full disk, a path that cannot be written).
Programming errors keep their tracebacks.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

#: Exit status of ``argen.train`` when training completed (its model is saved) but the
#: end-of-training evaluation failed; the line before it gives the command that redoes it.
EXIT_EVALUATION_FAILED = 3
#: Exit status of a run stopped by its environment (sysexits' EX_IOERR): a full disk, a cache or
#: checkpoint dir that cannot be written. Fix the machine, then resume.
EXIT_ENVIRONMENT = 74


class ArgenError(Exception):
    """An error the user can fix; its message says what and where."""

    exit_code = 2


class ConfigError(ArgenError):
    """An impossible or inconsistent configuration, naming the offending key."""

    def __init__(self, key: str, message: str):
        self.key = key
        self.detail = message
        super().__init__(f"config key '{key}': {message}")

    def within(self, key: str, inner_prefix: str, note: str) -> "ConfigError":
        """This error re-keyed under ``key`` (``judge.batch_size`` of an audit judge becomes
        ``eval.audit_judge_overrides.batch_size``), so the line names one key, never two."""
        if self.key.startswith(inner_prefix + "."):
            return ConfigError(f"{key}.{self.key[len(inner_prefix) + 1:]}", f"{self.detail} ({note})")
        return ConfigError(key, f"{note}: {self.detail}")


class DataError(ArgenError):
    """A malformed scenario or response file, naming the file and (when known) the line."""

    def __init__(self, path: str, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


class JudgeError(ArgenError):
    """A judge that cannot work as configured (missing key, unreachable server, too many failures)."""


class EnvironmentFault(ArgenError):
    """The machine, not the input: a full disk, a directory that cannot be written, a file where a
    directory belongs. The message names the path and the cause; the exit status is 74."""

    exit_code = EXIT_ENVIRONMENT


# errno values that say "the file system refused", not "the program is wrong".
_FAULT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR,
                 errno.EIO, errno.EFBIG, errno.EEXIST}
# What C and Rust writers (torch.save, safetensors) say when a write fails: they raise no OSError.
_WRITE_FAILURES = ("iostream error", "unexpected pos", "file write failed", "no space left", "os error 28",
                   "storagefull", "disk quota")


def free_bytes(path: str | Path) -> int | None:
    """Bytes this process may still write on the file system holding ``path`` (root may use the reserve)."""
    probe = Path(path)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        st = os.statvfs(probe)
    except OSError:
        return None
    return (st.f_bfree if os.geteuid() == 0 else st.f_bavail) * st.f_frsize


def _not_a_directory(path: object) -> str:
    """Which part of ``path`` is a file where a directory belongs ("" when none is found)."""
    if not isinstance(path, (str, os.PathLike)):
        return ""
    for parent in reversed(Path(path).parents):
        if parent.exists() and not parent.is_dir():
            return f": {parent} is a file, not a directory"
    return ""


def environment_fault(exc: BaseException, where: str | Path | None = None) -> EnvironmentFault | None:
    """The :class:`EnvironmentFault` behind ``exc``, or None when it is not one.

    An ``OSError`` of the file system (no space, read-only, not permitted, not a directory, ...)
    anywhere in the exception's chain names its path and cause. A write failure from a C or Rust
    writer (``torch.save``, safetensors), which carries no errno, counts when the file system
    holding ``where`` (the run dir) has less than 1 MiB left.
    """
    seen: set[int] = set()
    chain: BaseException | None = exc
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        if isinstance(chain, OSError) and chain.errno in _FAULT_ERRNOS:
            path = chain.filename if chain.filename is not None else where
            name = errno.errorcode.get(chain.errno, str(chain.errno))
            target = f" -> {chain.filename2}" if chain.filename2 is not None else ""
            detail = _not_a_directory(path) if chain.errno == errno.ENOTDIR else ""
            return EnvironmentFault(f"{path}{target}: {chain.strerror or os.strerror(chain.errno)} ({name}){detail}")
        chain = chain.__cause__ or chain.__context__
    text = str(exc).lower()
    if where is not None and any(marker in text for marker in _WRITE_FAILURES):
        free = free_bytes(where)
        if free is not None and free < 1 << 20:
            first = str(exc).splitlines()[0][:160]
            return EnvironmentFault(f"{where}: no space left on its file system ({free:,} bytes free); a write failed "
                                    f"with {type(exc).__name__}: {first}")
    return None


def one_line(text: object) -> str:
    """``text`` on one line: a message that quotes a library's multi-line text stays one line."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def format_error(err: BaseException, prog: str) -> str:
    """The one line every entry point prints for a user-fixable error: ``PROG: error: MESSAGE``
    (a ConfigError's message starts ``config key 'KEY': ``; a DataError's with ``FILE:LINE: ``)."""
    return f"{prog}: error: {one_line(err)}"


def report_and_exit(err: ArgenError, prog: str) -> NoReturn:
    """Print :func:`format_error`'s line on stderr and exit with the error's status (no traceback)."""
    print(format_error(err, prog), file=sys.stderr, flush=True)
    raise SystemExit(err.exit_code) from None


@contextlib.contextmanager
def user_errors(prog: str = "argen") -> Iterator[None]:
    """Turn an :class:`ArgenError` into one line on stderr and its exit status (2; 74 for an EnvironmentFault)."""
    try:
        yield
    except ArgenError as err:
        report_and_exit(err, prog)
