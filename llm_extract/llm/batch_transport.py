"""The OpenAI Batch API's HTTP side: files and batches (a provider module: imports openai).

:mod:`llm_extract.batch.batch_api` decides what to send and when; this module
only talks to the endpoint, through the same :class:`~.endpoint.Endpoint` (key,
TLS, base URL) as every chat completion, and turns a result line's response
body back into the ``ChatCompletion`` that instructor parses.

Transport failures (connection refused, 5xx, a rejected key) become our typed
errors via :func:`.transport.translate`, like any other request.
"""

from __future__ import annotations

from typing import Any

import openai
from openai.types.chat import ChatCompletion

from ..config import Config
from ..errors import LLMError
from .endpoint import Endpoint
from .transport import MalformedBodyError, describe, key_rejected

CHAT_ENDPOINT = "/v1/chat/completions"


def completion_from_body(body: dict[str, Any]) -> ChatCompletion:
    """A Batch API result line's ``response.body`` as the object a live call returns."""
    if not isinstance(body, dict) or not body.get("choices"):
        raise MalformedBodyError("the batch result has no choices")
    return ChatCompletion.model_validate(body)


class BatchEndpoint:
    """Upload a JSONL request file, create a batch, poll it, read its result files."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._endpoint = Endpoint(config)

    def _client(self) -> openai.OpenAI:
        return self._endpoint.client()

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise key_rejected(self._endpoint.url, exc, self.config.api_key_env) from exc
        except openai.OpenAIError as exc:
            raise LLMError(
                f"{self._endpoint.url}: {what} failed: {describe(exc)}", cause=exc
            ) from exc

    def upload(self, name: str, content: bytes) -> str:
        """POST /files (purpose ``batch``); returns the file id."""
        files = self._client().files
        created = self._call(
            "uploading the requests", files.create, file=(name, content), purpose="batch"
        )
        return str(created.id)

    def create(self, input_file_id: str, metadata: dict[str, str] | None = None) -> dict[str, Any]:
        """POST /batches for chat completions within 24 h; returns the batch as a dict."""
        batches = self._client().batches
        batch = self._call(
            "creating the batch",
            batches.create,
            input_file_id=input_file_id,
            endpoint=CHAT_ENDPOINT,
            completion_window="24h",
            metadata=metadata,
        )
        return dict(batch.model_dump(mode="json"))

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        batch = self._call("polling the batch", self._client().batches.retrieve, batch_id)
        return dict(batch.model_dump(mode="json"))

    def content(self, file_id: str) -> bytes:
        response = self._call("downloading results", self._client().files.content, file_id)
        return bytes(response.content)

    def close(self) -> None:
        self._endpoint.close()
