"""The one loop for many letters: :func:`process_one` and :func:`run_letters`.

Everything that runs more than one letter — :func:`llm_extract.extract_many`,
the eval runner, the batch's worker threads and processes — goes through
:func:`process_one`, so all of them agree on what a failure is:

- a :class:`~llm_extract.errors.ConfigError` (including
  :class:`~llm_extract.errors.BackendUnavailableError`: no endpoint, a rejected
  key, a local server that does not start) is about the backend, not the
  letter: it is raised and stops the run (before the first letter when
  :func:`check_backend` finds it, or as soon as a letter meets it);
- an :class:`~llm_extract.errors.ExtractionError` is the letter's problem: it
  becomes data (:func:`error_as_data`) and the run goes on;
- anything else is a bug in a backend: it becomes data too, and its traceback
  is logged and kept in the data.

and on when a run must stop although every letter "worked": when letter after
letter comes back as the parser's record because the LLM endpoint failed
(:class:`FallbackBreaker`), the archive would silently be degraded.

:class:`LetterResult` is the one result type: what the batch stores, what
``extract_many`` yields and what the eval harness scores.
"""

from __future__ import annotations

import logging
import time
import traceback
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import Backend
from .breaker import FallbackBreaker
from .config import Config
from .errors import ConfigError, ExtractionError, MemoryLimitExceeded
from .loading import Letter, letter_from_text, load_letter
from .models import Record, Usage
from .review_flags import ReviewCode

log = logging.getLogger(__name__)

Source = str | Path | Letter


# --- loading a source ------------------------------------------------------------
def to_letter(
    source: Source, *, letter_id: str | None = None, config: Config | None = None
) -> Letter:
    """A :class:`Letter` from a path, a :class:`Letter`, or the text of a letter.

    A ``str`` is a path when it has no line break and names a ``.pdf``/``.txt``
    file or an existing path; otherwise it is the letter's text.  ``config``
    is where loading options (text route, OCR) come from.
    """
    if isinstance(source, Letter):
        return source
    if isinstance(source, Path):
        return load_letter(source, config=config)
    if "\n" not in source and (source.lower().endswith((".pdf", ".txt")) or _is_path(source)):
        return load_letter(source, config=config)
    return letter_from_text(source, letter_id or "text")


def _is_path(source: str) -> bool:
    if not source.strip():  # Path("") is the current folder: an empty text is empty
        return False
    try:
        return Path(source).exists()
    except (OSError, ValueError):  # too long for a file name, or a NUL in it: text
        return False


def source_label(source: Source) -> str:
    """How a source is named in results and messages (a path, or the letter id)."""
    if isinstance(source, Letter):
        return source.letter_id
    if isinstance(source, str) and "\n" in source:
        return "text"
    return str(source)


def _letter_id_of(source: Source, letter_id: str | None) -> str:
    if letter_id:
        return letter_id
    if isinstance(source, Letter):
        return source.letter_id
    if isinstance(source, str) and "\n" in source:
        return "text"
    return Path(source).stem


# --- errors as data --------------------------------------------------------------
def error_as_data(exc: BaseException, letter_id: str | None) -> dict[str, Any]:
    """The one error-as-data shape: :meth:`ExtractionError.to_dict` plus ``exit_code``;
    for any other exception the same keys, ``unexpected: True`` and its traceback."""
    if isinstance(exc, ExtractionError):
        data: dict[str, Any] = dict(exc.to_dict())
        data["letter"] = data.get("letter") or letter_id
        data["exit_code"] = exc.exit_code
        return data
    return error_data(
        type(exc).__name__,
        str(exc) or repr(exc),
        letter_id,
        unexpected=True,
        traceback="".join(traceback.format_exception(exc)) if exc.__traceback__ else None,
    )


def error_data(
    error_class: str, message: str, letter_id: str | None, **extra: Any
) -> dict[str, Any]:
    """The same shape for an error that is no exception (a gold letter nobody predicted)."""
    return {
        "error": error_class,
        "message": message,
        "letter": letter_id,
        "field": None,
        "cause": None,
        "exit_code": 1,
        **extra,
    }


def describe_error(data: dict[str, Any]) -> str:
    """One line for an error as data, as ``str(ExtractionError)`` reads."""
    message = str(data.get("message") or data.get("error") or "unknown error")
    if data.get("unexpected"):
        message = f"unexpected {data.get('error')}: {message}"
    where = [str(w) for w in (data.get("letter"), data.get("field")) if w]
    if len(where) == 2:
        where[1] = f"field {where[1]}"
    return ": ".join([*where, message])


def _usage_of(exc: ExtractionError) -> Usage:
    # An LLM failure after retries still spent tokens; the provider attaches them.
    spent = getattr(exc, "usage", None)
    if spent is None:
        return Usage()
    if isinstance(spent, Usage):
        return spent
    return Usage(
        prompt_tokens=int(getattr(spent, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(spent, "completion_tokens", 0) or 0),
        attempts=int(getattr(spent, "attempts", 0) or 0),
        seconds=round(float(getattr(spent, "seconds", 0.0) or 0.0), 3),
    )


# --- the result ------------------------------------------------------------------
@dataclass(frozen=True)
class _WireRecord:
    """A record as it crosses a process boundary: its JSON and what the batch's
    main process reads without parsing it (pickling the pydantic tree costs
    ~5x its JSON, and that main process is the one the batch must keep free)."""

    json: str
    fallback: bool
    fallback_reason: str | None


class _RecordSlot:
    """The ``record`` field: a :class:`Record`, parsed from its JSON on first
    access when the result came from another process."""

    def __get__(self, obj: Any, objtype: Any = None) -> Record | None:
        if obj is None:
            return None  # the field's default
        value = obj.__dict__.get("_record")
        if isinstance(value, _WireRecord):
            value = Record.model_validate_json(value.json)
            obj.__dict__["_record"] = value
        return value

    def __set__(self, obj: Any, value: Record | None) -> None:
        obj.__dict__["_record"] = value


@dataclass(frozen=True)
class LetterResult:
    """One letter's outcome: a record, or an error as data (never both).

    ``seconds``: wall clock of loading + extracting, measured here (0 when the
    result was read back from a file).  ``text``: the letter's text, only when
    asked for (``keep_text``: the eval's HTML drill-down).  Pickled (worker
    processes), the record travels as JSON and is parsed only if read.
    """

    source: str
    letter_id: str
    record: _RecordSlot = _RecordSlot()
    error: dict[str, Any] | None = None
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    text_sha256: str | None = None
    text: str | None = field(default=None, repr=False)
    # The exception behind ``error``, in the process that met it (not pickled: a
    # traceback does not travel), so extract() can raise exactly that.
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["exception"] = None
        rec = state.get("_record")
        if isinstance(rec, Record):
            prov = rec.provenance
            state["_record"] = _WireRecord(
                rec.to_json(),
                bool(prov is not None and prov.fallback),
                prov.fallback_reason if prov is not None else None,
            )
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @property
    def ok(self) -> bool:
        return self.__dict__.get("_record") is not None

    @property
    def record_json(self) -> str | None:
        """The record as JSON (what the batch stores), without parsing a shipped one."""
        rec = self.__dict__.get("_record")
        if isinstance(rec, _WireRecord):
            return rec.json
        return rec.to_json() if rec is not None else None

    @property
    def fallback(self) -> bool:
        """True when the record is the parser's because the LLM failed."""
        rec = self.__dict__.get("_record")
        if isinstance(rec, _WireRecord):
            return rec.fallback
        prov = rec.provenance if rec is not None else None
        return bool(prov is not None and prov.fallback)

    @property
    def fallback_reason(self) -> str | None:
        rec = self.__dict__.get("_record")
        if isinstance(rec, _WireRecord):
            return rec.fallback_reason
        prov = rec.provenance if rec is not None else None
        return prov.fallback_reason if prov is not None and prov.fallback else None

    def raise_for_error(self) -> None:
        """Raise the letter's error, if any: the original exception where it was met,
        else an :class:`ExtractionError` saying the same (a result from elsewhere)."""
        if self.error is None:
            return
        if self.exception is not None:
            raise self.exception
        raise ExtractionError(describe_error({**self.error, "letter": None}), letter=self.letter_id)

    @property
    def error_class(self) -> str | None:
        return None if self.error is None else str(self.error.get("error"))

    @property
    def error_message(self) -> str | None:
        """The error as one line (``letter: field: message``), or None."""
        return None if self.error is None else describe_error(self.error)

    @property
    def exit_code(self) -> int:
        """What the CLI exits with for this letter alone (0 when it worked)."""
        return 0 if self.error is None else int(self.error.get("exit_code") or 1)

    @property
    def usage_seconds(self) -> float | None:
        """Measured seconds, else the record's own (a result read from a file)."""
        if self.seconds > 0:
            return self.seconds
        prov = self.record.provenance if self.record is not None else None
        if prov is not None and prov.usage.seconds > 0:
            return prov.usage.seconds
        return None

    def tokens(self) -> tuple[int, int]:
        """(prompt, completion) tokens spent on this letter, failed attempts included."""
        u = self.usage
        prov = self.record.provenance if self.record is not None else None
        if prov is not None and u == Usage():  # read back from a file: the record says
            u = prov.usage
        return u.prompt_tokens, u.completion_tokens

    @classmethod
    def of_record(cls, letter_id: str, record: Record, **kw: Any) -> LetterResult:
        """A result for a record made elsewhere (a predictions file, a test)."""
        kw.setdefault("source", letter_id)
        return cls(letter_id=letter_id, record=record, **kw)

    @classmethod
    def failed(
        cls, source: str, exc: BaseException, *, letter_id: str | None = None, **kw: Any
    ) -> LetterResult:
        """A result for a letter that did not get as far as the backend."""
        lid = letter_id or _letter_id_of(source, None)
        return cls(source=source, letter_id=lid, error=error_as_data(exc, lid), exception=exc, **kw)


def flag_fallback(record: Record) -> None:
    """A fallback record always needs review, with its reason (HYBRID may set it too)."""
    prov = record.provenance
    if prov is None or not prov.fallback:
        return
    if record.flags_of(ReviewCode.LLM_UNAVAILABLE):
        return  # the backend said so already
    reason = prov.fallback_reason or "unknown reason"
    record.flag(
        ReviewCode.LLM_FALLBACK, f"the LLM failed, so every value is the parser's: {reason}"
    )


def process_one(
    source: Source,
    backend: Backend,
    config: Config | None = None,
    *,
    letter_id: str | None = None,
    keep_text: bool = False,
) -> LetterResult:
    """Load and extract one letter; a letter's problem becomes data, never an exception.

    Raises :class:`ConfigError` (and :class:`BackendUnavailableError`): those
    are the backend's problem and stop the run.  A :class:`MemoryError` (a
    worker's memory cap, or the machine's) is the letter's
    :class:`MemoryLimitExceeded`.
    """
    label = source_label(source)
    lid = _letter_id_of(source, letter_id)
    started = time.perf_counter()
    letter: Letter | None = None
    try:
        letter = to_letter(source, letter_id=letter_id, config=config)
        lid = letter.letter_id
        record = backend.extract(letter)
    except ConfigError:
        raise
    except ExtractionError as exc:
        # info, not warning: callers report the error themselves (CLI: one line).
        log.info("%s: %s", label, exc)
        return _result(label, lid, letter, keep_text, started, error=exc, usage=_usage_of(exc))
    except MemoryError as exc:
        letter = None  # let what it holds go before anything else is allocated
        limit = MemoryLimitExceeded(
            f"the letter needs more memory than this process may have ({exc or 'MemoryError'}); "
            "raise --worker-memory-mb (LLM_EXTRACT_WORKER_MEMORY_MB) if the letter is sound",
            letter=lid,
            cause=exc,
        )
        log.info("%s: %s", label, limit)
        return _result(label, lid, letter, keep_text, started, error=limit)
    except Exception as exc:  # a bug in a backend must not stop the run: keep it as data
        log.exception("unexpected error extracting %s", label)
        return _result(label, lid, letter, keep_text, started, error=exc)
    flag_fallback(record)
    usage = record.provenance.usage if record.provenance is not None else Usage()
    return _result(label, lid, letter, keep_text, started, record=record, usage=usage)


def _result(
    label: str,
    lid: str,
    letter: Letter | None,
    keep_text: bool,
    started: float,
    *,
    record: Record | None = None,
    error: BaseException | None = None,
    usage: Usage | None = None,
) -> LetterResult:
    return LetterResult(
        source=label,
        letter_id=lid,
        record=record,
        error=error_as_data(error, lid) if error is not None else None,
        exception=error,
        usage=usage or Usage(),
        seconds=time.perf_counter() - started,
        text_sha256=letter.sha256 if letter is not None else None,
        text=letter.text if keep_text and letter is not None else None,
    )


# --- the loop ----------------------------------------------------------------------
__all__ = [
    "LetterResult",
    "Source",
    "check_backend",
    "error_as_data",
    "error_data",
    "process_one",
    "run_letters",
    "to_letter",
]

# Backends whose check passed in this process: get_backend checks a new instance,
# and run_letters then need not ask the endpoint again.
_checked: weakref.WeakSet[Any] = weakref.WeakSet()


def check_backend(backend: Backend) -> None:
    """Fail fast: an LLM backend checks its endpoint (raises BackendUnavailableError)."""
    check = getattr(backend, "check", None)
    if not callable(check):
        return
    try:
        if backend in _checked:
            return
    except TypeError:  # not weak-referenceable: check every time
        check()
        return
    check()
    _checked.add(backend)


def run_letters(
    sources: Iterable[Source],
    backend: Backend,
    config: Config | None = None,
    *,
    keep_text: bool = False,
    check: bool = True,
    breaker: FallbackBreaker | None = None,
) -> Iterator[LetterResult]:
    """:func:`process_one` over ``sources``, in order, one backend for all.

    Checks the backend first (``check``), so a dead endpoint fails before the
    first letter.  Each result is yielded before the breaker looks at it: a
    caller that stores results keeps the one that tripped it, then gets
    :class:`EndpointDownError` from the iterator.
    """
    if check:
        check_backend(backend)
    breaker = breaker or FallbackBreaker.for_config(config)
    for src in sources:
        result = process_one(src, backend, config, keep_text=keep_text)
        yield result
        breaker.observe(result)
