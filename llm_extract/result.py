"""What one letter's run gives: :class:`LetterResult`, and errors as data.

The one result type of :mod:`llm_extract.loop`: what the batch stores, what
``extract_many`` yields and what the eval harness scores.  Its own module so
the loop that makes results and the code that reads them (the batch's store,
the circuit breaker) need not import each other.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

from .errors import ExtractionError
from .loading import Letter
from .models import Record, Usage
from .sources import Source
from .sources import source_letter_id as _letter_id_of


# --- naming a source ---------------------------------------------------------------
def source_label(source: Source) -> str:
    """How a source is named in results and messages (a path, or the letter id)."""
    if isinstance(source, Letter):
        return source.letter_id
    if isinstance(source, str) and "\n" in source:
        return "text"
    return str(source)


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


def usage_of(exc: ExtractionError) -> Usage:
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
    # A file holding several letters: each letter's result (this one then
    # carries a BundleError, see process_one).
    parts: tuple[LetterResult, ...] = ()
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


__all__ = [
    "LetterResult",
    "describe_error",
    "error_as_data",
    "error_data",
    "source_label",
    "usage_of",
]
