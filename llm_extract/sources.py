"""What a caller hands over: a path, a folder, a :class:`Letter`, or a letter's text.

The one place that decides which of those a value is and turns it into
letters (:func:`load_source`), and that walks folders for letter files; the
loading itself is :mod:`.loading`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from .config import Config
from .loading import SUPPORTED_SUFFIXES, Letter, bundle_error, letters_from_text, load_letters

log = logging.getLogger(__name__)


Source = str | Path | Letter


def source_letter_id(source: Source, letter_id: str | None) -> str:
    """The letter id a source gets when it holds one letter."""
    if letter_id:
        return letter_id
    if isinstance(source, Letter):
        return source.letter_id
    if isinstance(source, str) and "\n" in source:
        return "text"
    return Path(source).stem


def load_source(
    source: Source, *, letter_id: str | None = None, config: Config | None = None
) -> list[Letter]:
    """The letters of a path, a :class:`Letter`, or a text: one, or one per letter of a bundle.

    A ``str`` is a path when it has no line break and names a ``.pdf``/``.txt``
    file or an existing path; otherwise it is the letters' text.  ``config``
    is where loading options (text route, OCR, limits) come from.
    """
    if isinstance(source, Letter):
        return [source]
    if isinstance(source, Path):
        return load_letters(source, config=config)
    if "\n" not in source and (source.lower().endswith((".pdf", ".txt")) or _is_path(source)):
        return load_letters(source, config=config)
    return letters_from_text(source, letter_id or "text")


def _is_path(source: str) -> bool:
    if not source.strip():  # Path("") is the current folder: an empty text is empty
        return False
    try:
        return Path(source).exists()
    except (OSError, ValueError):  # too long for a file name, or a NUL in it: text
        return False


def to_letter(
    source: Source, *, letter_id: str | None = None, config: Config | None = None
) -> Letter:
    """The one :class:`Letter` of a source (see :func:`load_source`).

    Raises :class:`~llm_extract.errors.BundleError` when it holds several.
    """
    letters = load_source(source, letter_id=letter_id, config=config)
    if len(letters) > 1:
        raise bundle_error(letters, source_letter_id(source, letter_id))
    return letters[0]


def walk_letter_files(folder: Path) -> Iterator[Path]:
    """Letter files (``.pdf``/``.txt``) under ``folder``, recursively, lazily:
    depth first, each level sorted by name (an unreadable folder is logged and
    skipped).  The one folder walk: ``extract`` and ``batch`` both use it."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        log.warning("cannot list %s: %s", folder, exc.strerror)
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from walk_letter_files(Path(entry.path))
        elif entry.is_file() and Path(entry.name).suffix.lower() in SUPPORTED_SUFFIXES:
            yield Path(entry.path)


def iter_letter_paths(inputs: list[str | Path]) -> list[Path]:
    """Expand files and folders (searched recursively, sorted) into letter paths.

    A path that does not exist is returned as-is so the caller reports it as a
    per-letter error instead of silently dropping it.
    """
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out.extend(walk_letter_files(p))
        else:
            out.append(p)
    return out
