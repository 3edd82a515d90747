"""The letter text a record's spans point into, and its evidence highlights.

The store keeps ``source_path`` and ``text_sha256`` but not the text.  The
review reloads the letter with :func:`llm_extract.loading.load_letters` and
checks that the text's sha256 is the record's: only then do the spans point
at the right characters.  The text is then kept in the review's own
``review_texts`` table, so the page opens in milliseconds the next time (a PDF
takes ~20 ms, an OCR'd one seconds) and still opens once the archive has
moved.  Why not store every text at batch time: it would double the store for
the letters nobody opens, and the batch's results table is not ours.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
from dataclasses import dataclass
from typing import Any

from ..batch.corrections import ReviewDB
from ..errors import ExtractionError
from ..loading import load_letters


@dataclass(frozen=True)
class LetterText:
    text: str | None
    problem: str | None = None  # why there is no text, or why spans may be off


def _reload(path: str, text_source: str | None, part: int | None) -> str:
    kwargs: dict[str, Any] = {}
    # The text route the batch used (TEXT's loader takes it as text_from).
    if text_source not in (None, "pdfium", "text", "ocr") and (
        "text_from" in inspect.signature(load_letters).parameters
    ):
        kwargs["text_from"] = text_source
    # A file holding several letters: the record's own letter (provenance.part).
    letters = load_letters(path, **kwargs)
    return letters[min(part or 1, len(letters)) - 1].text


def letter_text(db: ReviewDB | None, row: Any, record: dict[str, Any] | None) -> LetterText:
    """The text of a results row's letter; ``problem`` says when it is missing or changed."""
    sha = row["text_sha256"] or ((record or {}).get("provenance") or {}).get("text_sha256")
    if db is not None and sha:
        cached = db.cached_text(sha)
        if cached is not None:
            return LetterText(cached)
    prov = (record or {}).get("provenance") or {}
    try:
        part = (prov.get("part") or {}).get("index")
        text = _reload(row["source_path"], prov.get("text_source"), part)
    except ExtractionError as exc:
        return LetterText(None, f"the letter text cannot be loaded: {exc}")
    except Exception as exc:  # a reader's bug must not take the page down
        return LetterText(None, f"the letter text cannot be loaded: {type(exc).__name__}: {exc}")
    got = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if sha and got != sha:
        return LetterText(
            text,
            f"{row['source_path']} has changed since it was extracted (its text is not the "
            "one the record's spans point into): highlights are hidden",
        )
    if db is not None and sha:
        db.cache_text(sha, text)
    return LetterText(text)


@dataclass(frozen=True)
class Segment:
    text: str
    fields: tuple[str, ...]  # the fields whose evidence covers this stretch


def field_spans(record: dict[str, Any]) -> dict[str, list[tuple[int, int]]]:
    """field path -> its spans: ``Record.evidence`` plus each item's decision line."""
    out: dict[str, list[tuple[int, int]]] = {}
    for ev in record.get("evidence") or []:
        for sp in ev.get("spans") or []:
            out.setdefault(ev["field"], []).append((int(sp["start"]), int(sp["end"])))
    for i, item in enumerate(record.get("items") or []):
        sp = item.get("span")
        if sp:
            out.setdefault(f"items[{i}]", []).append((int(sp["start"]), int(sp["end"])))
    return out


def segments(text: str, spans: dict[str, list[tuple[int, int]]]) -> list[Segment]:
    """Cut ``text`` at every span boundary; each piece knows the fields covering it."""
    n = len(text)
    bounds = {0, n}
    clean: list[tuple[int, int, str]] = []
    for fld, pairs in spans.items():
        for start, end in pairs:
            start, end = max(0, min(start, n)), max(0, min(end, n))
            if end > start:
                clean.append((start, end, fld))
                bounds.update((start, end))
    cuts = sorted(bounds)
    out: list[Segment] = []
    for a, b in itertools.pairwise(cuts):
        covering = tuple(sorted(f for s, e, f in clean if s <= a and b <= e))
        if out and out[-1].fields == covering:
            out[-1] = Segment(out[-1].text + text[a:b], covering)
        else:
            out.append(Segment(text[a:b], covering))
    return out
