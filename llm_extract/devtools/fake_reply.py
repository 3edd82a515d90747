"""The scripted replies of the fake OpenAI-compatible server.

A module of its own so that both the chat endpoint (:mod:`.fake_openai`) and
the Batch API (:mod:`.fake_batches`) build replies from one type without
importing each other.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


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
    # For "schema" replies: builds the answer from the request's JSON schema
    # (default: minimal_instance); e.g. a hostile one for the fuzzing campaign.
    build: Callable[[dict[str, Any]], Any] | None = None

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

    @classmethod
    def built(cls, build: Callable[[dict[str, Any]], Any]) -> Reply:
        """An object made by ``build`` from the request's schema (valid or not)."""
        return cls("schema", build=build)
