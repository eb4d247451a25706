"""The OpenAI judge's checks of its server (reachability, key, model, and the structured-output
form it accepts, found by probing and revised when it refuses one).

They run at start-up when the judge's ``preflight()`` is called (training), or else before the
first request that the cache cannot answer (``preflight_lazy()``: scoring and evaluation, which
can be answered wholly from the cache with the server stopped).

A mixin of :class:`~argen.judges.openai_judge.OpenAIJudge`: it reads the judge's settings
(``model``, ``base_url``, timeouts), its ``_format`` and ``_stats``, and its message helpers.
"""

from __future__ import annotations

import logging
from typing import Any

import openai

from argen.errors import JudgeError
from argen.judges.formats import (
    FORMATS, PROBE_MAX_TOKENS, PROBE_MESSAGES, FormatChoice, NoFormatAccepted, detect_format, request_field, weaker,
)
from argen.judges.judge_errors import ServerUnreachable
from argen.judges.transport import DeadlineExceeded, LoopState, within_deadline

log = logging.getLogger("argen.judges.openai_judge")  # one logger for the judge, whichever file logs


class ServerChecks:
    """Preflight and response-format handling for an OpenAI-compatible judge."""

    async def _preflight(self, key: str) -> None:
        """The start-up check with a client of its own (``preflight()`` runs it outside any loop)."""
        client = openai.AsyncOpenAI(api_key=key, base_url=self.base_url, timeout=self.request_timeout_s, max_retries=0)
        try:
            await self._check_server(client)
        finally:
            await client.close()

    async def _ensure_server(self, state: LoopState) -> None:
        """The server check :meth:`_check_server`, once per judge, before the first request the cache
        cannot answer. A run answered wholly from the cache never reaches the server.

        Raises :class:`ServerUnreachable` when nothing answers (the next batch that needs the server
        checks again) and :class:`JudgeError` for a rejected key, an unknown model or a server that
        fails every test request.
        """
        if self._server_checked:
            return
        async with state.format_lock:
            if not self._server_checked:
                await self._check_server(state.client)

    async def _check_server(self, client: Any) -> None:
        """Ask ``GET {base_url}/models`` (free), then find the structured-output form by probing
        (or, when ``judge.response_format`` forces one, send one one-token request in that form)."""
        url = self.display_base_url
        deadline = self.preflight_timeout_s
        try:
            page = await within_deadline(client.models.list(), deadline)
            served = [m.id for m in getattr(page, "data", None) or [] if isinstance(getattr(m, "id", None), str)]
            if served and self.model not in served:
                log.warning(
                    "judge server %s does not list model %r (it lists %s); continuing",
                    url, self.model, ", ".join(served[:5]),
                )
        except openai.APIStatusError as exc:
            if exc.status_code in (401, 403):
                raise JudgeError(self._key_rejected(exc.status_code)) from None
            # No /models route (or it is broken): the probe requests decide.
        except (openai.APIConnectionError, DeadlineExceeded) as exc:
            raise ServerUnreachable(self._unreachable(exc)) from None
        except Exception:  # noqa: BLE001 - a model list of an odd shape proves the server is up
            pass
        # Probes are generations, as slow to start as any judge request on a busy local server.
        deadline = self.request_timeout_s
        try:
            if self._format is None:
                self._format = await detect_format(lambda fmt: self._probe(client, fmt, deadline))
                self._log_format()
            else:
                # A forced form: one tiny request in that form, to surface a refusal now.
                await self._probe(client, self._format.response_format, deadline, max_tokens=1)
        except DeadlineExceeded as exc:
            raise JudgeError(
                f"judge server {url} answered no test request within judge.request_timeout_s={exc.seconds:g}; "
                "is it overloaded, or is the timeout too short for this model?"
            ) from None
        except openai.APIConnectionError as exc:
            raise ServerUnreachable(self._unreachable(exc)) from None
        except NoFormatAccepted as exc:
            self._probe_failed(exc.last)
        except openai.APIStatusError as exc:
            self._probe_failed(exc)
        if self._format is None:
            # Every probe got a 400 or the like (warned about): start from the strongest form; the
            # run-time fallback still moves down when the server names the format in a refusal.
            self._format = FormatChoice(FORMATS[0], "default")
        self._server_checked = True

    def _probe_failed(self, exc: BaseException) -> None:
        url = self.display_base_url
        status = getattr(exc, "status_code", None)
        if status in (401, 403):
            raise JudgeError(self._key_rejected(status)) from None
        if status == 404:
            raise JudgeError(f"judge server {url} does not serve model '{self.model}' (HTTP 404); check judge.model") from None
        if status is not None and status >= 500:
            raise JudgeError(
                f"judge server {url} answered HTTP {status} to a test request: {self._describe(exc)}; is it healthy?"
            ) from None
        # 400/429 and the like: the server is up and knows us; the real requests will tell more.
        log.warning("judge server %s answered HTTP %s to a test request; continuing", url, status)

    async def _probe(self, client: Any, fmt: str, deadline: float, max_tokens: int = PROBE_MAX_TOKENS) -> None:
        self._stats.add("format_probes")
        options: dict[str, Any] = {self._max_tokens_field: max_tokens}
        field = request_field(fmt)
        if field is not None:
            options["response_format"] = field
        await within_deadline(
            client.chat.completions.with_raw_response.create(
                model=self.model, messages=PROBE_MESSAGES, temperature=0, **options
            ),
            deadline,
        )

    def _log_format(self) -> None:
        assert self._format is not None
        refused = ", ".join(f"{k} ({v})" for k, v in self._format.refused.items())
        log.warning(
            "judge %s: server %s takes response_format %s%s",
            self.name, self.display_base_url, self._format.response_format, f"; it refused {refused}" if refused else "",
        )

    def _fall_back_from(self, fmt: str, exc: openai.APIStatusError) -> None:
        """The server refused ``fmt`` mid-run: use the next weaker form for the rest of the run."""
        assert self._format is not None
        if self._format.response_format == fmt:  # concurrent requests may all see the refusal; switch once
            step = weaker(fmt) or "none"
            self._format = FormatChoice(step, "fallback", {**self._format.refused, fmt: f"HTTP {exc.status_code}"})
            self._stats.counters["schema_fallback"] = 1
            log.warning(
                "judge server %s refused response_format %s (HTTP %s); using %s for the rest of this run",
                self.display_base_url, fmt, exc.status_code, step,
            )


__all__ = ["ServerChecks"]
