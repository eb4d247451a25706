"""Checks on where a command will write, made before any work starts.

- :func:`check_writable_dir` / :func:`check_writable_file`: a directory or file that cannot be
  created or written (a path under a regular file, a read-only mount, no permission) is a
  one-line :class:`~argen.errors.ConfigError` naming the path, not a PermissionError traceback
  after the work is done.
- :func:`check_inputs_untouched`: no file a command writes may be, or lie inside, a file or
  directory it reads.
- :class:`WritableRunDir`: a Hydra callback that checks the run (or sweep) dir before Hydra
  creates it, so even Hydra's own first write cannot fail with a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from argen.errors import ArgenError, ConfigError, report_and_exit


def _refusal(directory: Path) -> str | None:
    """Why creating a file in ``directory`` fails, from the system itself (None: it works).

    Asked only once ``os.access`` said no: its answer cannot tell a read-only mount, an immutable
    directory (``chattr +i``, which binds root too) and a missing permission apart. A probe that
    unexpectedly succeeds leaves nothing behind.
    """
    import errno
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=directory):  # unnamed where the system can (O_TMPFILE), gone on close
            pass
    except OSError as exc:
        code = errno.errorcode.get(exc.errno or 0, "")
        hint = " (an immutable directory, chattr +i?)" if exc.errno == errno.EPERM else ""
        return f"{exc.strerror or exc}{f' ({code})' if code else ''}{hint}"
    return None


def writable_problem(path: str | Path, want_dir: bool = True) -> str | None:
    """Why ``path`` (a directory, or a file with ``want_dir=False``) cannot be created or written,
    in words, or None when it can."""
    return _unwritable_reason(Path(path).absolute(), want_dir)


def _unwritable_reason(path: Path, want_dir: bool) -> str | None:
    """Why ``path`` cannot be created or written, or None when it can."""
    probe = path
    while not os.path.lexists(probe):
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe == path:
        if want_dir and not path.is_dir():
            return "it exists and is not a directory"
        if not want_dir and path.is_dir():
            return "it is a directory"
        if path.is_symlink() and not path.exists():
            return "it is a broken symbolic link"
        if not os.access(path, os.W_OK | (os.X_OK if want_dir else 0)):
            refusal = _refusal(path) if want_dir else "permission denied (or a read-only file system)"
            if refusal:
                return refusal
        if not want_dir:
            probe = path.parent  # replacing the file writes a temporary file beside it
            if not os.access(probe, os.W_OK | os.X_OK) and (refusal := _refusal(probe)):
                return f"{probe} is not writable: {refusal}"
        return None
    if not probe.is_dir():
        return f"{probe} is not a directory"
    if not os.access(probe, os.W_OK | os.X_OK) and (refusal := _refusal(probe)):
        return f"{probe} is not writable: {refusal}"
    return None


def check_writable_dir(path: str | Path, key: str) -> Path:
    """The directory ``path`` exists and is writable, or can be created: else a ConfigError."""
    return _check_writable(path, key, want_dir=True)


def check_writable_file(path: str | Path, key: str) -> Path:
    """The file ``path`` can be created (or replaced) and written: else a ConfigError."""
    return _check_writable(path, key, want_dir=False)


def _check_writable(path: str | Path, key: str, *, want_dir: bool) -> Path:
    p = Path(path)
    reason = _unwritable_reason(p.absolute(), want_dir=want_dir)
    if reason:
        raise ConfigError(key, f"{p} cannot be written: {reason}")
    return p


def _real(path: str | Path) -> Path:
    return Path(os.path.realpath(path))


def _inside(path: Path, other: Path) -> bool:
    """``path`` is ``other`` or lies inside it (hard links and bind mounts included)."""
    if path == other or other in path.parents:
        return True
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False


def check_inputs_untouched(
    outputs: Mapping[str, str | Path], inputs: Mapping[str, str | Path | None], key: str = "output"
) -> None:
    """Refuse to run when something a command writes would change one of its inputs.

    ``outputs`` maps a name to a file it writes, or, for a name ending in "/", to a directory it
    writes into; ``inputs`` maps a config key to a file or directory it reads (None: none). A
    file output clashes with an input it equals or lies inside; a directory output also with an
    input inside it. The error names ``key``, the setting to change.
    """
    for input_key, given in inputs.items():
        if given is None:
            continue
        src = _real(given)
        for name, out_path in outputs.items():
            out = _real(out_path)
            if _inside(out, src) or (name.endswith("/") and _inside(src, out)):
                raise ConfigError(key, f"{name.rstrip('/')} {out_path} would overwrite {input_key} {given}; "
                                  "choose another output so the input is kept")


class WritableRunDir(Callback):
    """Before Hydra creates the run (or sweep) dir: a one-line error, exit 2, when it cannot."""

    def __init__(self, prog: str = "argen") -> None:
        self.prog = prog

    def _check(self, config: Any, key: str) -> None:
        from omegaconf import OmegaConf

        value = OmegaConf.select(config, key)
        if value is None:
            return
        try:
            check_writable_dir(str(value), key)
        except ArgenError as err:
            report_and_exit(err, self.prog)

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        self._check(config, "hydra.run.dir")

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        self._check(config, "hydra.sweep.dir")
