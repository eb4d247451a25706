"""How judge requests travel: per-loop clients and limits, a wall-clock deadline, retries.

* Each event loop gets its own HTTP client, semaphore and rate limiters (asyncio primitives and
  connections cannot cross loops); a client made inside ``asyncio.run`` is closed with its loop.
* :func:`within_deadline` bounds one attempt by wall-clock time, covering connect, headers and
  the whole body: an HTTP client's read timeout restarts with every byte, so a server that
  trickles a byte a second would otherwise hold an attempt for as long as it likes.
* :func:`retry_policy` retries 408/409/429/5xx, timeouts, dropped connections and invalid replies
  with exponential backoff plus jitter, waiting at least what ``Retry-After`` asks, within a
  total deadline per request (:class:`RetryDeadline`): a server answering 429 with
  ``Retry-After: 1000000000`` cannot hold a request past it.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openai
from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter
from tenacity.stop import stop_base

from argen.judges.replies import InvalidReply

# Statuses worth another attempt: request timeout, conflict, rate limit, and server errors.
RETRY_STATUSES = {408, 409, 429}
T = TypeVar("T")


class DeadlineExceeded(Exception):
    """One attempt (connect, headers and body together) took longer than its deadline.

    ``limit`` names the setting that set it, for messages (``judge.request_timeout_s=60``).
    """

    def __init__(self, seconds: float, limit: str | None = None):
        super().__init__(f"no complete reply within {seconds:g} s")
        self.seconds = seconds
        self.limit = limit or f"judge.request_timeout_s={seconds:g}"


async def within_deadline(coro: Awaitable[T], seconds: float, limit: str | None = None) -> T:
    """Await ``coro``, cancelling it after ``seconds`` of wall-clock time (:class:`DeadlineExceeded`)."""
    try:
        async with asyncio.timeout(seconds):
            return await coro
    except TimeoutError:
        raise DeadlineExceeded(seconds, limit) from None


class RetryDeadline(stop_base):
    """The total time one request may take, attempts and the waits between them together.

    A tenacity stop condition: no retry is made whose wait would end at or past the deadline
    (tenacity's ``stop_before_delay``, so no wait is ever longer than the time left), and
    :meth:`attempt_limit` gives each attempt at most the time left. The clock starts when the
    first attempt is sent (:meth:`start`), not when tenacity's loop does: the time a request
    queues for a concurrency slot or the rate limiters before its first attempt belongs to the
    batch, and counting it would fail requests that never reached the server.
    """

    def __init__(self, seconds: float, setting: str = "judge.retry_deadline_s"):
        self.seconds = float(seconds)
        self.setting = setting
        self.reached = False  # the deadline, not the attempt limit, ended the retries
        self.next_wait_s: float | None = None
        self._started: float | None = None

    def start(self) -> None:
        """Start the clock (at the first attempt; later calls do nothing)."""
        if self._started is None:
            self._started = time.monotonic()

    def elapsed_s(self) -> float:
        return 0.0 if self._started is None else time.monotonic() - self._started

    def attempt_limit(self, request_timeout_s: float) -> tuple[float, str]:
        """Seconds the next attempt may take, and the setting that limits it (for the message)."""
        self.start()
        left = max(0.0, self.seconds - self.elapsed_s())
        if left >= request_timeout_s:
            return request_timeout_s, f"judge.request_timeout_s={request_timeout_s:g}"
        return left, f"the {left:.2g} s left of {self.setting}={self.seconds:g}"

    def __call__(self, retry_state: RetryCallState) -> bool:
        wait = float(retry_state.upcoming_sleep or 0.0)
        if self.elapsed_s() + wait >= self.seconds:
            self.reached, self.next_wait_s = True, wait
            return True
        return False

    def note(self, attempts: int) -> str:
        """Why the retries stopped, for the row's failure reason."""
        why = f"{self.setting}={self.seconds:g} reached after {attempts} attempt{'s' if attempts != 1 else ''}"
        if self.next_wait_s and self.elapsed_s() < self.seconds:
            why += f" (the next wait, {self.next_wait_s:.3g} s, would end past it)"
        return why


@dataclass
class LoopState:
    """Objects bound to one event loop."""

    loop: asyncio.AbstractEventLoop
    client: Any
    semaphore: asyncio.Semaphore
    request_limiter: AsyncLimiter | None
    token_limiter: AsyncLimiter | None
    closer: Any = None
    format_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


async def _close_with_loop(client: Any):
    """An async generator that closes ``client`` when its loop shuts down.

    ``asyncio.run`` finalises every live async generator of its loop before closing it, so a
    client made inside ``asyncio.run`` has its connections closed in the right loop instead of
    leaking until garbage collection.
    """
    try:
        yield
    finally:
        await client.close()


def request_limiter(per_minute: float) -> AsyncLimiter:
    """A bucket that holds about one second's worth of requests (at least one).

    The average rate is ``per_minute``, and a run does not open with a minute's worth of requests
    in one burst.
    """
    period = max(1.0, 60.0 / per_minute)
    return AsyncLimiter(per_minute * period / 60.0, period)


async def new_loop_state(
    client: Any, *, max_concurrency: int, requests_per_minute: float | None, tokens_per_minute: float | None
) -> LoopState:
    """Limits and a closer for ``client`` in the running loop."""
    state = LoopState(
        loop=asyncio.get_running_loop(),
        client=client,
        semaphore=asyncio.Semaphore(max_concurrency),
        request_limiter=request_limiter(requests_per_minute) if requests_per_minute else None,
        token_limiter=AsyncLimiter(tokens_per_minute, 60.0) if tokens_per_minute else None,
    )
    state.closer = _close_with_loop(client)
    await state.closer.__anext__()
    return state


def retry_after_s(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` or ``Retry-After``: seconds or an HTTP date)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            parsed = email.utils.parsedate_tz(value) if name == "retry-after" else None
            if parsed is None:
                continue
            seconds = email.utils.mktime_tz(parsed) - time.time()
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


def is_retryable(exc: BaseException) -> bool:
    """Whether another attempt may succeed."""
    if isinstance(exc, (InvalidReply, DeadlineExceeded, openai.APIConnectionError)):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRY_STATUSES or exc.status_code >= 500
    return False


class BackoffHonouringRetryAfter:
    """Exponential backoff with jitter; when the server sent ``Retry-After``, wait at least that long.

    The wait is capped at ``max_s`` so one unreasonable header cannot stall a run for an hour.
    """

    def __init__(self, initial_s: float, max_s: float):
        self.max_s = max_s
        self._backoff = wait_exponential_jitter(multiplier=initial_s, max=max_s, jitter=initial_s)

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff = self._backoff(retry_state)
        hint = retry_after_s(retry_state.outcome.exception() if retry_state.outcome else None)
        if hint is None:
            return backoff
        # A little jitter on top of the hint keeps concurrent requests from returning in lockstep.
        return min(self.max_s, hint + backoff * 0.1)


def retry_policy(
    *, max_retries: int, backoff_initial_s: float, backoff_max_s: float, before_sleep: Callable[[RetryCallState], None],
    deadline: RetryDeadline | None = None,
) -> AsyncRetrying:
    """A tenacity loop: ``max_retries`` attempts after the first, retrying only what may improve,
    and (with ``deadline``) none that would start past the request's total deadline."""
    stop = stop_after_attempt(max_retries + 1)
    return AsyncRetrying(
        stop=stop if deadline is None else stop | deadline,
        wait=BackoffHonouringRetryAfter(backoff_initial_s, backoff_max_s),
        retry=retry_if_exception(is_retryable),
        before_sleep=before_sleep,
        reraise=True,
    )


__all__ = [
    "BackoffHonouringRetryAfter", "DeadlineExceeded", "LoopState", "RETRY_STATUSES", "RetryDeadline", "is_retryable",
    "new_loop_state", "request_limiter", "retry_after_s", "retry_policy", "within_deadline",
]
