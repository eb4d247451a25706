"""Which structured-output form a chat server accepts, found by asking it.

Servers that speak OpenAI's protocol differ here (docs/judges.md): OpenAI and vLLM take
``json_schema``; llama-cpp-python answers ``json_schema`` with HTTP 500 and constrains output with
``{"type": "json_object", "schema": ...}``; older servers take only ``json_object``, and some none.
Error wording and status codes vary too much to be read reliably, so a refusal is established by
comparison: a tiny probe request is sent with each form, strongest first, and the first form the
server answers with a 2xx is used. A form refused while a weaker one is accepted is a refusal,
whatever the status code or message said.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import openai

from argen.judges.prompts import response_format

log = logging.getLogger(__name__)

#: Strongest first. ``none`` sends no response_format (the prompt still asks for JSON).
FORMATS = ("json_schema", "json_object_schema", "json_object", "none")
#: Accepted by ``judge.response_format``: ``auto`` probes; any other value forces that form.
CHOICES = ("auto", *FORMATS)
# Statuses that say nothing about the form: the key, a busy server, a timeout.
_NOT_ABOUT_FORMAT = {401, 403, 408, 409, 429}
# Words servers use when they refuse a response_format at run time (the probe needs none of them).
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "schema", "grammar", "structured output")

PROBE_MESSAGES = [
    {"role": "system", "content": "Answer with a JSON object only."},
    {"role": "user", "content": 'Return {"ok": true}.'},
]
PROBE_MAX_TOKENS = 16


def request_field(fmt: str) -> dict[str, Any] | None:
    """The ``response_format`` value sent for ``fmt`` (None: the field is left out)."""
    return None if fmt == "none" else response_format(fmt)


def weaker(fmt: str) -> str | None:
    """The next weaker form after ``fmt`` (None after ``none``)."""
    i = FORMATS.index(fmt)
    return FORMATS[i + 1] if i + 1 < len(FORMATS) else None


def mentions_format(exc: BaseException) -> bool:
    """A run-time error whose text points at the response format (any 4xx/5xx status)."""
    if not isinstance(exc, openai.APIStatusError) or exc.status_code in _NOT_ABOUT_FORMAT:
        return False
    text = f"{getattr(exc, 'message', '')} {getattr(exc, 'body', '')}".lower()
    return any(word in text for word in _FORMAT_WORDS)


@dataclass
class FormatChoice:
    """The form in use and how it was chosen; recorded in the run's files (``judge.info()``)."""

    response_format: str
    chosen_by: str  # "forced" (judge.response_format), "probe", "fallback" (refused mid-run), "default"
    refused: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"response_format": self.response_format, "chosen_by": self.chosen_by, "refused": dict(self.refused)}


class NoFormatAccepted(Exception):
    """The server refused the probe in every form, even without a response_format."""

    def __init__(self, refused: dict[str, str], last: BaseException):
        super().__init__(f"every probe refused: {refused}")
        self.refused = refused
        self.last = last


async def detect_format(send: Callable[[str], Awaitable[Any]]) -> FormatChoice:
    """Probe with each form, strongest first; the first answered with a 2xx wins.

    ``send(fmt)`` makes one probe request and raises the SDK's error on a non-2xx status.
    Connection errors, timeouts and a rejected key propagate (the caller reports them); a busy
    server (408/409/429) leaves the question open: the strongest form is used and the run-time
    fallback still applies. :class:`NoFormatAccepted` when even the plain request fails.
    """
    refused: dict[str, str] = {}
    for fmt in FORMATS:
        try:
            await send(fmt)
        except openai.APIStatusError as exc:
            if exc.status_code in (401, 403):
                raise
            if exc.status_code in _NOT_ABOUT_FORMAT:
                log.warning("judge format probe got HTTP %s (server busy); trying %s first", exc.status_code, FORMATS[0])
                return FormatChoice(FORMATS[0], "default", refused)
            refused[fmt] = f"HTTP {exc.status_code}"
            if fmt == FORMATS[-1]:
                raise NoFormatAccepted(refused, exc) from None
            continue
        return FormatChoice(fmt, "probe", refused)
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = [
    "CHOICES", "FORMATS", "FormatChoice", "NoFormatAccepted", "PROBE_MAX_TOKENS", "PROBE_MESSAGES",
    "detect_format", "mentions_format", "request_field", "weaker",
]
