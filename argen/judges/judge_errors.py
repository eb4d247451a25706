"""One-line reasons for what went wrong with a judge server, with secrets redacted before the cut."""

from __future__ import annotations

from collections.abc import Sequence

import openai

from argen.errors import JudgeError
from argen.judges.redaction import clean_error
from argen.judges.replies import InvalidReply
from argen.judges.transport import DeadlineExceeded


class ServerUnreachable(JudgeError):
    """Nothing answered at the judge server's URL (refused connection, no answer in time)."""


def describe_failure(exc: BaseException | None, url: str, timeout_s: float, secrets: Sequence[str]) -> str:
    """Why one attempt failed, in at most 400 characters, without the key."""
    if exc is None:
        text = "unknown error"
    elif isinstance(exc, DeadlineExceeded):
        text = f"no complete reply from {url} within {exc.limit} (connect, headers and body)"
    elif isinstance(exc, openai.APITimeoutError):
        text = f"no reply from {url} within judge.request_timeout_s={timeout_s:g}"
    elif isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        text = f"connection to {url} failed" + (f" ({type(cause).__name__}: {cause})" if cause else "")
    elif isinstance(exc, openai.APIStatusError):
        text = f"HTTP {exc.status_code} from {url}: {exc.message}"
    elif isinstance(exc, InvalidReply):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return clean_error(text, secrets)


def unreachable(exc: BaseException, url: str, preflight_timeout_s: float, secrets: Sequence[str]) -> str:
    """The start-up check could not reach the server."""
    if isinstance(exc, (openai.APITimeoutError, DeadlineExceeded)):
        reason = f"no answer within judge.preflight_timeout_s={preflight_timeout_s:g}"
    else:
        cause = exc.__cause__ or exc.__context__
        reason = "cannot connect" + (f": {type(cause).__name__}" if cause else "")
    return clean_error(f"judge server {url} is unreachable ({reason}); start it or fix judge.base_url", secrets, limit=600)


def key_rejected(url: str, status: int, api_key_env: str | None) -> str:
    """The server refused the key (named by its variable, never by value)."""
    return f"judge server {url} rejected the API key in ${api_key_env} (HTTP {status}); check the key or judge.api_key_env"


__all__ = ["ServerUnreachable", "describe_failure", "key_rejected", "unreachable"]
