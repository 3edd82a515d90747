"""What part of a letter each LLM field needs, and whether an answer is in the text.

A small model on two CPU cores reads about 50 tokens a second, so the prompts
carry only the sentences a field is stated in: the case summary's sentences
that state the age, the injury date or the diagnoses (the very phrases
RECORD.md defines those fields by), and each item's decision line.

``grounded`` is the guard on the other side: a copied value (a body region, a
drug name, a diagnosis) is used only when it really occurs in the text it was
copied from, so a made-up or rephrased answer never reaches the record.
"""

from __future__ import annotations

import re

from ..document.text import DATE_RE, clean

# A sentence ends at . ! ? followed by space and an upper-case letter or digit.
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"(])")
_NEEDED = re.compile(
    r"\d+\s*-?\s*(?:year|yr)s?\s*-?\s*old|\bage\s+\d+|\baged\s+\d+"
    r"|diagnos|treat(?:ed|ment)\s+for|injur|\bDOI\b",
    re.I,
)
_INJURY = re.compile(r"injur|\bDOI\b", re.I)
# Enough for the longest age/injury/diagnosis sentences seen in the corpus.
MAX_EXCERPT_CHARS = 1400


def summary_excerpt(summary: str, *, limit: int = MAX_EXCERPT_CHARS) -> str:
    """The summary's sentences that state age, sex, occupation, injury date or diagnoses.

    "injur" alone is in nearly every sentence ("the injured worker"), so an
    injury sentence is kept only when it also holds a date.
    """
    text = clean(summary)
    keep: list[str] = []
    size = 0
    for sentence in _SENTENCE.split(text):
        if not _NEEDED.search(sentence):
            continue
        only_injury = _INJURY.search(sentence) and not re.search(
            r"\d+\s*-?\s*(?:year|yr)|diagnos|treat(?:ed|ment)\s+for", sentence, re.I
        )
        if only_injury and not DATE_RE.search(sentence):
            continue
        if size + len(sentence) > limit:
            break
        keep.append(sentence)
        size += len(sentence) + 1
    if not keep:
        return text[:limit]
    return " ".join(keep)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9%/.]+", " ", clean(text).casefold()).strip()


def grounded(value: str | None, source: str) -> bool:
    """True when ``value`` occurs in ``source`` (case, spacing and punctuation aside)."""
    if not value:
        return False
    v = _norm(value)
    return bool(v) and v in _norm(source)
