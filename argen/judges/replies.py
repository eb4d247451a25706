"""Turn whatever a chat server sent back into a verdict, or an :class:`InvalidReply` with a reason.

A reply is untrusted input: the body may be empty, cut off, not JSON, JSON of the wrong shape at
any level, numbers too large for a float, NaN, a refusal, or ``message.content`` that is an object
or a number instead of text. Every such shape ends here as :class:`InvalidReply` (which the judge
retries and finally reports as a failure with that reason); nothing else escapes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from argen.types import Verdict

# Token counts above this are not believed (and a huge integer is not summed into the stats).
_MAX_TOKENS_REPORTED = 10**9
_FENCE = re.compile(r"^```[A-Za-z]*\s*|\s*```$")


class InvalidReply(Exception):
    """The server answered, but its reply is not a valid verdict (not JSON, a missing field, out of range)."""


@dataclass(frozen=True)
class Usage:
    """Token counts the server reported (0 when absent or implausible)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


def _short(value: Any, limit: int = 80) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a repr that fails must not end the run
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "..."


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a valid number")


def load_json(text: str | bytes) -> Any:
    """``json.loads`` that refuses NaN/Infinity and turns every failure into :class:`InvalidReply`."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidReply(f"not valid JSON ({type(exc).__name__}: {str(exc)[:120]})") from None


def _token_count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_TOKENS_REPORTED:
        return 0
    return value


def usage_of(body: Any) -> Usage:
    """The ``usage`` block of a decoded body, tolerant of any shape."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return Usage()
    return Usage(_token_count(usage.get("prompt_tokens")), _token_count(usage.get("completion_tokens")))


def message_text(body: Any, max_tokens: int | None = None) -> str:
    """The assistant's text in a decoded chat-completion body; :class:`InvalidReply` otherwise."""
    if not isinstance(body, dict):
        raise InvalidReply(f"reply body is a JSON {type(body).__name__}, not an object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise InvalidReply(f"reply has no choices (got {_short(choices)})")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise InvalidReply(f"reply choice is a {type(choice).__name__}, not an object")
    message = choice.get("message")
    if not isinstance(message, dict):
        raise InvalidReply(f"reply message is {_short(message)}, not an object")
    refusal = message.get("refusal")
    if refusal:
        raise InvalidReply(f"judge refused: {str(refusal)[:200] if isinstance(refusal, str) else _short(refusal)}")
    if choice.get("finish_reason") == "length":
        raise InvalidReply("reply cut off at judge.max_tokens" + (f"={max_tokens}" if max_tokens else ""))
    content = message.get("content")
    if isinstance(content, list):
        # Content parts ([{"type": "text", "text": ...}]) are valid chat messages; join their text.
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        if parts and all(isinstance(p, str) for p in parts):
            content = "".join(parts)
    if not isinstance(content, str):
        kind = "null" if content is None else ("a JSON " + type(content).__name__)
        raise InvalidReply(f"message content is {kind}, not text")
    return content


def verdict_from_text(content: str) -> Verdict:
    """The verdict in a reply's text; :class:`InvalidReply` when it is not one."""
    if not content.strip():
        raise InvalidReply("empty reply")
    text = content.strip()
    # Some local servers wrap JSON in a Markdown code fence even in JSON mode.
    if text.startswith("```"):
        text = _FENCE.sub("", text)
    try:
        data = load_json(text)
    except InvalidReply as exc:
        raise InvalidReply(f"reply is {exc}") from None
    if not isinstance(data, dict):
        raise InvalidReply(f"reply is a JSON {type(data).__name__}, not a verdict object")
    try:
        return Verdict.from_dict(data)
    except Exception as exc:  # noqa: BLE001 - validation, but also OverflowError on a 401-digit number
        reason = str(exc) if isinstance(exc, ValueError) and not isinstance(exc, OverflowError) else f"{type(exc).__name__}: {exc}"
        raise InvalidReply(f"reply is not a valid verdict: {reason[:300]}") from None


def decode_body(body: bytes | str | None) -> Any:
    """A raw HTTP body decoded as JSON; :class:`InvalidReply` when empty, cut off or not JSON."""
    if body is None or not body.strip():
        raise InvalidReply("empty reply body")
    try:
        return load_json(body)
    except InvalidReply as exc:
        raise InvalidReply(f"reply body is {exc}") from None


def parse_completion(body: bytes | str | None, max_tokens: int | None = None) -> tuple[Verdict, Usage]:
    """A raw chat-completion body -> (verdict, usage); :class:`InvalidReply` for every other shape."""
    decoded = decode_body(body)
    return verdict_from_text(message_text(decoded, max_tokens)), usage_of(decoded)


__all__ = ["InvalidReply", "Usage", "decode_body", "load_json", "message_text", "parse_completion", "usage_of", "verdict_from_text"]
