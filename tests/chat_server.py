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
* ``require_key`` makes it answer 401 unless the bearer token matches.

Every chat request is recorded (``calls``) so tests can count them. The benchmark in
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
    ):
        self.latency_s = latency_s
        self.model = model
        self.reject_json_schema = reject_json_schema
        self.reject_response_format = reject_response_format
        self.models_status = models_status
        self.require_key = require_key
        self.default_verdict = dict(GOOD_VERDICT)
        self.responder: Callable[[ChatCall], Reply | None] | None = None
        self.calls: list[ChatCall] = []
        self.model_list_calls = 0
        self.max_in_flight = 0
        self._in_flight = 0
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
        content = reply.content
        if content is None:
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
                    "completion_tokens": max(1, len(content) // 4),
                    "total_tokens": max(1, prompt_chars // 4) + max(1, len(content) // 4),
                },
            }
        ).encode()


class _Handler(BaseHTTPRequestHandler):
    owner: ChatServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    disable_nagle_algorithm = True  # headers and body go out at once, no delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:  # silence per-request stderr lines
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
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
        with owner._lock:
            owner.calls.append(call)
            owner._in_flight += 1
            owner.max_in_flight = max(owner.max_in_flight, owner._in_flight)
        try:
            if not self._authorised():
                return
            refused = (owner.reject_json_schema and call.format_type == "json_schema") or (
                owner.reject_response_format and call.format_type is not None
            )
            if refused:
                message = f"response_format type {call.format_type} is not supported by this server"
                body_out = {"error": {"message": message, "type": "invalid_request_error", "param": "response_format"}}
                self._send(400, json.dumps(body_out).encode())
                return
            reply = owner._next_reply(call)
            wait = owner.latency_s + reply.delay_s
            if wait > 0:
                time.sleep(wait)
            if reply.drop:
                self.close_connection = True  # no status line, no body: the client sees a dropped connection
                return
            self._send(reply.status, owner._completion_body(call, reply), reply.headers)
        finally:
            with owner._lock:
                owner._in_flight -= 1


__all__ = ["ChatCall", "ChatServer", "GOOD_VERDICT", "Reply"]
