"""A scriptable fake OpenAI-compatible server, for fault tests and load tests.

It speaks real HTTP on loopback (port 0 = a free port), so the whole client
stack (openai, instructor, tenacity) runs exactly as against a real endpoint.

* Scripted: each request takes the next :class:`Reply` from the script —
  429 with ``Retry-After``, a 5xx, a hang past the client's timeout, a body
  that is not JSON, content that is not JSON or violates the schema, a fixed
  object — then the ``default`` reply once the script is used up.
* ``schema`` replies answer any request with a minimal *valid* object built
  from the JSON schema found in it (``tools[].function.parameters``,
  ``response_format.schema`` or ``response_format.json_schema.schema``, or
  else pasted into a system message, as in md_json mode), as a tool call
  when tools were sent, else as message content; with optional latency.  It
  is threaded, so many concurrent requests overlap their latency.

* The Batch API (``/v1/files``, ``/v1/batches``): :mod:`.fake_batches`,
  scripted through ``fake.batch`` (completed, expired, partly failed, invalid
  answers, failed).

Every POST is recorded (path, headers, JSON body) for assertions.

    with FakeOpenAI([Reply.rate_limited(1), Reply.schema()]) as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="k")

Run standalone (schema mode, e.g. for a throughput benchmark)::

    python -m llm_extract.devtools.fake_openai --latency 0.2
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .fake_batches import FakeBatches
from .fake_reply import Reply
from .fake_schema import forced_tool, minimal_instance, request_schema

__all__ = ["FAKE_MODEL", "FakeOpenAI", "RecordedRequest", "Reply", "main", "minimal_instance"]

FAKE_MODEL = "fake-model"


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) drops SYNs when dozens of clients connect at
    # once, and each dropped SYN costs a 1 s retransmit: the benchmarks run -j 32.
    request_queue_size = 128

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Close kept-alive connections too: a stopped server must not answer on them
        (a test of an endpoint that dies mid-run would otherwise go on being served)."""
        with self._open_lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float = field(default_factory=time.monotonic)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []


class FakeOpenAI:
    """The server.  Use as a context manager, or call :meth:`start`/:meth:`stop`."""

    def __init__(
        self,
        script: Iterable[Reply] = (),
        *,
        default: Reply | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = FAKE_MODEL,
    ) -> None:
        self._script: deque[Reply] = deque(script)
        self.default = default or Reply.schema()
        self.model = model
        # What GET /models answers: None = the model list; e.g. Reply.error(401)
        # to test a client's check of the endpoint.
        self.models_reply: Reply | None = None
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._ids = itertools.count(1)
        # /v1/files and /v1/batches (see fake_batches.py): answers as chat completions.
        self.batch = FakeBatches(lambda body, reply: self._completion(body, reply or self.default))
        self._server = _Server((host, port), _make_handler(self))
        # Hanging handlers must not keep shutdown waiting.
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def completions(self) -> list[RecordedRequest]:
        """The chat-completion requests received so far."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def start(self) -> FakeOpenAI:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- used by the handler ------------------------------------------------
    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            return self._script.popleft() if self._script else self.default

    def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        tool = forced_tool(body)
        if reply.kind == "schema":
            schema = request_schema(body)
            build = reply.build or minimal_instance
            content = json.dumps(build(schema) if schema is not None else {})
        else:
            content = reply.content or ""
        if reply.usage is not None:
            prompt_tokens, completion_tokens = reply.usage
        else:  # about four characters a token, like real tokenizers on English
            prompt_tokens = max(1, len(json.dumps(body.get("messages", []))) // 4)
            completion_tokens = max(1, len(content) // 4)
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool is not None:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{next(self._ids)}",
                        "type": "function",
                        "function": {"name": tool, "arguments": content},
                    }
                ],
            }
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _make_handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the body waits for
        # the client's delayed ACK (+40 ms a request). Real servers set TCP_NODELAY.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(
            self, status: int, payload: bytes, headers: Iterable[tuple[str, str]] = ()
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (e.g. its timeout); nothing to do

        def do_GET(self) -> None:
            request = RecordedRequest("GET", self.path, dict(self.headers.items()), None)
            with fake._lock:
                fake.requests.append(request)
                scripted = fake.models_reply
            path = self.path.rstrip("/")
            if "/files/" in path or "/batches/" in path:
                self._batch_get(path)
            elif scripted is not None and scripted.kind == "status":
                error = {"error": {"message": f"fake {scripted.status}", "type": "fake_error"}}
                self._send(scripted.status, json.dumps(error).encode(), scripted.headers)
            elif self.path.rstrip("/").endswith("/models"):
                body = {"object": "list", "data": [{"id": fake.model, "object": "model"}]}
                self._send(200, json.dumps(body).encode())
            else:
                self._send(404, b'{"error": {"message": "not found"}}')

        def do_POST(self) -> None:
            arrived = time.monotonic()
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.rstrip("/")
            if path.endswith(("/files", "/batches")):
                self._batch_post(path, raw)
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = None
            request = RecordedRequest("POST", self.path, dict(self.headers.items()), body)
            reply = fake._next_reply(request)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, b'{"error": {"message": "not found"}}')
                return
            if not isinstance(body, dict):
                self._send(400, b'{"error": {"message": "request body is not JSON"}}')
                return
            if reply.kind == "status":
                error = {"error": {"message": f"fake {reply.status}", "type": "fake_error"}}
                status, payload = reply.status, json.dumps(error).encode()
            elif reply.kind == "raw":
                status, payload = reply.status, (reply.content or "").encode()
            else:
                status, payload = 200, json.dumps(fake._completion(body, reply)).encode()
            # The delay counts from the request's arrival, its own parsing and the
            # answer's building included: a "200 ms endpoint" answers in 200 ms,
            # not 200 ms plus this Python server's work under load.
            wait = reply.delay - (time.monotonic() - arrived) if reply.delay else 0.0
            if reply.delay and fake._closing.wait(max(0.0, wait)):
                return  # server stopping: drop the hanging request
            self._send(status, payload, reply.headers)

        def _batch_post(self, path: str, raw: bytes) -> None:
            request = RecordedRequest("POST", self.path, dict(self.headers.items()), None)
            with fake._lock:
                fake.requests.append(request)
            self._send(*fake.batch.post(path, self.headers.get("Content-Type", ""), raw))

        def _batch_get(self, path: str) -> None:
            self._send(*fake.batch.get(path))

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible server (schema mode).")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port (default)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--model", default=FAKE_MODEL, help="model id listed at /v1/models")
    args = parser.parse_args(argv)
    fake = FakeOpenAI(default=Reply.schema(latency=args.latency), port=args.port, model=args.model)
    print(fake.base_url, flush=True)
    try:
        fake._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake._server.server_close()


if __name__ == "__main__":
    main()
