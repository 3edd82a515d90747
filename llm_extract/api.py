"""The public entry point: ``llm_extract.extract(...)`` and ``extract_many(...)``.

:func:`extract` does one letter; :func:`extract_many`, the eval harness and the
batch run many through the one loop in :mod:`llm_extract.loop`, on a backend
from :func:`get_backend` (one instance per name and config per process,
checked once when it is built, so a dead endpoint fails fast).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from .backends import create_backend, default_backend_name
from .base import Backend
from .config import Config, load_config
from .loop import (
    LetterResult,
    Source,
    check_backend,
    process_one,
    process_source,
    run_letters,
    to_letter,
)
from .models import Record

log = logging.getLogger(__name__)

__all__ = ["LetterResult", "Source", "extract", "extract_all", "extract_many", "to_letter"]

# One backend instance per (name, config) per process: the LLM backends hold an
# HTTP client and possibly a local server, which must not restart per letter.
_backends: dict[tuple[str, Config], Backend] = {}
_lock = threading.Lock()


def resolve_config(config: Config | None, **overrides: Any) -> Config:
    if config is None:
        return load_config(**overrides)
    return config.with_overrides(**overrides) if overrides else config


def get_backend(backend: str | Backend | None = None, config: Config | None = None) -> Backend:
    """The (shared) backend instance for a name, or the default backend.

    A new instance is checked before it is handed out (an LLM backend reaches
    its endpoint, or starts the embedded server): a bad ``--base-url`` or key
    raises :class:`~llm_extract.errors.BackendUnavailableError` here, once.
    """
    if backend is not None and not isinstance(backend, str):
        return backend
    cfg = config or load_config()
    name = backend or default_backend_name(cfg)
    key = (name, cfg)
    with _lock:
        inst = _backends.get(key)
        if inst is None:
            inst = create_backend(name, cfg)
            try:
                check_backend(inst)
            except BaseException:
                inst.close()  # e.g. stop a local server that started but cannot serve
                raise
            _backends[key] = inst
        return inst


def close_backends() -> None:
    """Close every shared backend (stops a local server this process started)."""
    with _lock:
        for inst in _backends.values():
            try:
                inst.close()
            except Exception:  # closing is best effort; never mask the real error
                log.exception("closing backend %s failed", getattr(inst, "name", inst))
        _backends.clear()


def extract(
    source: Source,
    *,
    backend: str | Backend | None = None,
    config: Config | None = None,
    letter_id: str | None = None,
    **overrides: Any,
) -> Record:
    """Extract one letter into a validated :class:`Record`.

    ``source``: a path to a ``.pdf``/``.txt`` letter, a :class:`Letter`, or the
    letter's text.  ``backend``: ``"rules"``, ``"llm"``, ``"hybrid"`` (default:
    the embedded default, see README) or a backend instance.  ``overrides`` are
    :class:`Config` fields (``base_url``, ``model`` …).

    Raises a subclass of :class:`~llm_extract.errors.ExtractionError` on bad
    input or when the backend cannot run: the one loop's rule
    (:func:`~llm_extract.loop.process_one`), with the letter's error raised
    instead of returned as data; :class:`~llm_extract.errors.BundleError`
    when the file holds several letters (:func:`extract_all` gives one record each).
    """
    be, loading = _backend_and_loading(backend, config, overrides)
    result = process_one(source, be, loading, letter_id=letter_id)
    result.raise_for_error()
    assert result.record is not None  # no error: a record
    return result.record


def extract_all(
    source: Source,
    *,
    backend: str | Backend | None = None,
    config: Config | None = None,
    letter_id: str | None = None,
    **overrides: Any,
) -> list[Record]:
    """Extract every letter of a file: one :class:`Record` each, in file order.

    A file of one letter gives a list of one; a file holding several letters
    (merged PDFs, concatenated texts; :mod:`llm_extract.bundle`) one record per
    letter, each with ``provenance.part`` saying where it sits.  Raises the
    first letter's error, as :func:`extract` does.
    """
    be, loading = _backend_and_loading(backend, config, overrides)
    results = process_source(source, be, loading, letter_id=letter_id)
    for result in results:
        result.raise_for_error()
    return [result.record for result in results if result.record is not None]


def _backend_and_loading(
    backend: str | Backend | None, config: Config | None, overrides: dict[str, Any]
) -> tuple[Backend, Config | None]:
    loading = resolve_config(config, **overrides) if (config or overrides) else None
    if backend is not None and not isinstance(backend, str) and not overrides:
        # An instance carries its own configuration: reading the environment
        # again would be ~0.2 ms per letter for nothing in a batch.
        return backend, loading
    return get_backend(backend, loading or load_config()), loading


def extract_many(
    sources: Iterable[Source],
    *,
    backend: str | Backend | None = None,
    config: Config | None = None,
    **overrides: Any,
) -> Iterator[LetterResult]:
    """Extract many letters, one :class:`~llm_extract.loop.LetterResult` each.

    A bad letter does not stop the rest (its result carries the error as data);
    a backend that cannot run does, before the first letter (see
    :mod:`llm_extract.loop` for the one rule every loop follows).
    """
    cfg = resolve_config(config, **overrides)
    yield from run_letters(sources, get_backend(backend, cfg), cfg)
