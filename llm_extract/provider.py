"""The provider boundary: the only module that imports ``openai`` and ``instructor``.

:class:`LLMClient` turns (pydantic model, chat messages) into a validated
instance of the model through any OpenAI-compatible endpoint: OpenAI, vLLM,
Ollama, llama.cpp, or the embedded local llama.cpp server (``base_url=None``),
which is started lazily on the first call.

Two retry layers, each with one job:

* transport: ``tenacity`` retries timeouts, network errors, 408/409/429, 5xx
  and malformed 2xx bodies with exponential backoff and jitter, honouring
  ``Retry-After``.  The
  ``openai`` client's own retries are off (``max_retries=0``) so there is one
  policy, and every attempt is counted.
* content: re-asks (up to ``Config.max_reasks`` times) when the answer is not
  valid JSON or does not validate against the model.  The request, the parsing
  and the re-ask messages are instructor's (its mode handler for the endpoint's
  mode); what instructor derives from a response model is derived once per model,
  not per call (see :meth:`LLMClient._structured`).

Every HTTP attempt's token usage, including failed re-asks, is summed into the
:class:`CallUsage` returned with the object (or attached to the error raised).
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import functools
import json
import logging
import os
import ssl
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

import httpx
import instructor
import openai
from instructor.core.exceptions import IncompleteOutputException
from instructor.v2.core.errors import AsyncValidationError, ResponseParsingError
from instructor.v2.core.messages import copy_messages_for_mutation, merge_consecutive_messages
from instructor.v2.core.providers import Provider
from instructor.v2.core.registry import ModeHandlers, mode_registry
from instructor.v2.core.response_model import prepare_response_model
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from .config import Config
from .errors import BackendUnavailableError, ExtractionError, LLMError, LLMResponseError

if TYPE_CHECKING:
    from .llm.local_server import LocalServer

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

# The openai client refuses to start without a key; local servers ignore it.
NO_KEY = "sk-no-key"

_MODES = {
    "tools": instructor.Mode.TOOLS,
    "json": instructor.Mode.JSON,
    "json_schema": instructor.Mode.JSON_SCHEMA,
    "md_json": instructor.Mode.MD_JSON,
}

# instructor's retry loop logs every failure it sees at ERROR; we raise typed
# errors with the letter and field instead (and log transport retries ourselves).
_INSTRUCTOR_RETRY_LOG = logging.getLogger("instructor.v2.retry")
if _INSTRUCTOR_RETRY_LOG.level == logging.NOTSET:
    _INSTRUCTOR_RETRY_LOG.setLevel(logging.CRITICAL)


class MalformedBodyError(Exception):
    """The endpoint answered HTTP 2xx with a body that is not JSON or has no
    choices (a broken proxy, a truncated response).  Transient: retried like a 5xx."""


# 408 request timeout, 409 conflict (OpenAI uses it for transient lock errors),
# 429 rate limit; every 5xx.
_RETRY_STATUS = frozenset({408, 409, 429})


@dataclass
class CallUsage:
    """What one :meth:`LLMClient.complete` call cost, summed over every attempt."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0  # HTTP requests sent: transport retries and re-asks included
    seconds: float = 0.0

    def add(self, other: CallUsage) -> CallUsage:
        """Add ``other`` into this one (in place) and return it, for running totals."""
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.attempts += other.attempts
        self.seconds += other.seconds
        return self

    def __add__(self, other: CallUsage) -> CallUsage:
        return CallUsage().add(self).add(other)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Backoff:
    """Transport retry timing.  Tests shrink it; production uses the defaults."""

    initial: float = 1.0  # first wait, doubled per retry
    maximum: float = 30.0  # cap of the exponential wait
    jitter: float = 1.0  # up to this many seconds added at random
    max_retry_after: float = 120.0  # never sleep longer than this on a Retry-After


# What LLMClient uses when given no backoff.  Tests of code that builds its own
# client (backends, batch) shrink it: monkeypatch.setattr(provider, "DEFAULT_BACKOFF", ...).
DEFAULT_BACKOFF = Backoff()


def resolve_mode(config: Config) -> str:
    """The instructor mode for this endpoint.

    ``auto``: JSON mode (schema in ``response_format``, grammar-constrained) for
    the embedded llama.cpp server, which rejects JSON_SCHEMA mode; TOOLS for any
    other endpoint (OpenAI, vLLM, Ollama all support forced tool calls).
    """
    if config.instructor_mode != "auto":
        return config.instructor_mode
    return "json" if config.base_url is None else "tools"


def resolve_schema_in_prompt(config: Config, mode: str) -> bool:
    """Whether JSON mode pastes the schema into the system message too.

    ``auto``: not for the embedded llama.cpp server. It turns the schema in
    ``response_format`` into a grammar, so the answer has the schema's shape
    whatever the prompt says, and instructor's indented copy of the schema
    cost ~520 of the ~1,100 prompt tokens of a hybrid call (more than a short
    letter's own length).  Any other endpoint may only honour ``json_object``,
    so it gets instructor's text.
    """
    if mode not in ("json", "md_json"):
        return False  # TOOLS / JSON_SCHEMA carry the schema in the request itself
    if config.schema_in_prompt != "auto":
        return config.schema_in_prompt == "yes"
    return not (config.base_url is None and mode == "json")


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


class _TransportWait:
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


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """httpx's default TLS settings (certifi, or SSL_CERT_FILE/SSL_CERT_DIR), built once.

    Each new httpx client would otherwise load the CA bundle again: ~30-60 ms,
    paid by every batch worker process for its first request (forked workers
    inherit this context already built).
    """
    return httpx.create_ssl_context()


# Every live client, so that a forked child can drop what it copied (see below).
_CLIENTS: weakref.WeakSet[LLMClient] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A forked child (the batch's worker processes) must not use its parent's HTTP
    connections (two processes writing one socket), nor stop its parent's embedded
    server: it drops the copied client, to build its own on first use, and keeps
    only a borrowed reference to the server."""
    for client in list(_CLIENTS):
        client._lock = threading.Lock()
        client._client = None
        if client._server is not None and client._server.owned:
            client._server = dataclasses.replace(client._server, process=None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class LLMClient:
    """Structured completions from one OpenAI-compatible endpoint.

    Thread-safe: one client may serve many concurrent :meth:`complete` calls.
    """

    def __init__(self, config: Config, *, backoff: Backoff | None = None) -> None:
        self.config = config
        self.backoff = backoff or DEFAULT_BACKOFF
        self.mode: str = resolve_mode(config)
        self._instructor_mode = _MODES[self.mode]
        self._schema_in_prompt = resolve_schema_in_prompt(config, self.mode)
        self._lock = threading.Lock()
        self._client: openai.OpenAI | None = None
        self._server: LocalServer | None = None
        self._base_url: str | None = config.base_url
        _CLIENTS.add(self)
        if config.base_url is None:
            from .llm.model_files import local_model_name

            # The embedded server serves one model whatever a request names, so
            # the record names the model actually used, not a stray --model.
            self.model: str = local_model_name(config)
            if config.model and config.model != self.model:
                log.warning(
                    "--model %s ignored: without --base-url the embedded model %s is used",
                    config.model,
                    self.model,
                )
        else:
            if not config.model:
                raise BackendUnavailableError(
                    f"--base-url {config.base_url} needs a model name: pass --model "
                    "(or set LLM_EXTRACT_MODEL), e.g. gpt-4o-mini, qwen2.5:1.5b",
                    field="model",
                )
            self.model = config.model

    # -- endpoint -----------------------------------------------------------
    @property
    def base_url(self) -> str | None:
        """The endpoint in use; ``None`` until the embedded server has started."""
        return self._base_url

    def _openai(self) -> openai.OpenAI:
        """The HTTP client, starting the embedded server on first use."""
        with self._lock:
            if self._client is not None:
                if self._server is None or not self._server.owned or self._server.alive():
                    return self._client
                # The embedded server we started has died (killed, out of memory):
                # start a fresh one rather than fail every remaining letter.
                log.warning("the local LLM server stopped unexpectedly; starting it again")
                self._client.close()
                self._client = None
                self._server.release()
                self._server = None
                self._base_url = None
            if self._base_url is None:
                from .llm.local_server import acquire_server

                self._server = acquire_server(self.config)
                self._base_url = self._server.base_url
                # A server found on LLM_EXTRACT_LOCAL_PORT may serve another model.
                self.model = self._server.model
                api_key = NO_KEY
            else:
                api_key = self.config.api_key or NO_KEY
            self._client = openai.OpenAI(
                base_url=self._base_url,
                api_key=api_key,
                timeout=self.config.timeout_s,
                max_retries=0,  # tenacity below is the one retry policy
                http_client=openai.DefaultHttpxClient(verify=_ssl_context()),
            )
            return self._client

    def close(self) -> None:
        """Release the HTTP client; stop the embedded server if this client started it."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._server is not None:
                self._server.release()
                self._server = None
                self._base_url = None

    # -- one structured completion -----------------------------------------
    def complete(
        self,
        response_model: type[T],
        messages: list[dict[str, str]],
        *,
        letter_id: str | None = None,
        field: str | None = None,
        max_tokens: int | None = None,
    ) -> tuple[T, CallUsage]:
        """One validated ``response_model`` instance and what it cost.

        Raises :class:`LLMError` when the endpoint keeps failing,
        :class:`LLMResponseError` when it never answers with a valid object, and
        :class:`BackendUnavailableError` when it cannot be used at all (bad key,
        unknown model, embedded server does not start).  The error's ``usage``
        holds the tokens spent before it failed.
        """
        usage = CallUsage()
        started = time.monotonic()
        try:
            client = self._openai()
            result = self._structured(
                client,
                _request_template(response_model, self._instructor_mode, self._schema_in_prompt),
                messages,
                max_tokens or self.config.max_tokens,
                usage,
                letter_id,
                field,
            )
        except ExtractionError as exc:
            raise self._annotate(exc, usage, started, letter_id, field) from exc.cause
        except IncompleteOutputException as exc:
            err: ExtractionError = LLMResponseError(
                f"{self.model} stopped at max_tokens={max_tokens or self.config.max_tokens} "
                f"before finishing a {response_model.__name__}",
                cause=exc,
            )
            raise self._annotate(err, usage, started, letter_id, field) from exc
        except (openai.OpenAIError, MalformedBodyError) as exc:
            err = self._from_transport(exc, usage)
            raise self._annotate(err, usage, started, letter_id, field) from exc
        usage.seconds = time.monotonic() - started
        return _plain(result, response_model), usage

    def _structured(
        self,
        client: openai.OpenAI,
        template: _RequestTemplate,
        messages: list[dict[str, str]],
        max_tokens: int,
        usage: CallUsage,
        letter_id: str | None,
        field: str | None,
    ) -> BaseModel:
        """instructor's request / parse / re-ask cycle, with the per-model work cached.

        ``instructor.patch(...)(response_model=...)`` rebuilds everything it derives
        from the model on every call (a new wrapper class via ``create_model``, its
        JSON schema and tool definition, two recursive walks for async validators)
        and the openai client re-walks the request through its TypedDict transform:
        ~5 ms of CPU per call under the GIL, more than the HTTP exchange itself, and
        a new pydantic class per call that instructor's own schema cache then keeps.
        Here the request additions come from instructor's mode handler once per
        (model, mode) (:func:`_request_template`), and each answer goes through the
        same handler's ``parse_response`` and ``handle_reask``, so the bodies sent,
        the validation and the re-ask messages are instructor's.
        """
        request = template.request(
            messages,
            model=self.model,
            temperature=self.config.temperature,
            max_tokens=max_tokens,
        )
        send = self._sender(client, template.response_model, usage, letter_id, field)
        handlers = template.handlers
        max_attempts = max(0, self.config.max_reasks) + 1
        for attempt in range(1, max_attempts + 1):
            response = send(request)
            try:
                return cast(
                    BaseModel,
                    handlers.response_parser(
                        response=response,
                        response_model=template.prepared,
                        validation_context=None,
                        # Lax: "2" -> 2 is the validators' job, not a reason to re-ask.
                        strict=False,
                        stream=False,
                        is_async=False,
                    ),
                )
            except IncompleteOutputException:
                raise  # the same max_tokens would cut it off again
            except _REASK_ERRORS as exc:
                last = attempt == max_attempts
                _log_reask(letter_id, field, exc, attempt, max_attempts, last)
                if last:
                    raise self._no_valid_answer(template.response_model, attempt, exc) from exc
                request = handlers.reask_handler(kwargs=request, response=response, exception=exc)
            except Exception as exc:  # e.g. a refusal: not worth a re-ask
                raise self._no_valid_answer(template.response_model, attempt, exc) from exc
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _sender(
        self,
        client: openai.OpenAI,
        response_model: type[BaseModel],
        usage: CallUsage,
        letter_id: str | None,
        field: str | None,
    ) -> Callable[[dict[str, Any]], ChatCompletion]:
        """POST one chat completion with transport retries and usage counting.

        Built per call so that concurrent calls each count their own usage.
        ``client.post`` sends the body as built (instructor's kwargs are plain
        JSON already); ``chat.completions.create`` would re-walk every message
        through the openai client's TypedDict transform (~1.5 ms a call).
        """
        # llama.cpp's server constrains JSON mode with a grammar built from a
        # schema inside response_format; instructor's JSON mode only sends
        # {"type": "json_object"}, so the schema is added here.
        schema = _json_schema(response_model) if self.mode == "json" else None
        where = " ".join(p for p in (letter_id, field and f"field {field}") if p) or "request"

        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "%s: attempt %d failed (%s); retrying in %.1fs",
                where,
                state.attempt_number,
                _describe(exc),
                wait,
            )

        server = self._server
        turn: contextlib.AbstractContextManager[Any] = (
            server.request_lock if server is not None else contextlib.nullcontext()
        )

        def one_attempt(body: dict[str, Any]) -> ChatCompletion:
            with turn:
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

        def send(request: dict[str, Any]) -> ChatCompletion:
            body = request
            if schema is not None and request.get("response_format") == {"type": "json_object"}:
                body = {**request, "response_format": {"type": "json_object", "schema": schema}}
            retrying = Retrying(
                stop=stop_after_attempt(max(0, self.config.max_retries) + 1),
                wait=_TransportWait(self.backoff),
                retry=retry_if_exception(is_transient),
                before_sleep=log_retry,
                reraise=True,
            )
            return cast(ChatCompletion, retrying(one_attempt, body))

        return send

    def _no_valid_answer(
        self, response_model: type[BaseModel], attempts: int, cause: BaseException
    ) -> LLMResponseError:
        return LLMResponseError(
            f"{self.model} gave no valid {response_model.__name__} in "
            f"{attempts} attempt(s) ({self.config.max_reasks} re-ask(s)); last error: "
            f"{_describe(cause)}",
            cause=cause,
        )

    # -- errors ---------------------------------------------------------------
    def _annotate(
        self,
        err: ExtractionError,
        usage: CallUsage,
        started: float,
        letter_id: str | None,
        field: str | None,
    ) -> ExtractionError:
        usage.seconds = time.monotonic() - started
        err.letter = err.letter or letter_id
        err.field = err.field or field
        err.usage = usage
        return err

    def _from_transport(
        self, exc: openai.OpenAIError | MalformedBodyError, usage: CallUsage
    ) -> ExtractionError:
        url = self._base_url or "the local server"
        tries = f"{usage.attempts} attempt(s)"
        if isinstance(exc, MalformedBodyError):
            return LLMError(f"{url} kept sending malformed responses: {exc} ({tries})", cause=exc)
        if isinstance(exc, openai.APITimeoutError):
            return LLMError(
                f"{url} did not answer within {self.config.timeout_s:g}s ({tries})", cause=exc
            )
        if isinstance(exc, openai.APIConnectionError):
            return LLMError(f"cannot reach {url} ({tries}): {_describe(exc)}", cause=exc)
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return BackendUnavailableError(
                f"{url} rejected the API key ({exc.status_code}): put a valid key in "
                f"${self.config.api_key_env} (or name another variable with --api-key-env)",
                cause=exc,
            )
        if isinstance(exc, openai.NotFoundError):
            return BackendUnavailableError(
                f"{url} answered 404 for model {self.model!r}: check --model and that "
                "--base-url ends with the API root (usually /v1)",
                cause=exc,
            )
        if isinstance(exc, openai.APIStatusError):
            if is_transient(exc):
                return LLMError(
                    f"{url} kept failing with HTTP {exc.status_code} ({tries})", cause=exc
                )
            hint = ""
            if exc.status_code in (400, 422):
                hint = f"; the endpoint may not support instructor mode {self.mode!r}, try --instructor-mode"
            return LLMError(
                f"{url} rejected the request (HTTP {exc.status_code}): {_describe(exc)}{hint}",
                cause=exc,
            )
        return LLMError(f"{url}: {_describe(exc)} ({tries})", cause=exc)


def _log_reask(
    letter_id: str | None,
    field: str | None,
    error: Exception,
    attempt: int,
    max_attempts: int,
    last: bool,
) -> None:
    where = " ".join(p for p in (letter_id, field and f"field {field}") if p) or "request"
    log.info(
        "%s: answer %s of %s invalid (%s); %s",
        where,
        attempt,
        max_attempts,
        _describe(error),
        "giving up" if last else "re-asking",
    )


# What instructor re-asks on (instructor.v2.core.retry): the answer was not
# JSON, did not validate, or had no tool call / content to parse.
_REASK_ERRORS = (ValidationError, json.JSONDecodeError, AsyncValidationError, ResponseParsingError)


class _RequestTemplate:
    """What instructor derives from one response model in one mode, derived once.

    ``prepared`` is instructor's wrapper class for the model (built by
    ``prepare_response_model``, as ``instructor.patch`` does on every call);
    ``extra`` is what the mode's request handler adds to the request (tools and
    tool_choice, or response_format); ``system``/``trailer`` are the schema
    instructions JSON and MD_JSON modes put into the messages.  All of them are
    taken from the handler itself, by preparing a request with no messages, so
    they are instructor's text, not a copy of it.
    """

    def __init__(
        self, response_model: type[BaseModel], mode: instructor.Mode, schema_in_prompt: bool = True
    ) -> None:
        self.response_model = response_model
        self.mode = mode
        self.handlers: ModeHandlers = mode_registry.get_handlers(Provider.OPENAI, mode)
        prepared = prepare_response_model(response_model)
        assert prepared is not None
        self.prepared: type[BaseModel] = prepared
        prepared_model, probe = self.handlers.request_handler(
            response_model=prepared, kwargs={"messages": []}
        )
        self.prepared = prepared_model or prepared
        probe_messages = probe.pop("messages", [])
        self.extra: dict[str, Any] = probe
        self.system: str | None = None
        self.trailer: list[dict[str, Any]] = []
        if mode in (instructor.Mode.JSON, instructor.Mode.MD_JSON):
            # With no messages the handler inserts its system message first, and
            # MD_JSON appends its "answer in a ```json block" request after it.
            # Without the schema text only MD_JSON's trailer is kept.
            if schema_in_prompt:
                self.system = probe_messages[0]["content"]
            self.trailer = probe_messages[1:]

    @staticmethod
    def _add_system(msgs: list[dict[str, Any]], text: str) -> None:
        first = msgs[0] if msgs else None
        if first is None or first["role"] != "system":
            msgs.insert(0, {"role": "system", "content": text})
        elif isinstance(first["content"], str):
            first["content"] += f"\n\n{text}"
        elif isinstance(first["content"], list):
            first["content"][0]["text"] += f"\n\n{text}"
        else:
            msgs.insert(0, {"role": "system", "content": text})

    def request(self, messages: list[dict[str, str]], **params: Any) -> dict[str, Any]:
        """The request instructor would send: messages and params plus the mode's additions."""
        msgs: list[dict[str, Any]]
        if self.system is None and not self.trailer:
            msgs = list(messages)
        else:  # as instructor's JSON / MD_JSON handlers splice in their instructions
            msgs = copy_messages_for_mutation(list(messages))
            if self.system is not None:
                self._add_system(msgs, self.system)
            msgs.extend(dict(m) for m in self.trailer)
            msgs = merge_consecutive_messages(msgs)
        if self.handlers.message_converter is not None:
            msgs = self.handlers.message_converter(msgs, autodetect_images=False)
        # Shared, never mutated: re-asks extend the messages, json mode replaces
        # response_format in a new dict (as instructor shares its cached schema).
        return {"messages": msgs, **params, **self.extra}


@functools.lru_cache(maxsize=256)
def _request_template(
    response_model: type[BaseModel], mode: instructor.Mode, schema_in_prompt: bool = True
) -> _RequestTemplate:
    """One template per (model, mode, schema text); the models are the project's few
    schema classes (and the hybrid answer's one class per item count)."""
    return _RequestTemplate(response_model, mode, schema_in_prompt)


@functools.lru_cache(maxsize=256)
def _json_schema(response_model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema, built once: pydantic takes ~10-70 ms per call for a
    model the size of a Record, which would cap a concurrent batch's throughput."""
    return response_model.model_json_schema()


def _plain(result: BaseModel, response_model: type[T]) -> T:
    """The validated object as an instance of exactly ``response_model``.

    instructor returns an instance of a dynamic subclass (its schema mixin) with
    the raw completion pinned on it: that breaks equality with plain instances,
    cannot be pickled to a worker process, and keeps whole responses alive.
    The values were validated already, so they are copied without re-validation.
    """
    if type(result) is response_model:
        return result
    values = {k: v for k, v in result.__dict__.items() if not k.startswith("_")}
    plain = response_model.model_construct(_fields_set=set(result.model_fields_set), **values)
    if result.__pydantic_extra__:
        object.__setattr__(plain, "__pydantic_extra__", dict(result.__pydantic_extra__))
    private = {
        k: v
        for k, v in (result.__pydantic_private__ or {}).items()
        if k not in ("_raw_response", "_total_usage")
    }
    if private:
        object.__setattr__(plain, "__pydantic_private__", private)
    return plain


def _describe(exc: BaseException | None) -> str:
    """A one-line reason, short enough for a log line or an error message."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, openai.APIConnectionError) and exc.__cause__ is not None:
        exc = exc.__cause__  # openai's own text is only "Connection error."
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > 300:
        text = text[:300] + "…"
    return f"{type(exc).__name__}: {text}"
