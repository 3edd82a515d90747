"""The parts a letter is cut into: :class:`Section`, :class:`ItemBlock`, :class:`Segments`.

Their own module so that every segmenter (:mod:`.segment` for the current
layouts, :mod:`.older` for the older ones) builds the same types without
importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Decision


@dataclass(frozen=True)
class Section:
    """``letter.text[start:end]`` is the section's text (label excluded)."""

    name: str
    start: int
    end: int

    def text(self, letter_text: str) -> str:
        return letter_text[self.start : self.end]


@dataclass(frozen=True)
class ItemBlock:
    index: int
    decision_line: Section
    request: str
    original_request: str | None
    decision: Decision
    claims_guideline: Section | None
    maximus_guideline: Section | None
    rationale: Section | None
    start: int
    end: int


@dataclass(frozen=True)
class Segments:
    header: Section | None
    credentials: Section | None
    summary: Section | None
    items: list[ItemBlock]
    # What the segmenter could not read (older layouts); the rules backend
    # turns each into a review reason.
    notes: tuple[str, ...] = ()


def trimmed_section(name: str, text: str, start: int, end: int) -> Section | None:
    """A section with surrounding whitespace trimmed; None when empty."""
    chunk = text[start:end]
    stripped = chunk.strip()
    if not stripped:
        return None
    start += len(chunk) - len(chunk.lstrip())
    return Section(name, start, start + len(stripped))


__all__ = [
    "ItemBlock",
    "Section",
    "Segments",
    "trimmed_section",
]
