"""Transport: one HTTP attempt at a time, retried by one policy, failures typed.

``tenacity`` retries what may succeed next time (timeouts, network errors,
HTTP 408/409/429 and 5xx, 2xx bodies that are not a chat completion) with
exponential backoff plus jitter, or for as long as the server's
``Retry-After`` / ``retry-after-ms`` says (capped).  The ``openai`` client's
own retries are off (``max_retries=0`` in :mod:`.endpoint`), so this is the
only policy and every HTTP request sent is counted in the call's usage.

Content problems (an answer that does not validate) are not this module's
business: :mod:`.structured` re-asks for those, each re-ask going through
:func:`post_chat_completion` and its retries again.

When the retries run out, :func:`translate` turns the last failure into one of
our typed errors (:mod:`llm_extract.errors`) with a one-line reason.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import openai
from openai.types.chat import ChatCompletion
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from ..errors import BackendUnavailableError, ExtractionError, LLMError
from ..models import Usage

log = logging.getLogger(__name__)

# 408 request timeout, 409 conflict (OpenAI uses it for transient lock errors),
# 429 rate limit; every 5xx.
_RETRY_STATUS = frozenset({408, 409, 429})


class MalformedBodyError(Exception):
    """The endpoint answered HTTP 2xx with a body that is not JSON or has no
    choices (a broken proxy, a truncated response).  Transient: retried like a 5xx."""


@dataclass(frozen=True)
class Backoff:
    """Transport retry timing.  Tests shrink it; production uses the defaults."""

    initial: float = 1.0  # first wait, doubled per retry
    maximum: float = 30.0  # cap of the exponential wait
    jitter: float = 1.0  # up to this many seconds added at random
    max_retry_after: float = 120.0  # never sleep longer than this on a Retry-After


# What LLMClient uses when given no backoff (read when a client is built).  Tests
# of code that builds its own client (backends, batch) shrink it:
# monkeypatch.setattr(llm_extract.llm.transport, "DEFAULT_BACKOFF", Backoff(...)).
DEFAULT_BACKOFF = Backoff()


def retry_after_seconds(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (``Retry-After``/``retry-after-ms``), if any."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:  # HTTP date form
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def is_transient(exc: BaseException) -> bool:
    """True for failures worth retrying: the request may succeed next time."""
    if isinstance(exc, openai.APITimeoutError | MalformedBodyError):
        return True
    if isinstance(exc, openai.APIConnectionError):
        # openai wraps *any* exception raised while sending as a connection error;
        # only network failures are worth another try (not, say, a test harness
        # refusing an unrecorded request).
        cause = exc.__cause__
        return cause is None or isinstance(cause, httpx.TransportError | OSError)
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in _RETRY_STATUS or exc.status_code >= 500
    return False


class TransportWait:
    """Exponential backoff with jitter, unless the server said how long to wait."""

    def __init__(self, backoff: Backoff) -> None:
        self._backoff = backoff
        self._exponential = wait_exponential(
            multiplier=backoff.initial, max=backoff.maximum
        ) + wait_random(0, backoff.jitter)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        stated = retry_after_seconds(exc) if exc is not None else None
        if stated is not None:
            return min(stated, self._backoff.max_retry_after)
        return float(self._exponential(state))


def where(letter_id: str | None, field: str | None) -> str:
    """``CM16-1 field items[0]``: what a log line is about."""
    return " ".join(p for p in (letter_id, field and f"field {field}") if p) or "request"


@dataclass(frozen=True)
class Target:
    """What a transport error message names, and the retry budget."""

    url: str
    model: str
    mode: str  # instructor mode: a 400/422 suggests --instructor-mode
    timeout_s: float
    api_key_env: str
    max_retries: int
    backoff: Backoff


def post_chat_completion(
    client: openai.OpenAI,
    body: dict[str, Any],
    *,
    target: Target,
    usage: Usage,
    turn: contextlib.AbstractContextManager[Any] | None = None,
    about: str = "request",
) -> ChatCompletion:
    """POST one chat completion, retrying transient failures; count into ``usage``.

    Raises the typed error of :func:`translate` when the retries run out or the
    failure is not worth a retry.  ``usage`` gets one attempt per HTTP request
    sent and the tokens of every response.  ``turn`` is held around each request only (the embedded server
    answers one at a time; waiting for it must not count against the timeout,
    nor block the backoff sleeps of others).  ``client.post`` sends ``body`` as
    built: it is plain JSON already, and ``chat.completions.create`` would
    re-walk every message through the openai client's TypedDict transform
    (~1.5 ms a call).
    """

    def one_attempt() -> ChatCompletion:
        with turn if turn is not None else contextlib.nullcontext():
            usage.attempts += 1
            try:
                response = client.post("/chat/completions", body=body, cast_to=ChatCompletion)
            except json.JSONDecodeError as exc:  # raised by the openai client's parser
                raise MalformedBodyError(f"the response body is not JSON ({exc})") from exc
            if not getattr(response, "choices", None):
                raise MalformedBodyError("the response has no choices")
        counted = getattr(response, "usage", None)
        if counted is not None:
            usage.prompt_tokens += counted.prompt_tokens or 0
            usage.completion_tokens += counted.completion_tokens or 0
        return response

    def log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s: attempt %d failed (%s); retrying in %.1fs",
            about,
            state.attempt_number,
            describe(exc),
            wait,
        )

    retrying = Retrying(
        stop=stop_after_attempt(max(0, target.max_retries) + 1),
        wait=TransportWait(target.backoff),
        retry=retry_if_exception(is_transient),
        before_sleep=log_retry,
        reraise=True,
    )
    try:
        return cast(ChatCompletion, retrying(one_attempt))
    except (openai.OpenAIError, MalformedBodyError) as exc:
        raise translate(exc, target, attempts=usage.attempts) from exc


def translate(
    exc: openai.OpenAIError | MalformedBodyError, target: Target, *, attempts: int
) -> ExtractionError:
    """The typed error for a transport failure the retries could not fix."""
    url, model, mode = target.url, target.model, target.mode
    timeout_s, api_key_env = target.timeout_s, target.api_key_env
    tries = f"{attempts} attempt(s)"
    if isinstance(exc, MalformedBodyError):
        return LLMError(f"{url} kept sending malformed responses: {exc} ({tries})", cause=exc)
    if isinstance(exc, openai.APITimeoutError):
        return LLMError(f"{url} did not answer within {timeout_s:g}s ({tries})", cause=exc)
    if isinstance(exc, openai.APIConnectionError):
        return LLMError(f"cannot reach {url} ({tries}): {describe(exc)}", cause=exc)
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return key_rejected(url, exc, api_key_env)
    if isinstance(exc, openai.NotFoundError):
        return BackendUnavailableError(
            f"{url} answered 404 for model {model!r}: check --model and that "
            "--base-url ends with the API root (usually /v1)",
            cause=exc,
        )
    if isinstance(exc, openai.APIStatusError):
        if is_transient(exc):
            return LLMError(f"{url} kept failing with HTTP {exc.status_code} ({tries})", cause=exc)
        hint = ""
        if exc.status_code in (400, 422):
            hint = f"; the endpoint may not support instructor mode {mode!r}, try --instructor-mode"
        return LLMError(
            f"{url} rejected the request (HTTP {exc.status_code}): {describe(exc)}{hint}",
            cause=exc,
        )
    return LLMError(f"{url}: {describe(exc)} ({tries})", cause=exc)


def key_rejected(url: str, exc: openai.APIStatusError, api_key_env: str) -> BackendUnavailableError:
    """401/403: the one message for a key the endpoint does not accept."""
    return BackendUnavailableError(
        f"{url} rejected the API key ({exc.status_code}): put a valid key in "
        f"${api_key_env} (or name another variable with --api-key-env)",
        cause=exc,
    )


def describe(exc: BaseException | None) -> str:
    """A one-line reason, short enough for a log line or an error message."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, openai.APIConnectionError) and exc.__cause__ is not None:
        exc = exc.__cause__  # openai's own text is only "Connection error."
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > 300:
        text = text[:300] + "…"
    return f"{type(exc).__name__}: {text}"
