"""Every rank must see one run dir: the checkpoints' completion markers assume one shared filesystem.

Rank 0 writes checkpoints, their markers and the ``latest`` pointer; every rank writes its own
part of a checkpoint (its RNG state) into the same directory, and a resume on any machine reads
what rank 0 wrote. On machines that do not share the run dir's filesystem this silently splits a
run in pieces. So before the model loads, with the process group up (TrainingArguments sets it
up), :func:`check_shared_run_dir` asks every rank to read a file that rank 0 has just written:

1. rank 0 draws a nonce and sends it to every rank (a broadcast);
2. rank 0 writes ``RUN_DIR/.argen-shared-<nonce>`` (fsynced); every rank waits at a barrier;
3. every rank reads the file at its own run dir's path; all answers are gathered, so every rank
   refuses together, naming the path and the hosts that did not see the file.

The file's name is new to every machine, so no cached negative lookup of a network filesystem
can hide it; a short retry covers attribute caches that lag behind.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from pathlib import Path
from typing import Any

from argen.errors import ArgenError

PREFIX = ".argen-shared-"
RETRY_S = 2.0


def check_shared_run_dir(run_dir: str | Path, dist: Any = None, retry_s: float = RETRY_S) -> None:
    """Refuse (ArgenError, on every rank) when the ranks do not all see the same ``run_dir``.

    ``dist``: ``torch.distributed`` (default), initialised; nothing is checked with one process.
    """
    if dist is None:
        import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return
    run_dir = Path(run_dir).absolute()
    rank = dist.get_rank()
    box = [secrets.token_hex(8) if rank == 0 else None]
    dist.broadcast_object_list(box, src=0)
    nonce = str(box[0])
    probe = run_dir / f"{PREFIX}{nonce}"
    if rank == 0:
        _write_synced(probe, nonce)
    dist.barrier()
    seen = _read_with_retry(probe, nonce, retry_s)
    answers: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(answers, (rank, socket.gethostname(), seen))
    dist.barrier()  # everyone has read it: rank 0 may take it away
    if rank == 0:
        probe.unlink(missing_ok=True)
    blind = [(r, host) for r, host, ok in answers if not ok]
    if blind:
        hosts = sorted({host for _, host in blind})
        ranks = ", ".join(str(r) for r, _ in blind)
        raise ArgenError(
            f"the run dir {run_dir} is not one shared directory: rank(s) {ranks} on {', '.join(hosts)} do not see the file "
            f"{probe.name} that rank 0 ({answers[0][1]}) wrote there; put hydra.run.dir on a filesystem every machine "
            "mounts at the same path (checkpoint markers, resume and the summary need one run dir)"
        )


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _read_with_retry(path: Path, expected: str, retry_s: float) -> bool:
    deadline = time.monotonic() + retry_s
    while True:
        try:
            if path.read_text(encoding="utf-8") == expected:
                return True
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
