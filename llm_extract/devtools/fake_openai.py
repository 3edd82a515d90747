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


@dataclass(frozen=True)
class Reply:
    """One scripted behaviour.  Build with the class methods."""

    kind: str
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    content: str | None = None
    delay: float = 0.0
    usage: tuple[int, int] | None = None  # (prompt, completion); None = estimated
    finish_reason: str = "stop"

    @classmethod
    def rate_limited(cls, retry_after: float | str | None = 1) -> Reply:
        """429, with ``Retry-After`` (seconds or an HTTP date) unless None."""
        headers = () if retry_after is None else (("Retry-After", str(retry_after)),)
        return cls("status", status=429, headers=headers)

    @classmethod
    def error(cls, status: int = 500) -> Reply:
        return cls("status", status=status)

    @classmethod
    def hang(cls, seconds: float) -> Reply:
        """Answer (validly) only after ``seconds``: longer than the client timeout."""
        return cls("schema", delay=seconds)

    @classmethod
    def malformed_body(cls) -> Reply:
        """HTTP 200 whose body is not JSON (a broken proxy, a truncated response)."""
        return cls("raw", content='{"id": "chatcmpl-broken", "choices": [')

    @classmethod
    def text(cls, content: str, *, usage: tuple[int, int] | None = None) -> Reply:
        """A completion whose content (or tool-call arguments) is ``content`` verbatim:
        e.g. malformed JSON, or JSON that violates the schema."""
        return cls("text", content=content, usage=usage)

    @classmethod
    def truncated(cls, content: str = '{"name": "Par') -> Reply:
        """An answer cut off by max_tokens (``finish_reason: "length"``)."""
        return cls("text", content=content, finish_reason="length")

    @classmethod
    def json(cls, obj: Any, *, usage: tuple[int, int] | None = None) -> Reply:
        return cls("text", content=json.dumps(obj), usage=usage)

    @classmethod
    def schema(cls, *, latency: float = 0.0, usage: tuple[int, int] | None = None) -> Reply:
        """A minimal valid object for the request's schema, after ``latency`` seconds."""
        return cls("schema", delay=latency, usage=usage)


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
        tool = _forced_tool(body)
        if reply.kind == "schema":
            schema = _request_schema(body)
            content = json.dumps(minimal_instance(schema) if schema is not None else {})
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


# -- schemas ----------------------------------------------------------------------
def _forced_tool(body: dict[str, Any]) -> str | None:
    tools = body.get("tools")
    if not tools:
        return None
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        return str(choice.get("function", {}).get("name"))
    return str(tools[0].get("function", {}).get("name"))


def _request_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a request asks the answer to follow, wherever it was put."""
    tools = body.get("tools")
    if tools:
        name = _forced_tool(body)
        for tool in tools:
            function = tool.get("function", {})
            if function.get("name") == name:
                params = function.get("parameters")
                return params if isinstance(params, dict) else None
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        if isinstance(fmt.get("schema"), dict):
            return fmt["schema"]
        json_schema = fmt.get("json_schema")
        if isinstance(json_schema, dict) and isinstance(json_schema.get("schema"), dict):
            return json_schema["schema"]
    return _schema_in_system_message(body)


def _schema_in_system_message(body: dict[str, Any]) -> dict[str, Any] | None:
    """The first JSON object schema pasted into a system message (md_json mode)."""
    decoder = json.JSONDecoder()
    for message in body.get("messages", []):
        content = message.get("content") if isinstance(message, dict) else None
        if message.get("role") != "system" or not isinstance(content, str):
            continue
        start = content.find("{")
        while start != -1:
            try:
                found, _ = decoder.raw_decode(content, start)
            except ValueError:
                found = None
            if isinstance(found, dict) and "properties" in found:
                return found
            start = content.find("{", start + 1)
    return None


_FORMAT_EXAMPLES = {
    "date": "2020-01-01",
    "date-time": "2020-01-01T00:00:00Z",
    "time": "00:00:00",
    "email": "a@example.com",
    "uri": "https://example.com",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


def minimal_instance(
    schema: dict[str, Any], root: dict[str, Any] | None = None, depth: int = 0
) -> Any:
    """A small value that validates against ``schema`` (the subset pydantic emits)."""
    root = root if root is not None else schema
    if depth > 12:
        return None
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return minimal_instance(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and depth > 0 and schema["default"] is not None:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = schema[key]
            concrete = [o for o in options if o.get("type") != "null"]
            if concrete and depth < 6:
                return minimal_instance(concrete[0], root, depth + 1)
            return (
                None
                if len(concrete) < len(options)
                else minimal_instance(options[0], root, depth + 1)
            )
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(part)
        return minimal_instance(merged, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: minimal_instance(sub, root, depth + 1) for name, sub in props.items()}
    if kind == "array":
        items = schema.get("items", {})
        count = int(schema.get("minItems", 0))
        return [minimal_instance(items, root, depth + 1) for _ in range(count)]
    if kind == "string":
        if schema.get("format") in _FORMAT_EXAMPLES:
            return _FORMAT_EXAMPLES[schema["format"]]
        return "x" * max(1, int(schema.get("minLength", 1)))
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = max(0, low + (1 if "exclusiveMinimum" in schema else 0))
        high = schema.get("maximum")
        if high is not None:
            value = min(value, high)
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return None


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
