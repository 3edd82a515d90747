"""Structured output: a pydantic model in, a validated instance out.  The only
module that imports ``instructor``.

instructor does the structured-output work through its public API:
``instructor.patch(create=...)`` / ``instructor.Instructor`` around *our*
send function, ``.chat.completions.create(response_model=..., messages=...,
max_retries=<re-asks>, strict=False)``, and hooks (``completion:kwargs``,
``parse:error``) for the attempt count and the re-ask log lines.  Its mode
handler builds the request (tools / response_format / schema text), parses each
answer and writes the re-ask messages.

What the public API alone does not do, and how it is done here:

* Transport retries around each HTTP request, and counting every one of them:
  instructor calls the ``send`` it is given once per answer it asks for, and
  ``send`` (:func:`.transport.post_chat_completion`) retries and counts inside.
  ``from_openai(client)`` would fix ``send`` to ``client.chat.completions.create``.
* llama.cpp's dialect: it builds its grammar from a schema *inside*
  ``response_format`` (``{"type": "json_object", "schema": ...}``), which
  instructor's JSON mode never sends; :func:`_llama_cpp_body` adds it.
* JSON mode without the schema pasted into the system message (the embedded
  server: its grammar enforces the shape, and the pasted copy was ~520 of a
  hybrid call's ~1,100 prompt tokens): instructor's JSON mode always pastes
  it, its JSON_SCHEMA mode leaves the messages alone and parses and re-asks
  exactly as JSON mode does, so that mode is used and its ``response_format``
  rewritten to the llama.cpp form above.  (tests/test_provider_requests.py
  pins both behaviours, so an instructor upgrade that changes them fails there.)
* No new pydantic class per call: instructor wraps a plain model in a new
  subclass on every call (and keeps them); a model wrapped once with the public
  ``instructor.openai_schema`` is used as is, so it is wrapped once per model.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import instructor
from instructor.core import IncompleteOutputException, InstructorRetryException
from pydantic import BaseModel

from ..errors import LLMResponseError
from .transport import describe

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

# Our names (Config.instructor_mode) for instructor's modes.
MODES = {
    "tools": instructor.Mode.TOOLS,
    "json": instructor.Mode.JSON,
    "json_schema": instructor.Mode.JSON_SCHEMA,
    "md_json": instructor.Mode.MD_JSON,
}

# instructor logs every failure it sees at ERROR; we raise typed errors with the
# letter and field instead (and log transport retries and re-asks ourselves).
_INSTRUCTOR_LOG = logging.getLogger("instructor")
if _INSTRUCTOR_LOG.level == logging.NOTSET:
    _INSTRUCTOR_LOG.setLevel(logging.CRITICAL)

Send = Callable[[dict[str, Any]], Any]  # a request body -> openai ChatCompletion


@dataclass
class _Call:
    """What the hooks saw during one structured call."""

    about: str
    max_attempts: int
    answers: int = 0  # answers asked for: the first and each re-ask
    last_error: Exception | None = None
    failure: BaseException | None = None  # raised by send (transport), re-raised as is

    def asked(self, *_: Any, **__: Any) -> None:  # completion:kwargs
        self.answers += 1

    def invalid(self, error: Exception, *_: Any, **__: Any) -> None:  # parse:error
        self.last_error = error
        last = self.answers >= self.max_attempts
        log.info(
            "%s: answer %s of %s invalid (%s); %s",
            self.about,
            self.answers,
            self.max_attempts,
            describe(error),
            "giving up" if last else "re-asking",
        )


def complete(
    send: Send,
    response_model: type[T],
    messages: list[dict[str, str]],
    *,
    mode: str,
    schema_in_prompt: bool,
    max_reasks: int,
    about: str,
    model_name: str,
    **params: Any,
) -> T:
    """One validated ``response_model`` instance, re-asking up to ``max_reasks`` times.

    ``params`` (model, temperature, max_tokens) go into every request.  Raises
    :class:`LLMResponseError` when no answer validates or one is cut off at
    ``max_tokens``; whatever ``send`` raises (a typed transport error) is
    raised unchanged.
    """
    instructor_mode = MODES[mode]
    rewrite_format = mode == "json"
    if mode == "json" and not schema_in_prompt:
        instructor_mode = instructor.Mode.JSON_SCHEMA  # see the module docstring
    schema = _json_schema(response_model) if rewrite_format else None
    call = _Call(about=about, max_attempts=max(0, max_reasks) + 1)

    def create(**request: Any) -> Any:
        try:
            return send(_llama_cpp_body(request, schema) if schema is not None else request)
        except BaseException as exc:
            call.failure = exc
            raise

    client = instructor.Instructor(
        client=None,
        create=instructor.patch(create=create, mode=instructor_mode),
        mode=instructor_mode,
    )
    client.on("completion:kwargs", call.asked)
    client.on("parse:error", call.invalid)
    try:
        result = client.chat.completions.create(
            response_model=_wrapped(response_model),
            messages=messages,  # type: ignore[arg-type]  # plain dicts are what it sends
            max_retries=max(0, max_reasks),
            strict=False,  # lax: "2" -> 2 is the validators' job, not a reason to re-ask
            **params,
        )
    except IncompleteOutputException as exc:  # the same max_tokens would cut it off again
        raise LLMResponseError(
            f"{model_name} stopped at max_tokens={params.get('max_tokens')} "
            f"before finishing a {response_model.__name__}",
            cause=exc,
        ) from exc
    except InstructorRetryException as exc:
        if call.failure is not None:
            # send's own (typed transport) error, not "no valid answer"
            raise call.failure from call.failure.__cause__
        cause = call.last_error or exc.__cause__ or exc
        raise LLMResponseError(
            f"{model_name} gave no valid {response_model.__name__} in "
            f"{call.answers} attempt(s) ({max_reasks} re-ask(s)); last error: {describe(cause)}",
            cause=cause,
        ) from exc
    return _unwrapped(result, response_model)


def _llama_cpp_body(request: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """JSON mode as llama.cpp's server wants it: the schema inside
    ``response_format``, where its grammar is built from (instructor sends
    ``{"type": "json_object"}``, or a ``json_schema`` format that server rejects)."""
    return {**request, "response_format": {"type": "json_object", "schema": schema}}


@functools.lru_cache(maxsize=256)
def _wrapped(response_model: type[BaseModel]) -> type[BaseModel]:
    """instructor's wrapper class for the model, made once per model (instructor
    makes one per call unless given one; the models are the project's few schema
    classes and the hybrid answer's one class per item count).

    Its JSON schema is built once too: instructor's JSON modes ask pydantic for
    it on every call (~1-2 ms for an item's facts, a third of what instructor
    adds to a call).  Each call still gets a fresh dict (decoded from the cached
    text): instructor edits the schema dicts it is given, and a shared one
    carried a tool's ``description`` from TOOLS mode into JSON mode's prompt.
    """
    wrapped: type[BaseModel] = instructor.openai_schema(response_model)
    build = wrapped.model_json_schema

    @functools.lru_cache(maxsize=8)
    def text(*args: Any, **kwargs: Any) -> str:
        return json.dumps(build(*args, **kwargs))

    def model_json_schema(*args: Any, **kwargs: Any) -> dict[str, Any]:
        schema: dict[str, Any] = json.loads(text(*args, **kwargs))
        return schema

    # A class attribute on instructor's wrapper (ours: made above, once): pydantic's
    # classmethod, answered from the cache.
    wrapped.model_json_schema = staticmethod(model_json_schema)  # type: ignore[method-assign]
    return wrapped


@functools.lru_cache(maxsize=256)
def _json_schema(response_model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema, built once: pydantic takes ~10-70 ms per call for a
    model the size of a Record, which would cap a concurrent batch's throughput."""
    return response_model.model_json_schema()


def _unwrapped(result: BaseModel, response_model: type[T]) -> T:
    """The validated object as an instance of exactly ``response_model``.

    instructor returns an instance of its wrapper subclass with the raw
    completion pinned on it: that breaks equality with plain instances,
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
