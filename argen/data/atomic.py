"""Replace a file atomically: a reader (another rank, a watcher, a resumed run) never sees half of it."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def write_atomic(path: str | Path, text: str | bytes, *, durable: bool = False) -> Path:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place.

    The temporary name is unique per process and thread, so two writers of the same file never
    share one; it is opened plainly so the file keeps the usual umask-derived mode. ``durable`` also fsyncs the file and its folder, for files that must survive a power
    cut (checkpoint pointers), at a few milliseconds a write.
    """
    path = Path(path)
    data = text.encode("utf-8") if isinstance(text, str) else text
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(path.parent)
    return path


def fsync_dir(path: str | Path) -> None:
    """Make a rename inside ``path`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
