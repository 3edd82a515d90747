"""The LLM client: structured completions from one endpoint, as the backends use it.

:class:`LLMClient` turns (pydantic model, chat messages) into a validated
instance of the model through any OpenAI-compatible endpoint (OpenAI, vLLM,
Ollama, llama.cpp), or the embedded local llama.cpp server (``base_url=None``),
started on the first call.  It puts three modules together, each with one job:

* :mod:`.endpoint`: which server, which instructor mode, the HTTP client's life
  (shared TLS context, fork safety, restarting a dead embedded server);
* :mod:`.transport`: each HTTP request, retried (tenacity: backoff with jitter,
  ``Retry-After``) and counted; failures become our typed errors;
* :mod:`.structured`: instructor's request / parse / re-ask cycle (the only
  module importing ``instructor``).

Every HTTP attempt's token usage, including failed re-asks, is summed into the
:class:`~llm_extract.models.Usage` returned with the object (or attached to the
error raised).

The backends hold a :class:`LazyClient`: constructing a backend must stay cheap
(``llm-extract schema`` builds none, but the API caches backends), so the
client, which may start the embedded server, is made on the first call.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from ..config import Config
from ..errors import ExtractionError
from ..limits import check_time
from ..models import Usage
from . import structured, transport
from .endpoint import Endpoint, resolve_mode, resolve_schema_in_prompt
from .prompting import prompt_version
from .transport import Backoff, Target

T = TypeVar("T", bound=BaseModel)

# The Batch API seam (llm_extract/batch/batch_api.py): while set in this context,
# each complete() call's send function (request body -> ChatCompletion) is passed
# through it with the call's Usage, so the request can be recorded instead of sent,
# or answered from a Batch API result; instructor's re-asks then use the real send.
Send = Callable[[dict[str, Any]], Any]
SEND_HOOK: contextvars.ContextVar[Callable[[Send, Usage], Send] | None] = contextvars.ContextVar(
    "llm_extract_send_hook", default=None
)


class LLMClient:
    """Structured completions from one OpenAI-compatible endpoint.

    Thread-safe: one client may serve many concurrent :meth:`complete` calls.
    """

    def __init__(self, config: Config, *, backoff: Backoff | None = None) -> None:
        self.config = config
        self.backoff = backoff or transport.DEFAULT_BACKOFF
        self.mode: str = resolve_mode(config)
        self._schema_in_prompt = resolve_schema_in_prompt(config, self.mode)
        self._endpoint = Endpoint(config)  # raises BackendUnavailableError: no --model

    @property
    def model(self) -> str:
        """The model records name (the embedded server's own, once it has started)."""
        return self._endpoint.model

    @property
    def base_url(self) -> str | None:
        """The endpoint in use; ``None`` until the embedded server has started."""
        return self._endpoint.base_url

    def check(self) -> None:
        """Raise :class:`~llm_extract.errors.BackendUnavailableError` (exit 3) with
        what to fix if the endpoint cannot be used: unreachable, or the key is
        rejected.  One cheap request; starts the embedded server."""
        self._endpoint.check()

    def close(self) -> None:
        """Release the HTTP client; stop the embedded server if this client started it."""
        self._endpoint.close()

    def complete(
        self,
        response_model: type[T],
        messages: list[dict[str, str]],
        *,
        letter_id: str | None = None,
        field: str | None = None,
        max_tokens: int | None = None,
    ) -> tuple[T, Usage]:
        """One validated ``response_model`` instance and what it cost.

        Raises :class:`~llm_extract.errors.LLMError` when the endpoint keeps
        failing, :class:`~llm_extract.errors.LLMResponseError` when it never
        answers with a valid object, and
        :class:`~llm_extract.errors.BackendUnavailableError` when it cannot be
        used at all (bad key, unknown model, embedded server does not start).
        The error's ``usage`` holds the tokens spent before it failed.
        """
        usage = Usage()
        started = time.monotonic()
        about = transport.where(letter_id, field)
        try:
            client = self._endpoint.client()
            target = Target(
                url=self._endpoint.url,
                model=self.model,
                mode=self.mode,
                timeout_s=self.config.timeout_s,
                api_key_env=self.config.api_key_env,
                max_retries=self.config.max_retries,
                backoff=self.backoff,
            )
            turn = self._endpoint.turn()

            def send(body: dict[str, object]) -> object:
                check_time("an LLM call")  # the letter's budget, Config.letter_seconds
                return transport.post_chat_completion(
                    client, body, target=target, usage=usage, turn=turn, about=about
                )

            hook = SEND_HOOK.get()
            result = structured.complete(
                send if hook is None else hook(send, usage),
                response_model,
                messages,
                mode=self.mode,
                schema_in_prompt=self._schema_in_prompt,
                max_reasks=self.config.max_reasks,
                about=about,
                model_name=self.model,
                model=self.model,
                temperature=self.config.temperature,
                max_tokens=max_tokens or self.config.max_tokens,
            )
        except ExtractionError as exc:
            usage.seconds = time.monotonic() - started
            exc.letter = exc.letter or letter_id
            exc.field = exc.field or field
            exc.usage = usage
            raise exc from exc.cause
        usage.seconds = time.monotonic() - started
        return result, usage


class LazyClient:
    """An :class:`LLMClient` made on first use, shared by a backend's calls, closed once."""

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

    def check(self) -> None:
        self.client.check()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class LLMIdentity:
    """``model`` and ``prompt_version`` of an LLM backend: what its records will
    name in their provenance, and what the batch keys a letter by; and
    :meth:`check`, run once before the first letter."""

    _llm: LazyClient

    @property
    def model(self) -> str:
        return self._llm.model

    @property
    def prompt_version(self) -> str:
        return prompt_version()

    def check(self) -> None:
        """Raise :class:`~llm_extract.errors.BackendUnavailableError` if the
        backend's endpoint cannot be used (see :meth:`LLMClient.check`)."""
        self._llm.check()


def to_usage(total: Usage) -> Usage:
    """``total`` as a record stores it: seconds rounded to the millisecond."""
    return total.model_copy(update={"seconds": round(total.seconds, 3)})
