"""What makes two extractions "the same": the letter key.

A letter's key is the sha256 of

    file content sha256 | backend name | backend version | model | prompt version
    [| text route, when not the default PDFium text: ``--text-from``, ``--ocr``]

so a renamed or copied file is the same letter (extracted once), and changing
the backend, its version, the model or the prompt version makes a new key
(extracted again, the old result kept beside it).

The content hash is over the file's bytes, not over the normalised text
(:attr:`Letter.sha256`): the skip check then needs one read of the file (about
0.1 ms for a 100 kB PDF) instead of a PDF text extraction (tens of ms), which is
what lets a re-run over an archive skip everything in about a second.  The cost:
a PDF and a .txt copy of it are two letters.  The text hash is still recorded
in every record's provenance.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..base import BackendIdentity

__all__ = ["BackendIdentity", "file_sha256", "letter_key", "missing_key", "part_key"]

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes (raises OSError when unreadable)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def letter_key(content_sha256: str, ident: BackendIdentity) -> str:
    parts = [
        content_sha256,
        ident.name,
        ident.version,
        ident.model or "",
        ident.prompt_version or "",
    ]
    if ident.text_route:  # only when not the default, so older stores keep their keys
        parts.append(ident.text_route)
    material = "\x1f".join(parts)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def part_key(file_key: str, index: int) -> str:
    """The key of the ``index``-th (1-based) letter of a file holding several.

    The file's own key is then the key of no row: its letters are stored
    apart, each under its own key (:meth:`Store.commit_many`).
    """
    return hashlib.sha256(f"{file_key}\x1fpart{index}".encode()).hexdigest()


def missing_key(path: Path, ident: BackendIdentity) -> str:
    """The key of a path that cannot be read: it has no content to hash."""
    return letter_key("unreadable:" + os.path.abspath(path), ident)
