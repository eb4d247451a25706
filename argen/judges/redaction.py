"""Keep secrets out of kept error text: redact first, then shorten.

A server may echo the API key in an error body. Error text is kept in output rows, summaries and
logs, so every fragment of a known secret that is at least :data:`MIN_FRAGMENT` characters long
is replaced before the text is cut to length: cutting first could split the key at the cut and
leave most of it behind, where an exact-match replacement no longer finds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

#: Fragments of a secret at least this long are redacted (shorter ones identify nothing).
MIN_FRAGMENT = 8
REDACTED = "[redacted]"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every run of characters that is a >= 8-character fragment of a secret replaced.

    Any fragment of that length is made of overlapping 8-character pieces of the secret, so the
    text is scanned for those pieces and each maximal covered span becomes ``[redacted]``.
    """
    grams: set[str] = set()
    for secret in secrets:
        s = (secret or "").strip()
        if len(s) >= MIN_FRAGMENT:
            grams.update(s[i : i + MIN_FRAGMENT] for i in range(len(s) - MIN_FRAGMENT + 1))
    if not grams or len(text) < MIN_FRAGMENT:
        return text
    covered = bytearray(len(text))
    hit = False
    for i in range(len(text) - MIN_FRAGMENT + 1):
        if text[i : i + MIN_FRAGMENT] in grams:
            covered[i : i + MIN_FRAGMENT] = b"\x01" * MIN_FRAGMENT
            hit = True
    if not hit:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        if covered[i]:
            while i < len(text) and covered[i]:
                i += 1
            out.append(REDACTED)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def clean_error(text: str, secrets: Iterable[str | None], limit: int = 400) -> str:
    """One line of at most ``limit`` characters, secrets redacted *before* the cut."""
    one_line = " ".join(str(text).split())
    return redact(one_line, secrets)[:limit]


def display_url(url: str) -> str:
    """``url`` without any user:password part, for messages."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        parts = parts._replace(netloc=host)
    return urlunsplit(parts)


__all__ = ["MIN_FRAGMENT", "REDACTED", "clean_error", "display_url", "redact"]
