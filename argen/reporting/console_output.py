"""A quiet console: ArGen's own lines on the terminal, the libraries' output in the run's log file.

transformers, TRL, PEFT, torch and huggingface_hub write progress bars ("Loading weights",
"Writing model shards"), warnings (a ``FutureWarning`` about ``is_gradient_checkpointing`` at
every run) and log records to the process's stderr, between ArGen's lines. Inside
:func:`library_output_to_log` the process's file descriptor 2 points at the run's log file
instead, so everything written to stderr by any library (Python warnings, tqdm bars, C++
messages, their loggers) lands there, while ArGen writes its own lines and bars to
:func:`console`, a copy of the terminal's stderr kept aside. Log records: the terminal handlers
(Hydra's, on stdout) show only ArGen's warnings and errors; the log file keeps every record.

``logging.verbose=true`` turns all of this off: the console then shows everything, as before.
Child processes (training ranks, the end evaluation) do the same on their side, so their library
output goes to the same log file and their ArGen lines come back to the launcher's console.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

# The terminal's stderr while library output is redirected (None: nothing redirected).
_console: TextIO | None = None


def console() -> TextIO:
    """Where ArGen's own progress bars and stderr lines go: the terminal, even while the libraries'
    stderr goes to the run's log file."""
    return _console if _console is not None else sys.stderr


def quiet() -> bool:
    """Whether library output is being redirected (ArGen's bars should then be the only ones shown)."""
    return _console is not None


class ArgenWarnings(logging.Filter):
    """Passes ArGen's own records at WARNING and above (what a terminal handler shows when quiet)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING and (record.name == "argen" or record.name.startswith("argen."))


def _terminal_handlers() -> list[logging.Handler]:
    """Root handlers that write to the terminal's stdout (Hydra's console handler)."""
    out = []
    for handler in logging.getLogger().handlers:
        stream = getattr(handler, "stream", None)
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler) and stream in (
                sys.stdout, sys.__stdout__):
            out.append(handler)
    return out


@contextlib.contextmanager
def library_output_to_log(log_path: str | Path, verbose: bool = False) -> Iterator[None]:
    """While inside, the process's stderr (fd 2) appends to ``log_path`` and :func:`console` is the
    terminal; terminal log handlers show ArGen's warnings only. ``verbose``: change nothing.

    Nested or repeated use is harmless (an inner one does nothing). Everything is put back on
    leaving, also on an exception, so an error line printed after it reaches the terminal.
    """
    global _console
    if verbose or _console is not None:
        yield
        return
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    _console = terminal
    # Child processes inherit fd 2 (the log); ArGen's own children redirect the same way.
    only_argen = ArgenWarnings()
    root = logging.getLogger()
    filtered = _terminal_handlers()
    formatter = next((h.formatter for h in root.handlers if h.formatter is not None), None)
    added: list[logging.Handler] = []
    for handler in filtered:
        handler.addFilter(only_argen)
    if not filtered:  # no terminal handler (a worker logs to stderr, now the log): show ArGen's warnings
        shown = logging.StreamHandler(terminal)
        shown.addFilter(only_argen)
        added.append(shown)
    if not any(isinstance(h, logging.FileHandler) or getattr(h, "stream", None) is sys.stderr for h in root.handlers):
        added.append(logging.StreamHandler(sys.stderr))  # every record into the log (fd 2) too
    for handler in added:
        if formatter is not None:
            handler.setFormatter(formatter)
        root.addHandler(handler)
    try:
        yield
    finally:
        for handler in filtered:
            handler.removeFilter(only_argen)
        for handler in added:
            root.removeHandler(handler)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(saved, 2)
        os.close(saved)
        _console = None
        with contextlib.suppress(Exception):
            terminal.close()


__all__ = ["ArgenWarnings", "console", "library_output_to_log", "quiet"]
