"""A local server speaking OpenAI's Chat Completions protocol, so no real provider is ever
called: ``POST /v1/chat/completions`` answered as a ``chat.completion`` object or, with
``"stream": true``, as server-sent events of ``chat.completion.chunk`` objects ending in
``data: [DONE]`` (usage in a last chunk when ``stream_options.include_usage``), and
``GET /v1/models``. Errors use OpenAI's error body; 429 carries ``Retry-After``.

What it answers is scripted: :meth:`OpenAIFake.queue` lines up :class:`Reply` objects (a
content, an error status, a delay, a body that is not JSON…), used in order; after them
``respond(request)`` decides (by default: the last queued content again, else an error). Every
request is recorded with its arrival time, so tests see what was asked (the structured-output
schema, the messages) and when (waits honoured).
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    content: str | None = None  # the assistant's message text
    status: int = 200
    retry_after: float | None = None  # seconds, sent as Retry-After with an error
    delay: float = 0.0  # wait this long before answering (a slow model)
    usage: tuple[int, int] = (120, 80)  # prompt, completion tokens
    raw: bytes | None = None  # send this body as it is (a broken answer)
    chunk_delay: float = 0.0  # streaming: wait between chunks


@dataclass(frozen=True)
class Received:
    body: dict[str, Any]
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def schema(self) -> dict[str, Any] | None:
        fmt = self.body.get("response_format") or {}
        if fmt.get("type") != "json_schema":
            return None
        return dict(fmt["json_schema"]["schema"])


@dataclass
class OpenAIFake:
    api_key: str = "sk-test-fake"
    respond: Callable[[Received], Reply] | None = None
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._script: deque[Reply] = deque()
        self._last: Reply | None = None
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without TCP_NODELAY, Nagle and the
            # client's delayed ACK would add ~40 ms to every answer.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/v1/models":
                    self._json(404, _error("not found", "invalid_request_error"))
                    return
                self._json(
                    200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
                )

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._json(404, _error("not found", "invalid_request_error"))
                    return
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._json(401, _error("Incorrect API key provided", "invalid_request_error"))
                    return
                try:
                    body = json.loads(raw)
                    assert isinstance(body.get("model"), str)
                    assert isinstance(body.get("messages"), list)
                except (ValueError, AssertionError):
                    self._json(
                        400, _error("model and messages are required", "invalid_request_error")
                    )
                    return
                received = Received(body, dict(self.headers), time.monotonic())
                reply = fake._next(received)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    headers = {}
                    if reply.retry_after is not None:
                        headers["Retry-After"] = f"{reply.retry_after:g}"
                    kind = "rate_limit_error" if reply.status == 429 else "server_error"
                    self._json(reply.status, _error(f"status {reply.status}", kind), headers)
                    return
                if reply.raw is not None:
                    self._send(200, "application/json", reply.raw)
                    return
                if body.get("stream"):
                    self._stream(body, reply)
                else:
                    self._json(200, _completion(body["model"], reply))

            def _stream(self, body: dict[str, Any], reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                ident = f"chatcmpl-{uuid.uuid4().hex[:12]}"
                text = reply.content or ""
                pieces = [text[i : i + 16] for i in range(0, len(text), 16)] or [""]
                events = [_chunk(ident, body["model"], {"role": "assistant", "content": ""})]
                events += [_chunk(ident, body["model"], {"content": p}) for p in pieces]
                events.append(_chunk(ident, body["model"], {}, finish="stop"))
                if (body.get("stream_options") or {}).get("include_usage"):
                    usage = _usage(reply)
                    events.append(
                        {**_chunk(ident, body["model"], {}), "choices": [], "usage": usage}
                    )
                for event in events:
                    self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
                    self.wfile.flush()
                    if reply.chunk_delay:
                        time.sleep(reply.chunk_delay)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _json(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                self._send(status, "application/json", json.dumps(payload).encode(), headers)

            def _send(
                self,
                status: int,
                content_type: str,
                payload: bytes,
                headers: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """The base URL clients are given (``OPENAI_BASE_URL``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def answer(self, content: str, **kw: Any) -> None:
        """Answer ``content`` from now on (after anything queued)."""
        self.queue(Reply(content=content, **kw))

    def _next(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            if self._script:
                self._last = self._script.popleft()
                return self._last
        if self.respond is not None:
            return self.respond(received)
        if self._last is not None and self._last.status == 200:
            return self._last
        return Reply(status=500)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up mid-answer (a timed-out attempt, wrk stopping) is normal."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _usage(reply: Reply) -> dict[str, int]:
    prompt, completion = reply.usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(model: str, reply: Reply) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage(reply),
    }


def _chunk(
    ident: str, model: str, delta: dict[str, Any], finish: str | None = None
) -> dict[str, Any]:
    return {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }
