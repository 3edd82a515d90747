"""The LLM client as the backends hold it: created on first use, shared, closed once.

Constructing a backend must stay cheap (``llm-extract schema`` builds none,
but the API caches backends), so the :class:`~llm_extract.provider.LLMClient`
— which may start the embedded llama.cpp server — is made on the first call.
"""

from __future__ import annotations

import threading
from typing import TypeVar

from pydantic import BaseModel

from ..config import Config
from ..models import Usage
from ..provider import CallUsage, LLMClient
from .prompting import prompt_version

T = TypeVar("T", bound=BaseModel)


class LazyClient:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._client: LLMClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> LLMClient:
        with self._lock:
            if self._client is None:
                self._client = LLMClient(self.config)
            return self._client

    @property
    def model(self) -> str:
        return self.client.model

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class LLMIdentity:
    """``model`` and ``prompt_version`` of an LLM backend: what its records will
    name in their provenance, and what the batch keys a letter by."""

    _llm: LazyClient

    @property
    def model(self) -> str:
        return self._llm.model

    @property
    def prompt_version(self) -> str:
        return prompt_version()


def to_usage(total: CallUsage) -> Usage:
    return Usage(
        prompt_tokens=total.prompt_tokens,
        completion_tokens=total.completion_tokens,
        attempts=total.attempts,
        seconds=round(total.seconds, 3),
    )
