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
from ..textsets import sentences

_AGE = r"\d+\s*-?\s*(?:year|yr)s?\s*-?\s*old|\bage\s+\d+|\baged\s+\d+"
_DIAGNOSES = r"diagnos|treat(?:ed|ment)\s+for"
# The sentences each summary field is stated in (RECORD.md's phrases).
_NEEDED_BY_FIELD = {
    "age": _AGE,
    "sex": _AGE + r"|\b(?:is|was)\s+an?\s+(?:male|female|man|woman)\b",
    "occupation": _AGE + r"|\boccupation\b|\bemployed\b|\bwork(?:s|ed|ing)?\s+as\b|\bjob\b",
    "date_of_injury": r"injur|\bDOI\b",
    "diagnoses": _DIAGNOSES,
}
ALL_FIELDS = frozenset(_NEEDED_BY_FIELD)
_INJURY = re.compile(r"injur|\bDOI\b", re.I)
# Enough for the longest age/injury/diagnosis sentences seen in the corpus.
MAX_EXCERPT_CHARS = 1400


def summary_excerpt(
    summary: str, *, limit: int = MAX_EXCERPT_CHARS, fields: frozenset[str] = ALL_FIELDS
) -> str:
    """The summary's sentences that state the ``fields`` asked (age, sex, occupation, …).

    "injur" alone is in nearly every sentence ("the injured worker"), so an
    injury sentence is kept only when it also holds a date.
    """
    needed = re.compile("|".join(_NEEDED_BY_FIELD[f] for f in sorted(fields)), re.I)
    other = re.compile(
        "|".join(_NEEDED_BY_FIELD[f] for f in sorted(fields) if f != "date_of_injury") or r"(?!)",
        re.I,
    )
    text = clean(summary)
    keep: list[str] = []
    size = 0
    for sentence in sentences(text):
        if not needed.search(sentence):
            continue
        only_injury = _INJURY.search(sentence) and not other.search(sentence)
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
