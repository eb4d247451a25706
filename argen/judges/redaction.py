"""Keep secrets out of kept error text: redact first, then shorten.

A server may echo the API key in an error body. Error text is kept in output rows, summaries and
logs, so every fragment of a known secret that is at least :data:`MIN_FRAGMENT` characters long
is replaced before the text is cut to length: cutting first could split the key at the cut and
leave most of it behind, where an exact-match replacement no longer finds it.

A key ArGen was never told about (one typed on the command line, one in a config file) is
recognised by its shape instead (:data:`KEY_SHAPES`, :func:`key_shaped`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

#: Fragments of a secret at least this long are redacted (shorter ones identify nothing).
MIN_FRAGMENT = 8
REDACTED = "[redacted]"

#: API keys and tokens as their issuers shape them. Each needs its prefix and a long random-looking
#: tail, so paths and names are not mistaken for keys.
KEY_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"sk-(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{20,}"  # OpenAI (sk-, sk-proj-), Anthropic (sk-ant-)
    r"|hf_[A-Za-z0-9]{20,}"  # Hugging Face
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|AIza[0-9A-Za-z_-]{35}"  # Google
    r"|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"  # a JWT
    r"|[Bb]earer\s+[A-Za-z0-9._~+/-]{16,}=*"  # an Authorization header's value
    r")"
)


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


#: What a refusal of a key in the config or on the command line advises.
KEY_ADVICE = ("keys are read only from environment variables: export it and name the variable, "
              "e.g. judge.api_key_env=OPENAI_API_KEY")


def key_shaped(text: str) -> bool:
    """Whether ``text`` holds something shaped like an API key or token (:data:`KEY_SHAPES`)."""
    return KEY_SHAPES.search(str(text)) is not None


def key_shaped_path(node: Any, prefix: str = "") -> str | None:
    """The dotted path of the first string value shaped like a key in a plain config (dicts and
    lists), or None: a key set in a config file is refused before anything records it."""
    if isinstance(node, Mapping):
        items: Iterable[tuple[Any, Any]] = node.items()
    elif isinstance(node, (list, tuple)):
        items = enumerate(node)
    else:
        return prefix.rstrip(".") or "value" if isinstance(node, str) and key_shaped(node) else None
    for key, value in items:
        found = key_shaped_path(value, f"{prefix}{key}.")
        if found:
            return found
    return None


def refuse_key_shaped_values(plain: Any) -> None:
    """Raise a ConfigError naming the first value shaped like a key in a plain config (not the value)."""
    from argen.errors import ConfigError

    found = key_shaped_path(plain)
    if found:
        raise ConfigError(found, f"looks like an API key or token (not shown); {KEY_ADVICE}")


def redact_key_shaped(text: str) -> str:
    """``text`` with everything shaped like an API key or token replaced by ``[redacted]``."""
    return KEY_SHAPES.sub(REDACTED, str(text))


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


__all__ = ["KEY_ADVICE", "KEY_SHAPES", "MIN_FRAGMENT", "REDACTED", "clean_error", "display_url", "key_shaped", "key_shaped_path", "redact",
           "redact_key_shaped", "refuse_key_shaped_values"]
