"""One atomic-write helper (argen/data/atomic.py): a reader sees the old file or the new one, never
half of one, and no module writes a temporary file and renames it by hand."""

from __future__ import annotations

import os
import re

import pytest

from argen.data import atomic
from argen.data.atomic import write_atomic
from tests.conftest import REPO


def test_replaces_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old")
    write_atomic(path, '{"new": 1}')
    write_atomic(path, b"bytes too", durable=True)
    assert path.read_bytes() == b"bytes too"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, not mkstemp's 0600


def test_a_failed_rename_keeps_the_old_file_and_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "status.json"
    path.write_text("old")

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_no_module_renames_a_temporary_file_by_hand():
    offenders = []
    for root in ("argen", "bench"):
        for path in sorted((REPO / root).rglob("*.py")):
            if path == REPO / "argen" / "data" / "atomic.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if re.search(r"os\.replace\(\s*tmp|mkstemp\(", line):  # a folder renamed into place (models.py) is no file write
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
