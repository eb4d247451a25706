"""An LLM judge on any server that speaks OpenAI's chat-completions protocol.

One chat call per response returns the whole verdict (all three principles). Around that call:

* a persistent :class:`~argen.judges.cache.VerdictCache` answers repeated requests without a call;
* the structured-output form is found by probing the server (:mod:`argen.judges.formats`,
  :mod:`argen.judges.openai_preflight`) unless ``judge.response_format`` forces one; with
  ``preflight_lazy()`` that check waits for the first request the cache cannot answer, so a fully
  cached run needs no server;
* concurrency and rate limits, a wall-clock deadline per attempt and retries with backoff come
  from :mod:`argen.judges.transport`;
* every reply is read by :mod:`argen.judges.replies`: whatever its shape, it ends as a verdict or
  as a :class:`JudgeFailure` with a reason (its rewards become ``None``), never a crash or a
  made-up score;
* kept error text has the key's fragments redacted before it is cut (:mod:`argen.judges.redaction`).

The API key is read from the environment variable named by ``api_key_env`` when a client is
made, handed to the SDK, and never stored on the judge, put in a message, or logged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import openai
from tenacity import RetryCallState

from argen.errors import JudgeError
from argen.judges.base import Judge
from argen.judges.cache import Todo, VerdictCache, cache_key, judge_through_cache
from argen.judges.formats import FormatChoice, mentions_format, request_field
from argen.judges.judge_errors import ServerUnreachable, describe_failure, key_rejected, unreachable
from argen.judges.judge_stats import JudgeStats
from argen.judges.openai_preflight import ServerChecks
from argen.judges.openai_settings import build_settings
from argen.judges.prompts import RUBRIC_PROMPT_VERSION, SYSTEM_PROMPT, build_messages
from argen.judges.redaction import clean_error, display_url
from argen.judges.replies import InvalidReply, decode_body, message_text, usage_of, verdict_from_text
from argen.judges.transport import (
    DeadlineExceeded, LoopState, RetryDeadline, new_loop_state, retry_policy, within_deadline,
)
from argen.types import JudgeFailure, JudgeRequest, Verdict

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Sent as the key to servers that need none, so the SDK never falls back to $OPENAI_API_KEY and
# a real OpenAI key is never sent to a local server by accident.
NO_KEY_PLACEHOLDER = "no-key-required"


class OpenAIJudge(ServerChecks, Judge):
    """A judge backed by an OpenAI-compatible chat-completions server (OpenAI, vLLM, Ollama, llama.cpp).

    Build it from ``conf/judge/openai.yaml`` or ``conf/judge/local.yaml``; every keyword is a key
    there (:func:`argen.judges.openai_settings.build_settings` checks them). Rate and concurrency
    limits are for the whole run and are divided by ``$WORLD_SIZE``, because each training process
    scores only its own completions.
    """

    def __init__(self, **settings: Any):
        s = build_settings(**settings)
        for f in dataclasses.fields(s):
            setattr(self, f.name, getattr(s, f.name))
        self.prompt_version = RUBRIC_PROMPT_VERSION
        # What the server accepts, learnt by probing (or from its refusals) and kept for the run.
        forced = s.response_format != "auto"
        self._format: FormatChoice | None = FormatChoice(s.response_format, "forced") if forced else None
        self._max_tokens_field = "max_tokens"
        # Set once the server has been checked (preflight(), or lazily before the first cache miss).
        self._server_checked = False
        self._cache: VerdictCache | None = None
        self._states: dict[int, LoopState] = {}
        self._system_tokens = len(SYSTEM_PROMPT) // 4
        self._stats = JudgeStats(s.price_per_1k_prompt_tokens, s.price_per_1k_completion_tokens)

    # ------------------------------------------------------------------ public API
    @property
    def display_base_url(self) -> str:
        """The server's URL as shown in messages (credentials in the URL removed)."""
        return display_url(self.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)

    async def judge_batch(self, requests: Sequence[JudgeRequest]) -> list[Verdict | JudgeFailure]:
        """One verdict (or failure) per request, in order: cached ones without a call, the rest concurrently."""
        self._stats.add("requests", len(requests))
        keys = [self.key_for(r) for r in requests]
        # Each verdict is stored by _judge_one as it arrives (store=False): a run killed mid-batch
        # keeps the verdicts it paid for.
        return await judge_through_cache(
            requests, keys, self._get_cache(), self._judge_missing, judge=self.name,
            on_hits=lambda hits: self._stats.add("cache_hits", hits), store=False,
        )

    async def _judge_missing(self, todo: Todo) -> list[Verdict | JudgeFailure]:
        """Judge the distinct uncached requests concurrently, one chat call each."""
        state = await self._loop_state()
        try:
            await self._ensure_server(state)
        except ServerUnreachable as exc:
            # Only these responses needed the server: they fail with the reason (never a made-up
            # score, never cached), the cached ones of the batch stand, and the next batch that
            # needs the server tries it again.
            self._stats.add("connection_errors")
            self._stats.add("failures", len(todo))
            return [JudgeFailure(error=str(exc), attempts=0) for _ in todo]
        tasks = [asyncio.ensure_future(self._judge_one(state, key, req)) for key, (req, _) in todo.items()]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            raise

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
        attempt, probes not included); ``verdicts``: valid verdicts received; ``retries``;
        ``failures``: responses left without a verdict; error counts by kind; ``format_probes``;
        ``backoff_wait_s``; ``latency_p50_s`` and ``latency_p95_s`` over the last 20,000 calls;
        ``prompt_tokens``, ``completion_tokens`` as reported; ``est_cost_usd`` from the prices.
        """
        return self._stats.snapshot()

    def info(self) -> dict[str, Any]:
        """What a run records about this judge: name, model, server and the structured-output form."""
        choice = self._format.to_dict() if self._format else {"response_format": None, "chosen_by": "not yet probed"}
        return {"name": self.name, "model": self.model, "base_url": self.display_base_url, **choice}

    def preflight(self) -> None:
        """Fail fast, before any model loads: the key must be set, the server must answer, and the
        structured-output form it accepts is found (logged and kept in :meth:`info`).

        Asks ``GET {base_url}/models`` (free) and then sends tiny probe requests, strongest form
        first (none when ``judge.response_format`` forces one: then a one-token request). Raises
        :class:`JudgeError` naming the variable or the URL.
        """
        key = self._read_key()
        asyncio.run(self._preflight(key))

    def preflight_lazy(self) -> None:
        """The start-up check for commands that may be answered wholly from the cache (scoring,
        evaluation): the key variable is checked now; the server (reachability, model, response
        format) is checked before the first request the cache cannot answer.

        A server that is down then fails only the responses that needed it, each with the reason.
        """
        self._read_key()

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
    async def _judge_one(self, state: LoopState, key: str, req: JudgeRequest) -> Verdict | JudgeFailure:
        attempts = 0
        deadline = RetryDeadline(self.retry_deadline_s)
        retrying = retry_policy(
            max_retries=self.max_retries, backoff_initial_s=self.backoff_initial_s, backoff_max_s=self.backoff_max_s,
            before_sleep=self._before_sleep, deadline=deadline,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    verdict = await self._call(state, req, deadline)
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, this response ends as a failure with a reason
            if not isinstance(exc, (openai.OpenAIError, InvalidReply, DeadlineExceeded)):
                log.warning("judge %s: unexpected %s while judging; response left unscored", self.name, type(exc).__name__)
            self._stats.add("failures")
            reason = self._describe(exc)
            if deadline.reached:  # say that the deadline, not the attempt limit, ended it (the cut keeps this part)
                reason = clean_error(f"{deadline.note(attempts)}; last error: {reason}", self._secrets())
            return JudgeFailure(error=reason, attempts=attempts)
        self._stats.add("verdicts")
        cache = self._get_cache()
        if cache is not None:
            cache.put(key, verdict, judge=self.name)
        return verdict

    async def _call(self, state: LoopState, req: JudgeRequest, deadline: RetryDeadline | None = None) -> Verdict:
        messages = build_messages(req.prompt, req.response)
        estimate = self._system_tokens + (len(messages[1]["content"]) // 4) + self.max_tokens
        async with state.semaphore:
            if state.request_limiter is not None:
                await state.request_limiter.acquire()
            if state.token_limiter is not None:
                await state.token_limiter.acquire(min(estimate, state.token_limiter.max_rate))
            body = await self._exchange(state, messages, deadline)
        try:
            decoded = decode_body(body)
            self._stats.add_usage(usage_of(decoded))
            return verdict_from_text(message_text(decoded, self.max_tokens))
        except InvalidReply as exc:
            self._stats.count_error(exc)
            raise

    async def _exchange(self, state: LoopState, messages: list[dict[str, str]], deadline: RetryDeadline | None = None) -> bytes:
        """One HTTP exchange within the deadline (again when the server first refuses an option); the raw body.

        The attempt gets ``judge.request_timeout_s``, or less when the request's total deadline is nearer.
        """
        while True:
            assert self._format is not None
            fmt, length_field = self._format.response_format, self._max_tokens_field
            self._stats.add("calls")
            started = time.perf_counter()
            options: dict[str, Any] = {length_field: self.max_tokens}
            field = request_field(fmt)
            if field is not None:
                options["response_format"] = field
            seconds, limit = (self.request_timeout_s, None) if deadline is None else deadline.attempt_limit(self.request_timeout_s)
            try:
                raw = await within_deadline(
                    state.client.chat.completions.with_raw_response.create(
                        model=self.model, messages=messages, temperature=self.temperature, **options
                    ),
                    seconds, limit,
                )
            except openai.APIStatusError as exc:
                if fmt != "none" and self._format.chosen_by != "forced" and mentions_format(exc):
                    self._fall_back_from(fmt, exc)
                    continue
                text = f"{exc.message} {exc.body}".lower()
                if exc.status_code == 400 and length_field == "max_tokens" and "max_completion_tokens" in text:
                    # Newer OpenAI models take max_completion_tokens instead.
                    self._max_tokens_field = "max_completion_tokens"
                    continue
                self._stats.count_error(exc)
                raise
            except (openai.OpenAIError, DeadlineExceeded) as exc:
                self._stats.count_error(exc)
                raise
            self._stats.latencies.append(time.perf_counter() - started)
            return raw.http_response.content

    def _before_sleep(self, retry_state: RetryCallState) -> None:
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        self._stats.add("retries")
        self._stats.add("backoff_wait_s", wait)
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

    def _secrets(self) -> list[str]:
        # The key is looked up again rather than kept on the judge, so no attribute ever holds it.
        return [os.environ.get(self.api_key_env, "")] if self.api_key_env else []

    async def _loop_state(self) -> LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(id(loop))
        if state is not None and state.loop is loop:
            return state
        # Forget states of loops that are gone: the Scorer keeps one loop for the run, but a
        # script may call asyncio.run per batch. Their connections died with the loop.
        for loop_id, old in list(self._states.items()):
            if old.loop.is_closed() or loop_id == id(loop):
                del self._states[loop_id]
        client = openai.AsyncOpenAI(
            api_key=self._read_key(),
            base_url=self.base_url,
            timeout=self.request_timeout_s,
            max_retries=0,  # tenacity retries, so every attempt is counted and Retry-After is honoured
        )
        state = await new_loop_state(
            client, max_concurrency=self.max_concurrency, requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute,
        )
        self._states[id(loop)] = state
        return state

    def _get_cache(self) -> VerdictCache | None:
        if not self.cache_enabled:
            return None
        if self._cache is None:
            self._cache = VerdictCache(self.cache_path, memory_entries=self.cache_memory_entries)
        return self._cache

    def _describe(self, exc: BaseException | None) -> str:
        """A one-line reason for a failed attempt: secrets redacted first, then cut to 400 characters."""
        return describe_failure(exc, self.display_base_url, self.request_timeout_s, self._secrets())

    def _unreachable(self, exc: BaseException) -> str:
        return unreachable(exc, self.display_base_url, self.preflight_timeout_s, self._secrets())

    def _key_rejected(self, status: int) -> str:
        return key_rejected(self.display_base_url, status, self.api_key_env)


__all__ = ["InvalidReply", "NO_KEY_PLACEHOLDER", "OpenAIJudge"]
