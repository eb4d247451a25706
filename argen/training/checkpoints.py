"""Checkpoints that survive a kill: a checkpoint only counts once its ``latest`` pointer names it.

The Trainer writes ``checkpoint-N/`` in place. A kill in the middle leaves a partial directory,
so ArGen never trusts the newest directory: after a save completes, rank 0 writes
``checkpoints/latest`` (a tiny JSON file) to a temporary name and renames it into place. Resume
reads that pointer, so a half-written checkpoint is never picked.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from transformers import TrainerCallback

POINTER = "latest"


def write_latest(checkpoints_dir: Path, checkpoint_name: str, step: int) -> None:
    """Point ``latest`` at a completed checkpoint (atomic: write a temp file, then rename)."""
    checkpoints_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".latest.", dir=checkpoints_dir)
    with os.fdopen(fd, "w") as fh:
        json.dump({"checkpoint": checkpoint_name, "step": step}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, checkpoints_dir / POINTER)


def latest_checkpoint(checkpoints_dir: Path) -> Path | None:
    """The last completed checkpoint of a run (None when there is none)."""
    pointer = Path(checkpoints_dir) / POINTER
    if not pointer.is_file():
        return None
    name = json.loads(pointer.read_text())["checkpoint"]
    path = Path(checkpoints_dir) / name
    return path if path.is_dir() else None


class LatestPointerCallback(TrainerCallback):
    """After every completed save, move the ``latest`` pointer (rank 0 only)."""

    def __init__(self, checkpoints_dir: Path):
        self.checkpoints_dir = Path(checkpoints_dir)

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            name = f"checkpoint-{state.global_step}"
            if (self.checkpoints_dir / name).is_dir():
                write_latest(self.checkpoints_dir, name, state.global_step)
