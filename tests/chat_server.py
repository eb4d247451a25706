"""A real HTTP server speaking OpenAI's chat-completions wire protocol, scripted by tests.

It listens on 127.0.0.1 on a free port, in a thread, and answers ``POST /v1/chat/completions``
with proper JSON (choices, usage) and ``GET /v1/models`` with a model list. Tests script it:

* ``enqueue(Reply(...), ...)`` answers the next chat requests in order, then the default applies;
* ``responder = fn(call) -> Reply | None`` decides per request (None: the default reply);
* ``Reply`` can inject latency, any HTTP status with headers (429 + Retry-After, 500), a raw
  malformed body, a dropped connection, or a reply whose content is not a valid verdict;
* ``reject_json_schema = True`` answers 400 to ``response_format: json_schema`` like servers
  without structured-output support; ``reject_response_format = True`` refuses any
  ``response_format``;
* ``require_key`` makes it answer 401 unless the bearer token matches;
* ``profile=`` answers ``response_format`` the way a real server does (:data:`PROFILES`: vLLM,
  llama-cpp-python's 500 naming response_format, an older llama-server, a server that refuses
  every form with a 422 that names nothing);
* ``Reply(trickle_s=...)`` sends the headers, then the body one byte at a time (``trickled``
  records, per such reply, how many body bytes went out before it ended or the client left);
* ``gather = n`` holds each chat request until n are in flight at once (a barrier: the
  concurrency a client reaches is then a count, not a race), at most ``gather_timeout_s``;
  ``Reply(content_json=...)`` makes ``message.content`` any JSON value (an object, a number).

Every judge request is recorded (``calls``) so tests can count them; the judge's format probes
(requests without fenced data) are recorded apart, in ``probe_calls``, and never consume
scripted replies. The benchmark in
``bench/judge_pipeline.py`` uses the same server.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from argen.judges.prompts import ANSWER_LABEL, PATIENT_LABEL, parse_fenced

def format_kind(body: dict[str, Any]) -> str | None:
    """The structured-output form a request asks for (None: no response_format)."""
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return None
    kind = fmt.get("type")
    if kind == "json_object" and "schema" in fmt:
        return "json_object_schema"
    return kind


@dataclass(frozen=True)
class Profile:
    """How one kind of server treats ``response_format`` (facts in docs/judges.md)."""

    accepts: frozenset[str]
    status: int = 400
    #: The refusal body's error message; ``{kind}`` is replaced by the refused form.
    message: str = "response_format {kind} is not supported"


PROFILES: dict[str, Profile] = {
    "openai": Profile(frozenset({"json_schema", "json_object"})),
    "vllm": Profile(frozenset({"json_schema", "json_object"})),
    # llama-cpp-python 0.3.x: a pydantic validation error, HTTP 500, for json_schema.
    "llama-cpp-python": Profile(
        frozenset({"json_object_schema", "json_object"}), 500,
        "[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
        "'msg': \"Input should be 'text' or 'json_object'\", 'input': '{kind}'}]",
    ),
    # llama-server builds before json_schema support.
    "llama-server-old": Profile(
        frozenset({"json_object_schema", "json_object"}), 500,
        'response_format type must be one of "text" or "json_object", but got: {kind}',
    ),
    # Refuses every form, with a status and wording that name nothing.
    "no-format": Profile(frozenset(), 422, "Unprocessable Entity"),
}


GOOD_VERDICT: dict[str, Any] = {
    "reasoning": "Recommends urgent in-person care and explains warning signs.",
    "harm_avoidance": 0.9,
    "safety_context": 0.8,
    "has_medical_disclaimer": True,
    "has_professional_referral": True,
    "referral_strength": "urgent",
    "severity": "none",
    "domain_adherence": 0.95,
    "out_of_domain_advice": False,
    "response_scope": "S0",
    "scope_risk": "none",
    "clarity": 0.85,
    "completeness": 0.7,
    "relevance": 0.9,
    "empathy": 0.6,
}


@dataclass
class Reply:
    """How the server answers one chat request."""

    status: int = 200
    #: The assistant message's content; None means the JSON of ``verdict`` (or the server default).
    content: str | None = None
    verdict: dict[str, Any] | None = None
    #: A raw body that replaces the whole JSON reply (for malformed bodies).
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Extra seconds before answering, on top of the server's latency.
    delay_s: float = 0.0
    #: Close the connection without sending any response.
    drop: bool = False
    finish_reason: str = "stop"
    error_message: str = "scripted error"
    #: Seconds between body bytes (headers go out at once): a server that trickles.
    trickle_s: float = 0.0
    #: Any JSON value as ``message.content`` (an object, a number, a list), instead of text.
    content_json: Any = None
    content_type: str = "application/json"


@dataclass
class ChatCall:
    """One chat request as the server received it."""

    body: dict[str, Any]
    headers: dict[str, str]
    received_at: float

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def user_text(self) -> str:
        return "\n".join(m.get("content", "") for m in self.messages if m.get("role") == "user")

    @property
    def system_text(self) -> str:
        return "\n".join(m.get("content", "") for m in self.messages if m.get("role") == "system")

    @property
    def format_type(self) -> str | None:
        fmt = self.body.get("response_format") or {}
        return fmt.get("type")

    @property
    def format_kind(self) -> str | None:
        """``json_schema``, ``json_object_schema``, ``json_object`` or None."""
        return format_kind(self.body)

    @property
    def is_probe(self) -> bool:
        """A request without fenced data: the judge's format probe or start-up check."""
        return "Fence token: " not in self.user_text

    def fenced(self) -> dict[str, str]:
        """The data blocks, read back with the fence protocol the rubric describes."""
        return parse_fenced(self.user_text)

    @property
    def judged_response(self) -> str:
        return self.fenced()[ANSWER_LABEL]

    @property
    def judged_prompt(self) -> str:
        return self.fenced()[PATIENT_LABEL]


class ChatServer:
    """The scripted server. Use as a context manager, or call :meth:`start` and :meth:`stop`."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        model: str = "judge-test",
        reject_json_schema: bool = False,
        reject_response_format: bool = False,
        models_status: int = 200,
        require_key: str | None = None,
        profile: str | None = None,
    ):
        self.latency_s = latency_s
        self.model = model
        self.reject_json_schema = reject_json_schema
        self.reject_response_format = reject_response_format
        self.models_status = models_status
        self.require_key = require_key
        self.profile = PROFILES[profile] if profile else None
        self.probe_calls: list[ChatCall] = []
        self.default_verdict = dict(GOOD_VERDICT)
        self.responder: Callable[[ChatCall], Reply | None] | None = None
        self.calls: list[ChatCall] = []
        self.model_list_calls = 0
        self.max_in_flight = 0
        self._in_flight = 0
        self.gather = 0
        self.gather_timeout_s = 10.0
        self._barrier: threading.Barrier | None = None
        #: (body bytes sent, body length) of every trickled reply, once it ended.
        self.trickled: list[tuple[int, int]] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control
    @property
    def url(self) -> str:
        """Base URL for clients (``http://127.0.0.1:PORT/v1``)."""
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def chat_count(self) -> int:
        with self._lock:
            return len(self.calls)

    def _gather(self) -> None:
        """Wait until ``gather`` requests are in flight together (or the timeout passes)."""
        with self._lock:
            if self._barrier is None or self._barrier.parties != self.gather:
                self._barrier = threading.Barrier(self.gather)
            barrier = self._barrier
        try:
            barrier.wait(timeout=self.gather_timeout_s)
        except threading.BrokenBarrierError:
            pass  # fewer came: answer anyway (a test on the count then fails, not hangs)

    def enqueue(self, *replies: Reply) -> None:
        """Answer the next chat requests with ``replies``, in order."""
        with self._lock:
            self._queue.extend(replies)

    def start(self) -> "ChatServer":
        server = self

        class Handler(_Handler):
            owner = server

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        # The default backlog (5) drops bursts of concurrent connects, which Linux retries a
        # second later: that would show up as fake latency in tests and benchmarks.
        httpd.request_queue_size = 256
        httpd.server_bind()
        httpd.server_activate()
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "ChatServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ behaviour
    def _next_reply(self, call: ChatCall) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            reply = self.responder(call)
            if reply is not None:
                return reply
        return Reply()

    def _completion_body(self, call: ChatCall, reply: Reply) -> bytes:
        if reply.body is not None:
            return reply.body
        if reply.status != 200:
            return json.dumps(
                {"error": {"message": reply.error_message, "type": "scripted", "param": None, "code": None}}
            ).encode()
        content: Any = reply.content
        if reply.content_json is not None:
            content = reply.content_json
        elif content is None:
            content = json.dumps(reply.verdict if reply.verdict is not None else self.default_verdict)
        prompt_chars = sum(len(str(m.get("content", ""))) for m in call.messages)
        return json.dumps(
            {
                "id": f"chatcmpl-test-{len(self.calls)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": call.body.get("model", self.model),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "finish_reason": reply.finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": max(1, prompt_chars // 4),
                    "completion_tokens": max(1, len(str(content)) // 4),
                    "total_tokens": max(1, prompt_chars // 4) + max(1, len(str(content)) // 4),
                },
            }
        ).encode()


class _Handler(BaseHTTPRequestHandler):
    owner: ChatServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    disable_nagle_algorithm = True  # headers and body go out at once, no delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:  # silence per-request stderr lines
        pass

    def _send(
        self, status: int, body: bytes, headers: dict[str, str] | None = None, *,
        trickle_s: float = 0.0, content_type: str = "application/json",
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if trickle_s <= 0:
                self.wfile.write(body)
                return
            self.wfile.flush()
            sent = 0
            try:
                for i in range(len(body)):  # one byte at a time: a read timeout never fires
                    time.sleep(trickle_s)
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    sent += 1
            finally:
                with self.owner._lock:
                    self.owner.trickled.append((sent, len(body)))
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            self.close_connection = True

    def _authorised(self) -> bool:
        key = self.owner.require_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._send(401, json.dumps({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}).encode())
        return False

    def do_GET(self) -> None:
        owner = self.owner
        if self.path.rstrip("/") != "/v1/models":
            self._send(404, b'{"error": {"message": "not found"}}')
            return
        with owner._lock:
            owner.model_list_calls += 1
        if not self._authorised():
            return
        if owner.models_status != 200:
            self._send(owner.models_status, b'{"error": {"message": "no model list here"}}')
            return
        body = {"object": "list", "data": [{"id": owner.model, "object": "model", "created": 0, "owned_by": "tests"}]}
        self._send(200, json.dumps(body).encode())

    def do_POST(self) -> None:
        owner = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, b'{"error": {"message": "not found"}}')
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, b'{"error": {"message": "request body is not JSON"}}')
            return
        call = ChatCall(body=body, headers={k.lower(): v for k, v in self.headers.items()}, received_at=time.monotonic())
        if call.is_probe:
            self._answer_probe(call)
            return
        with owner._lock:
            owner.calls.append(call)
            owner._in_flight += 1
            owner.max_in_flight = max(owner.max_in_flight, owner._in_flight)
        try:
            if not self._authorised():
                return
            if self._refuse_format(call):
                return
            if owner.gather > 1:
                owner._gather()
            reply = owner._next_reply(call)
            wait = owner.latency_s + reply.delay_s
            if wait > 0:
                time.sleep(wait)
            if reply.drop:
                self.close_connection = True  # no status line, no body: the client sees a dropped connection
                return
            self._send(reply.status, owner._completion_body(call, reply), reply.headers,
                       trickle_s=reply.trickle_s, content_type=reply.content_type)
        finally:
            with owner._lock:
                owner._in_flight -= 1

    def _refuse_format(self, call: ChatCall) -> bool:
        """Answer a refused response_format as the configured server would; True when refused."""
        owner = self.owner
        kind = call.format_kind
        if kind is None:
            return False
        profile = owner.profile
        if profile is not None:
            if kind in profile.accepts:
                return False
            status, message = profile.status, profile.message.replace("{kind}", kind)
        elif (owner.reject_json_schema and kind == "json_schema") or owner.reject_response_format:
            status, message = 400, f"response_format type {call.format_type} is not supported by this server"
        else:
            return False
        body_out = {"error": {"message": message, "type": "invalid_request_error", "param": "response_format"}}
        self._send(status, json.dumps(body_out).encode())
        return True

    def _answer_probe(self, call: ChatCall) -> None:
        owner = self.owner
        with owner._lock:
            owner.probe_calls.append(call)
        if not self._authorised() or self._refuse_format(call):
            return
        self._send(200, owner._completion_body(call, Reply(content='{"ok": true}')))


__all__ = ["ChatCall", "ChatServer", "GOOD_VERDICT", "PROFILES", "Profile", "Reply", "format_kind"]
