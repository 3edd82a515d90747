"""The public entry point: ``llm_extract.extract(...)``.

The CLI, the eval harness and the batch all call :func:`extract` (or
:func:`extract_many`, which reuses one backend across letters).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backends import Backend, create_backend, default_backend_name
from .config import Config, load_config
from .errors import ExtractionError
from .loading import Letter, letter_from_text, load_letter
from .models import Record

log = logging.getLogger(__name__)

Source = str | Path | Letter

# One backend instance per (name, config) per process: the LLM backends hold an
# HTTP client and possibly a local server, which must not restart per letter.
_backends: dict[tuple[str, Config], Backend] = {}
_lock = threading.Lock()


def to_letter(source: Source, *, letter_id: str | None = None) -> Letter:
    """A :class:`Letter` from a path, a :class:`Letter`, or the text of a letter.

    A ``str`` is a path when it has no line break and names a ``.pdf``/``.txt``
    file or an existing path; otherwise it is the letter's text.
    """
    if isinstance(source, Letter):
        return source
    if isinstance(source, Path):
        return load_letter(source)
    if "\n" not in source and (
        source.lower().endswith((".pdf", ".txt")) or Path(source).exists()
    ):
        return load_letter(source)
    return letter_from_text(source, letter_id or "text")


def resolve_config(config: Config | None, **overrides: Any) -> Config:
    if config is None:
        return load_config(**overrides)
    return config.with_overrides(**overrides) if overrides else config


def get_backend(backend: str | Backend | None = None, config: Config | None = None) -> Backend:
    """The (shared) backend instance for a name, or the default backend."""
    if backend is not None and not isinstance(backend, str):
        return backend
    cfg = config or load_config()
    name = backend or default_backend_name(cfg)
    key = (name, cfg)
    with _lock:
        inst = _backends.get(key)
        if inst is None:
            inst = create_backend(name, cfg)
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
    input or when the backend cannot run.
    """
    letter = to_letter(source, letter_id=letter_id)
    if backend is not None and not isinstance(backend, str) and not overrides:
        # An instance carries its own configuration: reading the environment
        # again would be ~0.2 ms per letter for nothing in a batch.
        return backend.extract(letter)
    be = get_backend(backend, resolve_config(config, **overrides))
    return be.extract(letter)


@dataclass(frozen=True)
class ExtractResult:
    """One letter's outcome in :func:`extract_many`: a record or an error."""

    source: str
    record: Record | None = None
    error: ExtractionError | None = None

    @property
    def ok(self) -> bool:
        return self.record is not None


def extract_many(
    sources: Iterable[Source],
    *,
    backend: str | Backend | None = None,
    config: Config | None = None,
    **overrides: Any,
) -> Iterator[ExtractResult]:
    """Extract many letters, one result each; a bad letter does not stop the rest.

    Only :class:`ExtractionError` is caught: anything else is a bug and raises.
    """
    cfg = resolve_config(config, **overrides)
    be = get_backend(backend, cfg)
    for src in sources:
        label = str(src.letter_id if isinstance(src, Letter) else src)
        try:
            yield ExtractResult(label, record=be.extract(to_letter(src)))
        except ExtractionError as exc:
            # info, not warning: callers report the error themselves (CLI: one line).
            log.info("%s: %s", label, exc)
            yield ExtractResult(label, error=exc)
