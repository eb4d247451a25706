"""Read scenario files: JSONL rows with a prompt and optional tier, scope and id.

Two label forms are accepted: plain (``"tier": "B"``) and ArGen's hashed form
(``"tier": "B:<sha1 of the UTF-8 prompt>"``), whose hash must match the prompt. Every problem is
reported as a :class:`~argen.errors.DataError` naming the file and line, before anything slow runs.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from argen.data.jsonl import iter_records as iter_jsonl  # every JSONL reader is argen.data.jsonl's
from argen.data.jsonl import why_no_records
from argen.errors import DataError
from argen.types import SCOPES, TIERS

# A prompt longer than this is almost certainly a broken file, and would not fit a context window.
MAX_PROMPT_CHARS = 20_000


@dataclass(frozen=True)
class Scenario:
    """One prompt a healthcare assistant receives, with its labels (None when unlabelled)."""

    id: str
    prompt: str
    tier: str | None = None
    scope: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bundled_path(split: str) -> Path:
    """Path of a bundled scenario set: ``train`` or ``eval``."""
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    return Path(str(resources.files("argen.data") / "scenarios" / f"{split}.jsonl"))


def prompt_sha1(prompt: str) -> str:
    return hashlib.sha1(prompt.encode("utf-8")).hexdigest()


def parse_label(value: Any, kind: str, prompt: str, path: str | Path, line: int) -> str | None:
    """Validate a ``tier`` or ``scope`` label, plain or ArGen-hashed; returns the bare label."""
    allowed = TIERS if kind == "tier" else SCOPES
    if value is None:
        return None
    if not isinstance(value, str):
        raise DataError(path, f"'{kind}' must be a string such as {allowed[0]!r}, got {type(value).__name__}", line)
    label, sep, digest = value.strip().partition(":")
    label = label.strip().upper()
    if label not in allowed:
        raise DataError(path, f"unknown {kind} {value!r}; expected one of {', '.join(allowed)}", line)
    if sep:
        digest = digest.strip().lower()
        if digest != prompt_sha1(prompt):
            raise DataError(
                path,
                f"{kind} label {value!r} carries a hash that does not match its prompt "
                "(the label was edited or belongs to another row)",
                line,
            )
    return label


def required_prompt(obj: dict[str, Any], path: str | Path, line: int) -> str:
    """The row's non-empty ``prompt`` string, or a DataError naming the file and line."""
    prompt = obj.get("prompt")
    if prompt is None:
        raise DataError(path, "missing 'prompt'", line)
    if not isinstance(prompt, str):
        raise DataError(path, f"'prompt' must be a string, got {type(prompt).__name__}", line)
    if not prompt.strip():
        raise DataError(path, "'prompt' is empty", line)
    return prompt


def parse_scenario(obj: dict[str, Any], path: str | Path, line: int) -> Scenario:
    """Validate one decoded row into a Scenario."""
    prompt = required_prompt(obj, path, line)
    if len(prompt) > MAX_PROMPT_CHARS:
        raise DataError(path, f"'prompt' is {len(prompt):,} characters, above the limit of {MAX_PROMPT_CHARS:,}", line)
    raw_id = obj.get("id", f"line-{line}")
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or (isinstance(raw_id, float) and math.isnan(raw_id)):
        raise DataError(path, f"'id' must be a string or integer, got {raw_id!r}", line)
    return Scenario(
        id=str(raw_id),
        prompt=prompt,
        tier=parse_label(obj.get("tier"), "tier", prompt, path, line),
        scope=parse_label(obj.get("scope"), "scope", prompt, path, line),
    )


def load_scenarios(path: str | Path, limit: int | None = None) -> list[Scenario]:
    """Read and validate a whole scenario file (all of it, so every error is found before training).

    ``limit`` keeps the first N valid rows.
    """
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise DataError(path, f"data.limit must be a positive integer, got {limit!r}")
    scenarios: list[Scenario] = []
    seen: dict[str, int] = {}
    for line, obj in iter_jsonl(path):
        scenario = parse_scenario(obj, path, line)
        if scenario.id in seen:
            raise DataError(path, f"duplicate id {scenario.id!r} (first on line {seen[scenario.id]})", line)
        seen[scenario.id] = line
        scenarios.append(scenario)
    if not scenarios:
        raise DataError(path, f"no scenarios in file ({why_no_records(path)})")
    return scenarios[:limit] if limit else scenarios
