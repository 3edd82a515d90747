"""The fake endpoint's OpenAI Batch API: ``/v1/files`` and ``/v1/batches``.

Held by :class:`~llm_extract.devtools.fake_openai.FakeOpenAI` as ``fake.batch``:

* ``POST /v1/files`` (multipart, as the openai client uploads) stores a file;
  ``GET /v1/files/{id}/content`` returns it.
* ``POST /v1/batches`` reads the request lines of its input file and answers
  each as the chat-completion endpoint would (the fake's ``default`` reply);
  ``GET /v1/batches/{id}`` goes ``validating`` → ``in_progress`` → terminal
  after ``polls`` polls, and then names its output and error files.

What happens to a batch is the next entry of ``plan`` (default ``completed``):

- ``"completed"``: every request answered;
- ``"expired"``: only the first half answered, the rest listed in the error
  file with code ``batch_expired`` (as OpenAI does at the end of the window);
- ``"partial"``: completed, but every third request failed with HTTP 500;
- ``"invalid"``: completed, every answer's content not JSON;
- ``"failed"``: nothing answered, every request ``batch_failed``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .fake_reply import Reply

# (request body, reply or None = the server's default) -> a chat completion body
Answer = Callable[[dict[str, Any], Any], dict[str, Any]]
Response = tuple[int, bytes]


class FakeBatches:
    def __init__(self, answer: Answer) -> None:
        self._answer = answer
        self.files: dict[str, tuple[str, bytes]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.plan: deque[str] = deque()
        self.polls = 1
        self._outputs: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request line of every batch created so far, in order."""
        with self._lock:
            batches = list(self.batches.values())
        lines: list[dict[str, Any]] = []
        for batch in batches:
            lines += _lines(self.files[batch["input_file_id"]][1])
        return lines

    # -- HTTP -------------------------------------------------------------------
    def post(self, path: str, content_type: str, raw: bytes) -> Response:
        if path.endswith("/files"):
            fields = _multipart(content_type, raw)
            name, content = fields.get("file", ("upload.jsonl", b""))
            purpose = fields.get("purpose", ("", b"batch"))[1].decode()
            return 200, json.dumps(self.add_file(name, content, purpose)).encode()
        try:
            body = json.loads(raw or b"{}")
            if str(body.get("input_file_id")) not in self.files:
                return 400, b'{"error": {"message": "unknown input_file_id"}}'
            return 200, json.dumps(self.create(body)).encode()
        except (ValueError, KeyError) as exc:
            return 400, json.dumps({"error": {"message": f"bad batch: {exc}"}}).encode()

    def get(self, path: str) -> Response:
        if "/files/" in path and path.endswith("/content"):
            found = self.files.get(path.split("/files/")[1].removesuffix("/content"))
            return (
                (404, b'{"error": {"message": "no such file"}}')
                if found is None
                else (200, found[1])
            )
        batch = self.poll(path.split("/batches/")[1])
        if batch is None:
            return 404, b'{"error": {"message": "no such batch"}}'
        return 200, json.dumps(batch).encode()

    # -- state ------------------------------------------------------------------
    def add_file(self, name: str, content: bytes, purpose: str) -> dict[str, Any]:
        with self._lock:
            file_id = f"file-{next(self._ids)}"
            self.files[file_id] = (name, content)
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": name,
            "purpose": purpose,
            "status": "processed",
        }

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        input_id = str(body.get("input_file_id"))
        lines = _lines(self.files[input_id][1])
        with self._lock:
            plan = self.plan.popleft() if self.plan else "completed"
            batch_id = f"batch_{next(self._ids)}"
        answered, errors = [], []
        for n, line in enumerate(lines):
            cid = line["custom_id"]
            if plan == "failed" or (plan == "expired" and n >= (len(lines) + 1) // 2):
                code = "batch_expired" if plan == "expired" else "batch_failed"
                error = {"code": code, "message": f"fake {code}"}
                errors.append({"id": f"r{n}", "custom_id": cid, "response": None, "error": error})
            elif plan == "partial" and n % 3 == 2:
                failed = {"error": {"message": "fake 500", "type": "server_error"}}
                response = {"status_code": 500, "request_id": f"req{n}", "body": failed}
                errors.append(
                    {"id": f"r{n}", "custom_id": cid, "error": None, "response": response}
                )
            else:
                reply = _not_json() if plan == "invalid" else None
                response = {
                    "status_code": 200,
                    "request_id": f"req{n}",
                    "body": self._answer(line["body"], reply),
                }
                answered.append(
                    {"id": f"r{n}", "custom_id": cid, "error": None, "response": response}
                )
        batch = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body.get("endpoint", "/v1/chat/completions"),
            "errors": None,
            "input_file_id": input_id,
            "completion_window": body.get("completion_window", "24h"),
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": int(time.time()),
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
            "_final": "completed" if plan in ("partial", "invalid") else plan,
            "_polls": 0,
        }
        with self._lock:
            self.batches[batch_id] = batch
            self._outputs[batch_id] = (answered, errors)
        return _public(batch)

    def poll(self, batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return None
            batch["_polls"] += 1
            answered, errors = self._outputs[batch_id]
            if batch["status"] in ("validating", "in_progress") and batch["_polls"] > self.polls:
                batch["status"] = batch["_final"]
                batch["request_counts"] = {
                    "total": batch["request_counts"]["total"],
                    "completed": len(answered),
                    "failed": len(errors),
                }
            elif batch["status"] == "validating":
                batch["status"] = "in_progress"
            done = batch["status"] not in ("validating", "in_progress")
            fresh = done and batch["output_file_id"] is None and batch["error_file_id"] is None
        if fresh:
            if answered:
                out = self.add_file(f"{batch_id}_output.jsonl", _jsonl(answered), "batch_output")
                batch["output_file_id"] = out["id"]
            if errors:
                err = self.add_file(f"{batch_id}_errors.jsonl", _jsonl(errors), "batch_output")
                batch["error_file_id"] = err["id"]
        return _public(batch)


def _not_json() -> Any:
    return Reply.text("{not json")


def _lines(content: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in content.splitlines() if line.strip()]


def _public(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in batch.items() if not k.startswith("_")}


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str, bytes]]:
    """name -> (filename, bytes) of a multipart/form-data body (the openai client's upload)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    fields: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if isinstance(name, str):
            fields[name] = (
                part.get_filename() or "",
                payload if isinstance(payload, bytes) else b"",
            )
    return fields
