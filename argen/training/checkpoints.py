"""Checkpoints that survive a kill at any instant of a save.

The Trainer writes ``checkpoint-N/`` in place, file by file, and with ``save_total_limit`` it
deletes older checkpoints right after. A kill can therefore leave a half-written new checkpoint,
or a half-deleted old one. Two rules make every instant safe:

1. **A checkpoint is complete only with its marker.** After a save, rank 0 writes
   ``checkpoint-N/argen_complete.json`` last: the size of every file in the checkpoint. A
   checkpoint counts only while the marker is there and every listed file still has its size, so
   a half-written or half-deleted directory never does.
2. **Nothing is deleted before the pointer moves.** ``checkpoints/latest`` (a small JSON file,
   written to a temporary name and renamed into place) names the newest complete checkpoint. The
   Trainer's own rotation is switched off; :class:`LatestPointerCallback` deletes old checkpoints
   itself, only after the pointer names the new one, and takes each one's marker away first.

Resume (:func:`latest_checkpoint`) follows the pointer when it names a complete checkpoint and
otherwise falls back to the newest complete one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

from transformers import TrainerCallback

from argen.data.atomic import fsync_dir, write_atomic

log = logging.getLogger(__name__)

POINTER = "latest"
MARKER = "argen_complete.json"
_NAME = re.compile(r"^checkpoint-(\d+)$")


def _write_atomic(path: Path, data: dict) -> None:
    """JSON, fsynced and renamed into place (with its folder synced): a marker survives a power cut."""
    write_atomic(path, json.dumps(data), durable=True)


def checkpoint_step(path: Path) -> int | None:
    """N for a ``checkpoint-N`` directory name, else None."""
    match = _NAME.match(Path(path).name)
    return int(match.group(1)) if match else None


def mark_complete(checkpoint: Path, step: int) -> None:
    """Record every file of a finished checkpoint with its size (the marker is written last)."""
    checkpoint = Path(checkpoint)
    files = {
        str(p.relative_to(checkpoint)): p.stat().st_size
        for p in sorted(checkpoint.rglob("*"))
        if p.is_file() and p.name != MARKER and not p.name.startswith(f".{MARKER}.")
    }
    _write_atomic(checkpoint / MARKER, {"step": step, "files": files})


def is_complete(checkpoint: Path) -> bool:
    """Whether a checkpoint has its marker and every file the marker lists, at its size."""
    checkpoint = Path(checkpoint)
    try:
        files = json.loads((checkpoint / MARKER).read_text())["files"]
        # A damaged marker (a list, a string) is an incomplete checkpoint, never a crash of the resume.
        if not isinstance(files, dict) or "trainer_state.json" not in files:
            return False
        return all((checkpoint / name).stat().st_size == size for name, size in files.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def is_resumable(checkpoint: Path) -> bool:
    """Complete, or saved before ArGen wrote markers (none beside it has one) with every file a
    resume needs."""
    checkpoint = Path(checkpoint)
    if is_complete(checkpoint):
        return True
    if not checkpoint.is_dir() or any((p / MARKER).exists() for p in checkpoints(checkpoint.parent)):
        return False
    names = {p.name for p in checkpoint.iterdir()}
    weights = {"model.safetensors", "adapter_model.safetensors", "pytorch_model.bin", "model.safetensors.index.json"}
    if {"trainer_state.json", "optimizer.pt", "scheduler.pt"} <= names and names & weights:
        log.warning("%s has no completeness marker (saved by an older ArGen); its files are all there", checkpoint)
        return True
    return False


def write_latest(checkpoints_dir: Path, checkpoint_name: str, step: int) -> None:
    """Point ``latest`` at a completed checkpoint (atomic: write a temp file, then rename)."""
    checkpoints_dir = Path(checkpoints_dir)
    checkpoints_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(checkpoints_dir / POINTER, {"checkpoint": checkpoint_name, "step": step})


def _pointer_target(checkpoints_dir: Path) -> Path | None:
    try:
        name = json.loads((Path(checkpoints_dir) / POINTER).read_text())["checkpoint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Path(checkpoints_dir) / str(name)


def checkpoints(checkpoints_dir: Path) -> list[Path]:
    """Every ``checkpoint-N`` directory, complete or not, oldest first."""
    root = Path(checkpoints_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and checkpoint_step(p) is not None]
    return sorted(found, key=lambda p: checkpoint_step(p) or 0)


def latest_checkpoint(checkpoints_dir: Path) -> Path | None:
    """The checkpoint to resume from: the one ``latest`` names when it is complete, else the
    newest complete one (None when there is none)."""
    target = _pointer_target(checkpoints_dir)
    if target is not None and is_complete(target):
        return target
    complete = [p for p in checkpoints(checkpoints_dir) if is_complete(p)]
    if target is not None and not complete and is_resumable(target):
        return target  # saved before markers existed
    if target is not None and complete:
        log.warning("%s names %s, which is not complete; using %s", Path(checkpoints_dir) / POINTER, target.name, complete[-1].name)
    return complete[-1] if complete else None


def remove_checkpoint(checkpoint: Path) -> None:
    """Delete a checkpoint so that no instant of the deletion leaves it looking complete."""
    checkpoint = Path(checkpoint)
    try:
        (checkpoint / MARKER).unlink()
    except FileNotFoundError:
        pass
    fsync_dir(checkpoint)
    # A name the Trainer's checkpoint-* globs never match: a kill mid-delete leaves only litter.
    trash = checkpoint.with_name(f".deleting-{checkpoint.name}")
    if trash.exists():
        shutil.rmtree(trash, ignore_errors=True)
    os.replace(checkpoint, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _barrier() -> None:
    """Every rank has finished writing its part of the checkpoint (e.g. its RNG state)."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


class LatestPointerCallback(TrainerCallback):
    """Marks each completed save, moves the ``latest`` pointer, then removes old checkpoints (rank 0).

    It takes ``save_total_limit`` over from the Trainer, whose rotation deletes old checkpoints
    before any callback hears of the save.
    """

    def __init__(self, checkpoints_dir: Path):
        self.checkpoints_dir = Path(checkpoints_dir)
        self.keep: int | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        limit = getattr(args, "save_total_limit", None)
        if limit is not None and limit > 0:
            self.keep = int(limit)
            args.save_total_limit = None  # the Trainer's rotation would run before the pointer moves
        if state.is_world_process_zero and state.global_step > 0:
            self._drop_newer_than(state.global_step)

    def on_save(self, args, state, control, **kwargs):
        _barrier()
        if not state.is_world_process_zero:
            return
        step = state.global_step
        checkpoint = self.checkpoints_dir / f"checkpoint-{step}"
        if not checkpoint.is_dir():
            return
        mark_complete(checkpoint, step)
        write_latest(self.checkpoints_dir, checkpoint.name, step)
        self._rotate(step)

    def _drop_newer_than(self, step: int) -> None:
        """Resumed at ``step``: checkpoints past it are a discarded future or half-written leftovers,
        and would be rewritten in place; the pointer moves back to the resumed one first."""
        current = self.checkpoints_dir / f"checkpoint-{step}"
        newer = [p for p in checkpoints(self.checkpoints_dir) if (checkpoint_step(p) or 0) > step]
        if not newer:
            return
        if is_resumable(current):
            write_latest(self.checkpoints_dir, current.name, step)
        for path in newer:
            log.info("removing %s (past the resumed step %d)", path, step)
            remove_checkpoint(path)

    def _rotate(self, step: int) -> None:
        if self.keep is None:
            return
        older = [p for p in checkpoints(self.checkpoints_dir) if (checkpoint_step(p) or 0) < step]
        complete = [p for p in older if is_complete(p)]
        kept = set(complete[-(self.keep - 1):]) if self.keep > 1 else set()
        for path in older:
            if path not in kept:
                remove_checkpoint(path)
