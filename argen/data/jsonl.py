"""Every JSONL file ArGen reads or writes goes through here: one record per line, split on "\\n" only.

- Records are split on ``"\\n"`` alone. U+2028, U+2029 and U+0085 are valid inside a JSON
  string, so ``str.splitlines()`` (which breaks on them) is never used; a writer still escapes
  them, so that other tools that split lines that way read these files too.
- Text that cannot be encoded as UTF-8 (a lone surrogate such as ``"\\ud83d"``, half an emoji,
  from a JSON escape or a Python string) is refused up front, naming the file and line, instead
  of crashing later inside a tokenizer, a dataset or the policy engine.
- What :func:`append_records` and :func:`write_records` write, :func:`iter_records` reads back:
  non-finite floats become ``null`` (JSON has no NaN).
- Appends are one ``write`` on an ``O_APPEND`` file: concurrent writers never interleave within a
  line and a crash leaves at most a torn last line, which :func:`read_records` skips and
  :func:`drop_torn_tail` cuts before the next append.

Two readers: :func:`iter_records` for files a user hands in (every problem is a
:class:`~argen.errors.DataError` naming file and line) and :func:`read_records` for files ArGen
itself appends to while it runs (a missing file is empty, a torn last line is skipped).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from argen.data.atomic import write_atomic
from argen.errors import DataError

log = logging.getLogger(__name__)

# JSON's own whitespace; str.strip() would also strip U+2028 and friends.
_JSON_SPACE = " \t\r"
# Characters str.splitlines() breaks on that json.dumps(ensure_ascii=False) leaves raw.
_LINE_BREAKS_IN_STRINGS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_BREAKS = re.compile("[\u0085\u2028\u2029]")
# A \\uD800-\\uDFFF escape; a pair decodes to one character, a lone one is checked below.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]", re.ASCII)


def _reject_constant(name: str) -> float:
    raise ValueError(f"invalid JSON: {name} is not allowed")


def _first_bad_text(value: Any, where: str = "") -> tuple[str, str] | None:
    """(where, the offending string) for the first string (or key) that is not encodable UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where, value
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            found = _first_bad_text(key, name) if isinstance(key, str) else None
            found = found or _first_bad_text(item, name)
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _first_bad_text(item, f"{where}[{i}]")
            if found:
                return found
    return None


def _surrogate_message(where: str, text: str) -> str:
    bad = next(ch for ch in text if 0xD800 <= ord(ch) <= 0xDFFF)
    field = f" in '{where}'" if where else ""
    return (f"text that cannot be encoded as UTF-8{field}: a lone surrogate \\u{ord(bad):04x} "
            "(half of a character such as an emoji); fix or remove it")


def decode_line(raw: str, path: str | Path, line: int, *, strict: bool = True) -> Any:
    """One JSONL line as a value; a DataError naming ``path:line`` when it is not valid JSON or
    holds text that cannot be encoded (``strict`` also refuses NaN and Infinity)."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant) if strict else json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DataError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line) from None
    except ValueError as exc:
        raise DataError(path, str(exc), line) from None
    if _SURROGATE_ESCAPE.search(raw):  # only an escape can put a surrogate into decoded text
        bad = _first_bad_text(value)
        if bad:
            raise DataError(path, _surrogate_message(*bad), line)
    return value


def _lines(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset, bytes) of each line, split on b"\\n" only."""
    offset = 0
    for number, chunk in enumerate(data.split(b"\n"), start=1):
        yield number, offset, chunk
        offset += len(chunk) + 1


def iter_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line of a file a user hands in.

    Everything wrong is a :class:`DataError` naming the file and line: a missing file, bytes that
    are not UTF-8, invalid JSON, NaN, a line that is not an object, a lone surrogate.
    """
    p = Path(path)
    check_input_file(p)
    data = p.read_bytes()
    for number, offset, chunk in _lines(data):
        try:
            raw = chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(p, f"not valid UTF-8 (byte {offset + exc.start})", number) from None
        if number == 1:
            raw = raw.removeprefix("\ufeff")  # a byte-order mark some editors write
        if not raw.strip(_JSON_SPACE):
            continue
        obj = decode_line(raw, p, number)
        if not isinstance(obj, dict):
            raise DataError(p, f"each line must be a JSON object, got {type(obj).__name__}", number)
        yield number, obj


def check_input_file(path: str | Path) -> Path:
    """``path`` is a regular file; else a :class:`DataError` that says what it is instead (a
    directory, a broken link, a device) rather than "file not found" for everything."""
    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        raise DataError(p, "is a directory, not a file (name a .jsonl file)")
    if p.is_symlink():
        raise DataError(p, f"is a broken symbolic link (to {os.readlink(p)})")
    if p.exists():
        raise DataError(p, "is not a regular file (a device, a pipe or a socket)")
    raise DataError(p, "file not found")


def why_no_records(path: str | Path) -> str:
    """Why a file a user handed in gave no records: "it is empty" or "it has only blank lines"."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return f"it cannot be read ({exc.strerror})"
    if not data:
        return "it is empty"
    lines = len(data.split(b"\n")) - (1 if data.endswith(b"\n") else 0)
    return f"it has only blank lines ({lines} line{'s' if lines != 1 else ''}, no records)"


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """All complete records of a file ArGen appends to while it runs.

    A missing file has no records, and a line that does not decode (a torn last line left by a
    crash mid-write) is skipped. Lone surrogates are still refused: nothing ArGen writes has one.
    """
    p = Path(path)
    if not p.exists():
        return []
    return records_from_bytes(p.read_bytes(), p)


def records_from_bytes(data: bytes, path: str | Path = "<jsonl>") -> list[dict[str, Any]]:
    """The records in ``data`` (the bytes of a JSONL file, or a complete chunk of one), as
    :func:`read_records` reads them: lines that do not decode are skipped."""
    rows = []
    for number, _, chunk in _lines(data):
        try:
            raw = chunk.decode("utf-8")
            if not raw.strip(_JSON_SPACE):
                continue
            value = decode_line(raw, path, number, strict=False)
        except (UnicodeDecodeError, DataError) as exc:
            if isinstance(exc, DataError) and "lone surrogate" in str(exc):
                raise
            continue
        if isinstance(value, dict):
            rows.append(value)
    return rows


def skipped_lines(path: str | Path, limit: int = 3) -> list[str]:
    """What :func:`read_records` skips in ``path``, in words: a torn last line (a write cut off by a
    kill or a full disk), or a line that does not decode. Empty when every line is whole."""
    p = Path(path)
    if not p.is_file():
        return []
    data = p.read_bytes()
    found: list[str] = []
    count = 0
    last_line = data.count(b"\n") + 1  # a file that ends in a newline has an empty last "line"
    for number, _, chunk in _lines(data):
        try:
            raw = chunk.decode("utf-8")
            if not raw.strip(_JSON_SPACE):
                continue
            if isinstance(decode_line(raw, p, number, strict=False), dict):
                continue
        except (UnicodeDecodeError, DataError):
            pass
        count += 1
        if len(found) < limit:
            found.append(f"line {number} is torn ({len(chunk)} bytes and no newline: a write was cut off)"
                         if number == last_line
                         else f"line {number} does not decode as a JSON object")
    if count > limit:
        found.append(f"{count - limit} more such lines")
    return found


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def encode_record(record: Mapping[str, Any], path: str | Path = "<jsonl>") -> bytes:
    """One record as a UTF-8 line ending in "\\n" (non-finite floats as null).

    Text that cannot be encoded is refused with a DataError naming ``path`` and the field.
    """
    text = json.dumps(_finite(record), ensure_ascii=False, separators=(",", ":"))
    text = _BREAKS.sub(lambda m: _LINE_BREAKS_IN_STRINGS[m.group()], text)
    try:
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:
        bad = _first_bad_text(record) or ("", text)
        raise DataError(path, "cannot write " + _surrogate_message(*bad)) from None


def append_records(path: str | Path, records: Iterable[Mapping[str, Any]], *, sync: bool = False) -> None:
    """Append records with one ``write`` on an ``O_APPEND`` file (``sync``: fsync before returning).

    Every record is encoded before anything is written, so a refused record writes nothing.
    """
    blob = b"".join(encode_record(r, path) for r in records)
    if not blob:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, blob)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def append_record(path: str | Path, record: Mapping[str, Any]) -> None:
    """Append one record as a line (single write, ``O_APPEND``)."""
    append_records(path, [record])


def write_records(path: str | Path, records: Iterable[Mapping[str, Any]]) -> None:
    """Replace ``path`` with ``records`` atomically: a crash leaves the old file or the new one."""
    p = Path(path)
    blob = b"".join(encode_record(r, p) for r in records)
    write_atomic(p, blob, durable=True)


def drop_torn_tail(path: str | Path) -> int:
    """Cut a half-written last line (a crash mid-append) so the next append starts a clean line.

    Returns the number of bytes dropped (0 when the file is whole or absent).
    """
    p = Path(path)
    if not p.is_file():
        return 0
    data = p.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    cut = data.rfind(b"\n") + 1
    with open(p, "r+b") as fh:
        fh.truncate(cut)
    log.warning("%s: dropping a torn last line (%d bytes) left by an interrupted run", p, len(data) - cut)
    return len(data) - cut
