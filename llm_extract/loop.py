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
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from .assess import assess
from .base import Backend
from .breaker import FallbackBreaker
from .config import Config, load_config
from .drugs import annotate_record
from .errors import BundleError, ConfigError, ExtractionError, MemoryLimitExceeded
from .limits import check_time, letter_budget
from .loading import Letter
from .models import Record, Usage
from .result import (
    LetterResult,
    error_as_data,
    error_data,
    source_label,
    usage_of,
)
from .review_flags import ReviewCode
from .sources import Source, load_source, to_letter
from .sources import source_letter_id as _letter_id_of

log = logging.getLogger(__name__)


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
    """Load and extract one file; a letter's problem becomes data, never an exception.

    A file holding several letters gives a failed result (a
    :class:`~llm_extract.errors.BundleError`, so a caller that expects one
    record per file never takes it for one) whose ``parts`` hold each
    letter's result; :func:`process_source` returns those directly.

    Raises :class:`ConfigError` (and :class:`BackendUnavailableError`): those
    are the backend's problem and stop the run.  A :class:`MemoryError` (a
    worker's memory cap, or the machine's) is the letter's
    :class:`MemoryLimitExceeded`.
    """
    results = process_source(source, backend, config, letter_id=letter_id, keep_text=keep_text)
    if len(results) == 1:
        return results[0]
    lid = _letter_id_of(source, letter_id)
    exc = BundleError(
        f"the file holds {len(results)} letters ({', '.join(r.letter_id for r in results)}); "
        "use llm_extract.extract_all() for one record each",
        letter=lid,
    )
    return replace(
        _result(source_label(source), lid, None, False, time.perf_counter(), error=exc),
        seconds=sum(r.seconds for r in results),
        parts=tuple(results),
    )


def process_source(
    source: Source,
    backend: Backend,
    config: Config | None = None,
    *,
    letter_id: str | None = None,
    keep_text: bool = False,
) -> list[LetterResult]:
    """Load a file and extract each of its letters: one result per letter (one
    failed result when the file cannot be loaded).  Loading and each letter run
    under the per-letter time budget (``Config.letter_seconds``)."""
    label = source_label(source)
    lid = _letter_id_of(source, letter_id)
    seconds = (config if config is not None else load_config()).letter_seconds
    started = time.perf_counter()
    try:
        with letter_budget(seconds, lid):
            letters = load_source(source, letter_id=letter_id, config=config)
    except ConfigError:
        raise
    except Exception as exc:  # the file's problem (or a loader's bug): data
        return [_failure(label, lid, None, keep_text, started, exc)]
    return [
        _extract_letter(label, letter, backend, seconds, keep_text, started if k == 0 else None)
        for k, letter in enumerate(letters)
    ]


def _extract_letter(
    label: str,
    letter: Letter,
    backend: Backend,
    seconds: float,
    keep_text: bool,
    started: float | None,
) -> LetterResult:
    lid = letter.letter_id
    started = time.perf_counter() if started is None else started
    try:
        with letter_budget(seconds, lid):
            record = annotate_record(backend.extract(letter))
            check_time("returning the record")
    except ConfigError:
        raise
    except Exception as exc:
        return _failure(label, lid, letter, keep_text, started, exc)
    flag_fallback(record)
    assess(record)
    usage = record.provenance.usage if record.provenance is not None else Usage()
    return _result(label, lid, letter, keep_text, started, record=record, usage=usage)


def _failure(
    label: str, lid: str, letter: Letter | None, keep_text: bool, started: float, exc: Exception
) -> LetterResult:
    """A letter's problem as data; called while ``exc`` is being handled."""
    if isinstance(exc, ExtractionError):
        # info, not warning: callers report the error themselves (CLI: one line).
        log.info("%s: %s", label, exc)
        return _result(label, lid, letter, keep_text, started, error=exc, usage=usage_of(exc))
    if isinstance(exc, MemoryError):
        letter = None  # let what it holds go before anything else is allocated
        limit = MemoryLimitExceeded(
            f"the letter needs more memory than this process may have ({exc or 'MemoryError'}); "
            "raise --worker-memory-mb (LLM_EXTRACT_WORKER_MEMORY_MB) if the letter is sound",
            letter=lid,
            cause=exc,
        )
        log.info("%s: %s", label, limit)
        return _result(label, lid, None, keep_text, started, error=limit)
    # A bug in a loader or a backend must not stop the run: keep it as data.
    log.exception("unexpected error extracting %s", label)
    return _result(label, lid, letter, keep_text, started, error=exc)


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
    "load_source",
    "process_one",
    "process_source",
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
    """:func:`process_source` over ``sources``, in order, one backend for all:
    one result per letter (a file holding several letters yields several).

    Checks the backend first (``check``), so a dead endpoint fails before the
    first letter.  Each result is yielded before the breaker looks at it: a
    caller that stores results keeps the one that tripped it, then gets
    :class:`EndpointDownError` from the iterator.
    """
    if check:
        check_backend(backend)
    breaker = breaker or FallbackBreaker.for_config(config)
    for src in sources:
        for result in process_source(src, backend, config, keep_text=keep_text):
            yield result
            breaker.observe(result)
