"""User-facing errors: each is reported as one clear line, without a traceback.

Anything a user can fix (a config key, a scenario file, a judge's settings) raises a subclass of
:class:`ArgenError`. Entry points wrap their work in :func:`user_errors`, which prints the
message and exits with status 2. Programming errors keep their tracebacks.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


class ArgenError(Exception):
    """An error the user can fix; its message says what and where."""


class ConfigError(ArgenError):
    """An impossible or inconsistent configuration, naming the offending key."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"config key '{key}': {message}")


class DataError(ArgenError):
    """A malformed scenario or response file, naming the file and (when known) the line."""

    def __init__(self, path: str, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


class JudgeError(ArgenError):
    """A judge that cannot work as configured (missing key, unreachable server, too many failures)."""


@contextlib.contextmanager
def user_errors(prog: str = "argen") -> Iterator[None]:
    """Turn an :class:`ArgenError` into one line on stderr and exit status 2."""
    try:
        yield
    except ArgenError as err:
        print(f"{prog}: error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
