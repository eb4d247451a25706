"""An LLM judge on any server that speaks OpenAI's chat-completions protocol.

One chat call per response returns the whole verdict (all three principles), constrained by the
verdict's JSON schema. Around that call:

* a persistent :class:`~argen.judges.cache.VerdictCache` answers repeated requests without a call;
* an ``asyncio.Semaphore`` bounds concurrent requests, and ``aiolimiter`` leaky buckets bound
  requests and tokens per minute (per process: the limits are divided by ``$WORLD_SIZE``);
* ``tenacity`` retries 429s, 5xx replies, timeouts, dropped connections and replies that fail
  verdict validation, with exponential backoff plus jitter, waiting at least what ``Retry-After``
  asks. The SDK's own retries are off so that every attempt is counted here;
* a response that still has no valid verdict becomes a :class:`JudgeFailure` (its rewards become
  ``None``), never a made-up score.

The API key is read from the environment variable named by ``api_key_env`` when a client is
made, handed to the SDK, and never stored on the judge, put in a message, or logged.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import os
import re
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai
from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from argen.errors import ConfigError, JudgeError
from argen.judges.base import Judge
from argen.judges.cache import VerdictCache, cache_key, default_cache_path
from argen.judges.prompts import RUBRIC_PROMPT_VERSION, SYSTEM_PROMPT, build_messages, response_format
from argen.scoring.verdict import JudgeFailure, JudgeRequest, Verdict, VerdictValidationError

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RESPONSE_FORMATS = ("json_schema", "json_object", "none")
# Sent as the key to servers that need none, so the SDK never falls back to $OPENAI_API_KEY and
# a real OpenAI key is never sent to a local server by accident.
NO_KEY_PLACEHOLDER = "no-key-required"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Statuses worth another attempt: request timeout, conflict, rate limit, and server errors.
_RETRY_STATUSES = {408, 409, 429}
_LATENCY_WINDOW = 20_000


class InvalidReply(Exception):
    """The server answered, but its reply is not a valid verdict (not JSON, a missing field, out of range)."""


@dataclass
class _LoopState:
    """Objects bound to one event loop (asyncio primitives and HTTP connections cannot cross loops)."""

    loop: asyncio.AbstractEventLoop
    client: Any
    semaphore: asyncio.Semaphore
    request_limiter: AsyncLimiter | None
    token_limiter: AsyncLimiter | None
    closer: Any = None


async def _close_with_loop(client: Any):
    """An async generator that closes ``client`` when its loop shuts down.

    ``asyncio.run`` finalises every live async generator of its loop before closing it, so a
    client made inside ``asyncio.run`` (as ``Scorer.score_blocking`` does per call) has its
    connections closed in the right loop instead of leaking until garbage collection.
    """
    try:
        yield
    finally:
        await client.close()


def _world_size() -> int:
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))
    except ValueError:
        return 1


def _request_limiter(per_minute: float) -> AsyncLimiter:
    # A bucket that holds about one second's worth of requests (at least one): the average rate
    # is per_minute, and a run does not open with a minute's worth of requests in one burst.
    period = max(1.0, 60.0 / per_minute)
    return AsyncLimiter(per_minute * period / 60.0, period)


def _retry_after_s(exc: BaseException | None) -> float | None:
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


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, (InvalidReply, openai.APIConnectionError)):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in _RETRY_STATUSES or exc.status_code >= 500
    return False


class _BackoffHonouringRetryAfter:
    """Exponential backoff with jitter; when the server sent ``Retry-After``, wait at least that long.

    The wait is capped at ``max_s`` so one unreasonable header cannot stall a run for an hour.
    """

    def __init__(self, initial_s: float, max_s: float):
        self.max_s = max_s
        self._backoff = wait_exponential_jitter(multiplier=initial_s, max=max_s, jitter=initial_s)

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff = self._backoff(retry_state)
        hint = _retry_after_s(retry_state.outcome.exception() if retry_state.outcome else None)
        if hint is None:
            return backoff
        # A little jitter on top of the hint keeps concurrent requests from returning in lockstep.
        return min(self.max_s, hint + backoff * 0.1)


def _parse_reply(content: str | None) -> Verdict:
    """The verdict in a reply's text; :class:`InvalidReply` when it is not one."""
    if content is None or not content.strip():
        raise InvalidReply("empty reply")
    text = content.strip()
    # Some local servers wrap JSON in a Markdown code fence even in JSON mode.
    if text.startswith("```"):
        text = re.sub(r"^```[A-Za-z]*\s*|\s*```$", "", text)

    def reject_constant(name: str) -> float:
        raise ValueError(f"{name} is not a valid score")

    try:
        data = json.loads(text, parse_constant=reject_constant)
    except ValueError as exc:
        raise InvalidReply(f"reply is not valid JSON ({exc})") from None
    try:
        return Verdict.from_dict(data)
    except VerdictValidationError as exc:
        raise InvalidReply(f"reply is not a valid verdict: {exc}") from None


def _display_url(url: str) -> str:
    """``url`` without any user:password part, for messages."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        parts = parts._replace(netloc=host)
    return urlunsplit(parts)


class OpenAIJudge(Judge):
    """A judge backed by an OpenAI-compatible chat-completions server (OpenAI, vLLM, Ollama, llama.cpp).

    Build it from ``conf/judge/openai.yaml`` or ``conf/judge/local.yaml``; every keyword below is
    a key there. Rate and concurrency limits are for the whole run and are divided by
    ``$WORLD_SIZE``, because each training process scores only its own completions.
    """

    def __init__(
        self,
        *,
        model: str = "gpt-4o-mini",
        name: str | None = None,
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        require_key: bool = True,
        temperature: float = 0.2,
        max_tokens: int = 400,
        request_timeout_s: float = 60.0,
        preflight_timeout_s: float = 5.0,
        max_concurrency: int = 16,
        requests_per_minute: float | None = 500,
        tokens_per_minute: float | None = 200_000,
        max_retries: int = 5,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 60.0,
        response_format: str = "json_schema",
        cache: Mapping[str, Any] | None = None,
        rubric_version: str = "unversioned",
        price_per_1k_prompt_tokens: float = 0.0,
        price_per_1k_completion_tokens: float = 0.0,
    ):
        if not model:
            raise ConfigError("judge.model", "is required (the model name the server serves)")
        if api_key_env is not None and api_key_env != "" and not _ENV_NAME.match(str(api_key_env)):
            # Never echo the value: a user who pasted the key itself here must not see it in a log.
            raise ConfigError(
                "judge.api_key_env",
                "must be the NAME of an environment variable (e.g. OPENAI_API_KEY), not the key itself",
            )
        if base_url and urlsplit(str(base_url)).scheme not in ("http", "https"):
            raise ConfigError("judge.base_url", "must be an http(s) URL such as http://127.0.0.1:8000/v1 (or null for OpenAI)")
        if require_key and not api_key_env:
            raise ConfigError("judge.api_key_env", "is required when judge.require_key is true")
        if response_format not in RESPONSE_FORMATS:
            raise ConfigError("judge.response_format", f"must be one of {', '.join(RESPONSE_FORMATS)}, got {response_format!r}")
        for key, value in (
            ("max_tokens", max_tokens),
            ("request_timeout_s", request_timeout_s),
            ("preflight_timeout_s", preflight_timeout_s),
            ("max_concurrency", max_concurrency),
        ):
            if value is None or float(value) <= 0:
                raise ConfigError(f"judge.{key}", f"must be > 0, got {value!r}")
        for key, value in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)):
            if value is not None and float(value) < 0:
                raise ConfigError(f"judge.{key}", f"must be >= 0 (0 or null: no limit), got {value!r}")
        if int(max_retries) < 0:
            raise ConfigError("judge.max_retries", f"must be >= 0, got {max_retries!r}")
        if not 0.0 <= float(temperature) <= 2.0:
            raise ConfigError("judge.temperature", f"must be in [0, 2], got {temperature!r}")

        self.model = str(model)
        self.name = str(name) if name else f"openai:{self.model}"
        self.base_url = str(base_url).rstrip("/") if base_url else None
        self.api_key_env = str(api_key_env) if api_key_env else None
        self.require_key = bool(require_key)
        self.temperature = float(temperature)
        self.max_tokens = int(max_tokens)
        self.request_timeout_s = float(request_timeout_s)
        self.preflight_timeout_s = float(preflight_timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_initial_s = float(backoff_initial_s)
        self.backoff_max_s = float(backoff_max_s)
        self.rubric_version = str(rubric_version)
        self.prompt_version = RUBRIC_PROMPT_VERSION
        self.price_per_1k_prompt_tokens = float(price_per_1k_prompt_tokens or 0.0)
        self.price_per_1k_completion_tokens = float(price_per_1k_completion_tokens or 0.0)

        world = _world_size()
        self.world_size = world
        self.max_concurrency = max(1, math.ceil(int(max_concurrency) / world))
        self.requests_per_minute = float(requests_per_minute) / world if requests_per_minute else None
        self.tokens_per_minute = float(tokens_per_minute) / world if tokens_per_minute else None

        # What the server accepts, learnt from its refusals and kept for the rest of the run:
        # the response_format in use, and the name of the reply-length field.
        self._format = response_format
        self._max_tokens_field = "max_tokens"

        cache = dict(cache or {})
        unknown = set(cache) - {"enabled", "path", "memory_entries"}
        if unknown:
            raise ConfigError(f"judge.cache.{sorted(unknown)[0]}", "is not a cache setting (enabled, path, memory_entries)")
        self.cache_enabled = bool(cache.get("enabled", True))
        self.cache_path = Path(cache["path"]).expanduser() if cache.get("path") else default_cache_path()
        self._cache_memory_entries = int(cache.get("memory_entries", 200_000))
        self._cache: VerdictCache | None = None

        self._states: dict[int, _LoopState] = {}
        self._system_tokens = len(SYSTEM_PROMPT) // 4
        self._latencies: deque[float] = deque(maxlen=_LATENCY_WINDOW)
        self._counters: dict[str, float] = dict.fromkeys(
            (
                "requests",
                "cache_hits",
                "calls",
                "verdicts",
                "retries",
                "failures",
                "invalid_replies",
                "rate_limited",
                "server_errors",
                "timeouts",
                "connection_errors",
                "client_errors",
                "schema_fallback",
                "backoff_wait_s",
                "prompt_tokens",
                "completion_tokens",
            ),
            0,
        )

    # ------------------------------------------------------------------ public API
    @property
    def display_base_url(self) -> str:
        """The server's URL as shown in messages (credentials in the URL removed)."""
        return _display_url(self.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)

    async def judge_batch(self, requests: Sequence[JudgeRequest]) -> list[Verdict | JudgeFailure]:
        """One verdict (or failure) per request, in order: cached ones without a call, the rest concurrently."""
        n = len(requests)
        self._counters["requests"] += n
        keys = [self.key_for(r) for r in requests]
        cache = self._get_cache()
        distinct = list(dict.fromkeys(keys))
        cached = cache.get_many(distinct) if cache is not None else {}
        results: list[Verdict | JudgeFailure | None] = [None] * n
        todo: dict[str, tuple[JudgeRequest, list[int]]] = {}
        for i, (key, req) in enumerate(zip(keys, requests)):
            hit = cached.get(key)
            if hit is not None:
                results[i] = hit
                self._counters["cache_hits"] += 1
            else:
                todo.setdefault(key, (req, []))[1].append(i)
        if todo:
            state = await self._loop_state()
            tasks = [asyncio.ensure_future(self._judge_one(state, key, req)) for key, (req, _) in todo.items()]
            try:
                outcomes = await asyncio.gather(*tasks)
            except BaseException:
                for task in tasks:
                    task.cancel()
                raise
            for (_, indices), outcome in zip(todo.values(), outcomes):
                for i in indices:
                    results[i] = outcome
        return results  # type: ignore[return-value]

    def key_for(self, request: JudgeRequest) -> str:
        """The cache key of ``request`` under this judge's model, rubric version and prompt version."""
        return cache_key(
            judge=self.name,
            model=self.model,
            rubric_version=self.rubric_version,
            prompt_version=self.prompt_version,
            request=request,
        )

    def stats(self) -> dict[str, float]:
        """Cumulative accounting for this process, as flat numbers (log deltas per step).

        ``requests``: responses asked about; ``cache_hits``; ``calls``: chat requests sent (every
        attempt); ``verdicts``: valid verdicts received; ``retries``; ``failures``: responses left
        without a verdict; error counts by kind; ``backoff_wait_s``; ``latency_p50_s`` and
        ``latency_p95_s`` over the last 20,000 calls; ``prompt_tokens``, ``completion_tokens`` as
        reported by the server; ``est_cost_usd`` from the configured prices.
        """
        out: dict[str, float] = dict(self._counters)
        latencies = sorted(self._latencies)
        out["latency_p50_s"] = _quantile(latencies, 0.50)
        out["latency_p95_s"] = _quantile(latencies, 0.95)
        out["est_cost_usd"] = (
            out["prompt_tokens"] / 1000.0 * self.price_per_1k_prompt_tokens
            + out["completion_tokens"] / 1000.0 * self.price_per_1k_completion_tokens
        )
        requests = out["requests"]
        out["cache_hit_rate"] = out["cache_hits"] / requests if requests else 0.0
        return out

    def preflight(self) -> None:
        """Fail fast, before any model loads: the key variable must be set and the server must answer.

        Asks ``GET {base_url}/models`` (cheap, free); a server without that route gets a one-token
        chat request instead. Raises :class:`JudgeError` naming the variable or the URL.
        """
        key = self._read_key()
        url = self.display_base_url
        client = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=self.preflight_timeout_s, max_retries=0)
        try:
            try:
                page = client.models.list()
                served = [m.id for m in getattr(page, "data", None) or [] if getattr(m, "id", None)]
                if served and self.model not in served:
                    log.warning(
                        "judge server %s does not list model %r (it lists %s); continuing",
                        url, self.model, ", ".join(served[:5]),
                    )
                return
            except openai.APIStatusError as exc:
                if exc.status_code in (401, 403):
                    raise JudgeError(self._key_rejected(exc.status_code)) from None
                # No /models route (or it is broken): a one-token chat request decides.
            except openai.APIConnectionError as exc:
                raise JudgeError(self._unreachable(exc)) from None
            try:
                client.chat.completions.create(
                    model=self.model,
                    messages=[{"role": "user", "content": "Reply with OK."}],
                    max_tokens=1,
                    temperature=0,
                )
            except openai.APIConnectionError as exc:
                raise JudgeError(self._unreachable(exc)) from None
            except openai.APIStatusError as exc:
                if exc.status_code in (401, 403):
                    raise JudgeError(self._key_rejected(exc.status_code)) from None
                if exc.status_code == 404:
                    raise JudgeError(f"judge server {url} does not serve model '{self.model}' (HTTP 404); check judge.model") from None
                if exc.status_code >= 500:
                    raise JudgeError(f"judge server {url} answered HTTP {exc.status_code} to a test request; is it healthy?") from None
                # 400/429 and the like: the server is up and knows us; the real requests will tell more.
                log.warning("judge server %s answered HTTP %s to a test request; continuing", url, exc.status_code)
        finally:
            client.close()

    async def aclose(self) -> None:
        """Close the HTTP client of the running loop and the cache connection."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        for loop_id, state in list(self._states.items()):
            if state.loop is loop:
                await state.closer.aclose()  # closes the client
            del self._states[loop_id]
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def __repr__(self) -> str:
        return (
            f"OpenAIJudge(name={self.name!r}, model={self.model!r}, base_url={self.display_base_url!r}, "
            f"api_key_env={self.api_key_env!r})"
        )

    # ------------------------------------------------------------------ one response
    async def _judge_one(self, state: _LoopState, key: str, req: JudgeRequest) -> Verdict | JudgeFailure:
        attempts = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=_BackoffHonouringRetryAfter(self.backoff_initial_s, self.backoff_max_s),
            retry=retry_if_exception(_is_retryable),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    verdict = await self._call(state, req)
        except (openai.OpenAIError, InvalidReply) as exc:
            self._counters["failures"] += 1
            return JudgeFailure(error=self._describe(exc), attempts=attempts)
        self._counters["verdicts"] += 1
        cache = self._get_cache()
        if cache is not None:
            cache.put(key, verdict, judge=self.name)
        return verdict

    async def _call(self, state: _LoopState, req: JudgeRequest) -> Verdict:
        messages = build_messages(req.prompt, req.response)
        estimate = self._system_tokens + (len(messages[1]["content"]) // 4) + self.max_tokens
        async with state.semaphore:
            if state.request_limiter is not None:
                await state.request_limiter.acquire()
            if state.token_limiter is not None:
                await state.token_limiter.acquire(min(estimate, state.token_limiter.max_rate))
            completion = await self._create(state, messages)
        choice = completion.choices[0] if getattr(completion, "choices", None) else None
        if choice is None or getattr(choice, "message", None) is None:
            self._counters["invalid_replies"] += 1
            raise InvalidReply("reply has no choices")
        try:
            refusal = getattr(choice.message, "refusal", None)
            if refusal:
                raise InvalidReply(f"judge refused: {str(refusal)[:200]}")
            if getattr(choice, "finish_reason", None) == "length":
                raise InvalidReply(f"reply cut off at judge.max_tokens={self.max_tokens}")
            return _parse_reply(choice.message.content)
        except InvalidReply:
            self._counters["invalid_replies"] += 1
            raise

    async def _create(self, state: _LoopState, messages: list[dict[str, str]]) -> Any:
        """One HTTP exchange (two when the server first refuses an option), counted and timed."""
        while True:
            fmt, length_field = self._format, self._max_tokens_field
            self._counters["calls"] += 1
            started = time.perf_counter()
            options: dict[str, Any] = {length_field: self.max_tokens}
            if fmt != "none":
                options["response_format"] = response_format(fmt)
            try:
                completion = await state.client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    temperature=self.temperature,
                    **options,
                )
            except openai.BadRequestError as exc:
                text = f"{exc.message} {exc.body}".lower()
                if fmt != "none" and ("response_format" in text or "json_schema" in text or "json_object" in text):
                    self._fall_back_from(fmt, exc)
                    continue
                if length_field == "max_tokens" and "max_completion_tokens" in text:
                    # Newer OpenAI models take max_completion_tokens instead.
                    self._max_tokens_field = "max_completion_tokens"
                    continue
                self._count_error(exc)
                raise
            except openai.OpenAIError as exc:
                self._count_error(exc)
                raise
            except ValueError as exc:  # a body that is not JSON at all
                self._counters["invalid_replies"] += 1
                raise InvalidReply(f"reply body is not JSON ({exc})") from None
            self._latencies.append(time.perf_counter() - started)
            usage = getattr(completion, "usage", None)
            if usage is not None:
                self._counters["prompt_tokens"] += int(getattr(usage, "prompt_tokens", 0) or 0)
                self._counters["completion_tokens"] += int(getattr(usage, "completion_tokens", 0) or 0)
            return completion

    def _fall_back_from(self, fmt: str, exc: openai.BadRequestError) -> None:
        """The server refused ``fmt``: use the next weaker format for the rest of the run.

        json_schema -> json_object -> none (no response_format; the prompt still asks for JSON
        and every reply is validated either way).
        """
        weaker = {"json_schema": "json_object", "json_object": "none"}[fmt]
        if self._format == fmt:  # concurrent requests may all see the refusal; switch once
            self._format = weaker
            self._counters["schema_fallback"] = 1
            log.warning(
                "judge server %s refused response_format %s (HTTP %s); using %s for the rest of this run",
                self.display_base_url, fmt, exc.status_code, weaker,
            )

    def _count_error(self, exc: BaseException) -> None:
        if isinstance(exc, openai.APITimeoutError):
            self._counters["timeouts"] += 1
        elif isinstance(exc, openai.APIConnectionError):
            self._counters["connection_errors"] += 1
        elif isinstance(exc, openai.APIStatusError):
            if exc.status_code == 429:
                self._counters["rate_limited"] += 1
            elif exc.status_code >= 500:
                self._counters["server_errors"] += 1
            else:
                self._counters["client_errors"] += 1

    def _before_sleep(self, retry_state: RetryCallState) -> None:
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        self._counters["retries"] += 1
        self._counters["backoff_wait_s"] += wait
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        log.debug("judge %s: attempt %d failed (%s); retrying in %.2fs", self.name, retry_state.attempt_number, self._describe(exc), wait)

    # ------------------------------------------------------------------ helpers
    def _read_key(self) -> str:
        """The API key from the configured variable (or a placeholder for servers that need none)."""
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        if key.strip():
            return key.strip()
        if self.require_key:
            raise JudgeError(
                f"judge {self.name}: environment variable {self.api_key_env} is not set; export the API key there "
                f"(judge.api_key_env names the variable), or use judge=local / judge.require_key=false for a server without keys"
            )
        return NO_KEY_PLACEHOLDER

    async def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(id(loop))
        if state is not None and state.loop is loop:
            return state
        # Forget states of loops that are gone (asyncio.run makes a new loop per call); their
        # connections died with the loop.
        for loop_id, old in list(self._states.items()):
            if old.loop.is_closed() or loop_id == id(loop):
                del self._states[loop_id]
        key = self._read_key()
        client = openai.AsyncOpenAI(
            api_key=key,
            base_url=self.base_url,
            timeout=self.request_timeout_s,
            max_retries=0,  # tenacity retries, so every attempt is counted and Retry-After is honoured
        )
        state = _LoopState(
            loop=loop,
            client=client,
            semaphore=asyncio.Semaphore(self.max_concurrency),
            request_limiter=_request_limiter(self.requests_per_minute) if self.requests_per_minute else None,
            token_limiter=AsyncLimiter(self.tokens_per_minute, 60.0) if self.tokens_per_minute else None,
        )
        state.closer = _close_with_loop(client)
        await state.closer.__anext__()
        self._states[id(loop)] = state
        return state

    def _get_cache(self) -> VerdictCache | None:
        if not self.cache_enabled:
            return None
        if self._cache is None:
            self._cache = VerdictCache(self.cache_path, memory_entries=self._cache_memory_entries)
        return self._cache

    def _describe(self, exc: BaseException | None) -> str:
        """A one-line reason for a failed attempt, without the key."""
        url = self.display_base_url
        if exc is None:
            text = "unknown error"
        elif isinstance(exc, openai.APITimeoutError):
            text = f"no reply from {url} within judge.request_timeout_s={self.request_timeout_s:g}"
        elif isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            text = f"connection to {url} failed" + (f" ({type(cause).__name__}: {cause})" if cause else "")
        elif isinstance(exc, openai.APIStatusError):
            text = f"HTTP {exc.status_code} from {url}: {exc.message}"
        else:
            text = str(exc)
        text = " ".join(text.split())[:400]
        return self._redact(text)

    def _redact(self, text: str) -> str:
        # The key is looked up again rather than kept on the judge, so no attribute ever holds it.
        secret = os.environ.get(self.api_key_env, "").strip() if self.api_key_env else ""
        if len(secret) >= 8 and secret in text:
            text = text.replace(secret, "[redacted]")
        return text

    def _unreachable(self, exc: BaseException) -> str:
        if isinstance(exc, openai.APITimeoutError):
            reason = f"no answer within judge.preflight_timeout_s={self.preflight_timeout_s:g}"
        else:
            cause = exc.__cause__ or exc.__context__
            reason = "cannot connect" + (f": {type(cause).__name__}" if cause else "")
        return self._redact(f"judge server {self.display_base_url} is unreachable ({reason}); start it or fix judge.base_url")

    def _key_rejected(self, status: int) -> str:
        return (
            f"judge server {self.display_base_url} rejected the API key in ${self.api_key_env} (HTTP {status}); "
            "check the key or judge.api_key_env"
        )


def _quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return float(sorted_values[index])


__all__ = ["InvalidReply", "NO_KEY_PLACEHOLDER", "OpenAIJudge"]
