"""Where a value stands in the letter text: the locator behind ``Record.evidence``.

Neutral ground for every backend: the parser's values and the LLM's answers
are located the same way, inside the section they should come from (the
header, the credentials, the case summary, one item's decision statement).

A string value is looked for in four steps, first hit wins:

1. ``exact`` -- verbatim;
2. ``normalised`` -- case- and whitespace-insensitive (line-break hyphens undone);
3. ``loose`` -- punctuation counts as a space as well ("L4-5" ~ "L4 5");
4. ``fuzzy`` -- a window of the loose text with a difflib ratio of at least
   :data:`FUZZY_MIN_RATIO` (0.88), only for values of 8 characters or more
   (shorter ones would match anything).

Typed values are located by the forms the letters write them in: a date by
any date in the section that parses to it (``10/18/2016``, ``10-18-16``,
``October 18, 2016``); an integer as digits, ``#N``, a number word, or the
product or sum of two nearby numbers (``2x6`` -> 12, "3 refills of … #60" -> 180,
"2 sessions … and 8 sessions …" -> 10); an enum
by its source words (``male``: "male", "man", "he" …).

Why one module over ~400 lines: the four matching steps share one normalised
view of the text and its offset map back to the letter; the value forms
(dates, counts, enums) are small and exist only to feed those steps.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .document.text import NUMBER_WORDS, find_dates
from .models import Certainty, Evidence, Reader, Span

Level = Literal["exact", "normalised", "loose", "fuzzy"]
FUZZY_MIN_RATIO = 0.88
_FUZZY_MIN_LEN = 8
# A string value without a digit needs this many letters to be located at all.
_MIN_ALNUM = 2
# How far apart two factors of a product may stand ("2 times a week for 6 weeks").
_PRODUCT_GAP = 90

_NUMBER_TOKEN = re.compile(
    r"(?<![\d.])\d+(?![\d.]*\d)|\b(?:"
    + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
    + r")\b",
    re.I,
)

# Words a letter uses for an enum value (lower case, matched as whole words).
SOURCE_WORDS: dict[str, tuple[str, ...]] = {
    "male": ("male", "man", "gentleman", "he", "his", "him", "mr"),
    "female": ("female", "woman", "lady", "she", "her", "hers", "mrs", "ms", "miss"),
    "standard": ("standard",),
    "expedited": ("expedited", "urgent"),
    "upheld": ("upheld",),
    "overturned": ("overturned",),
    "mtus": ("mtus", "medical treatment utilization schedule"),
    "odg": ("odg", "official disability guidelines"),
    "acoem": ("acoem", "american college of occupational", "complaints", "general approaches"),
}


_SPAN_FIELDS = {"start", "end"}
_EVIDENCE_FIELDS = set(Evidence.model_fields)


def make_span(start: int, end: int) -> Span:
    """A :class:`Span` from trusted offsets, without validation (the rules backend
    builds ~50 per letter; ``model_construct`` costs more than the rest of a field)."""
    span = Span.__new__(Span)
    object.__setattr__(span, "__dict__", {"start": start, "end": end})
    object.__setattr__(span, "__pydantic_fields_set__", _SPAN_FIELDS)
    object.__setattr__(span, "__pydantic_extra__", None)
    object.__setattr__(span, "__pydantic_private__", None)
    return span


def make_evidence(
    field: str,
    spans: list[Span],
    *,
    reader: Reader,
    rule: str | None,
    certainty: Certainty,
    grounded: bool,
    alternatives: int = 0,
) -> Evidence:
    """An :class:`Evidence` from trusted values, without validation (see :func:`make_span`)."""
    ev = Evidence.__new__(Evidence)
    values = {
        "field": field,
        "spans": spans,
        "reader": reader,
        "rule": rule,
        "certainty": certainty,
        "grounded": grounded,
        "alternatives": alternatives,
    }
    object.__setattr__(ev, "__dict__", values)
    object.__setattr__(ev, "__pydantic_fields_set__", _EVIDENCE_FIELDS)
    object.__setattr__(ev, "__pydantic_extra__", None)
    object.__setattr__(ev, "__pydantic_private__", None)
    return ev


@dataclass(frozen=True)
class Found:
    spans: tuple[tuple[int, int], ...]
    level: Level

    def to_spans(self) -> list[Span]:
        return [make_span(s, e) for s, e in self.spans]


_TOKEN = {False: re.compile(r"[^\s\ufffe]+"), True: re.compile(r"[^\W_]+")}
# Where a line-end hyphen join may happen in either mode: a "-" followed, within
# the gap to the next token, by a line break.  A text without one (most
# sections) takes the fast path of _View.
_JOIN_CANDIDATE = re.compile(r"-[\W_]*\n")
_MATCH_START = re.Match.start


class _View:
    """``text[lo:hi]`` lower-cased, whitespace collapsed, with a map back to offsets.

    ``punctuation``: punctuation counts as a space too.  A word broken by a
    line-end hyphen ("radicul-\\nopathy") is joined, as ``clean`` joins it.

    Fast path (no hyphen join possible, lower-casing keeps lengths): the tokens
    joined by one space and lower-cased at once, offsets mapped back per token
    on demand.  Otherwise token by token with a per-character offset map; both
    give the same ``norm`` and the same spans.
    """

    def __init__(self, text: str, lo: int, hi: int, *, punctuation: bool) -> None:
        self._text, self._lo, self._hi, self._punctuation = text, lo, hi, punctuation
        self.index: list[int] | None = None
        self._text_starts: list[int] | None = None  # of each token, on demand
        if _JOIN_CANDIDATE.search(text, lo, hi) is None:
            tokens = _TOKEN[punctuation].findall(text, lo, hi)
            joined = " ".join(tokens)
            norm = joined.lower()
            if len(norm) == len(joined):
                self.norm = norm
                return
        self._build_index()

    def _build_index(self) -> None:
        text, lo, hi, punctuation = self._text, self._lo, self._hi, self._punctuation
        parts: list[str] = []
        index: list[int] = []
        prev_end = -1
        for m in _TOKEN[punctuation].finditer(text, lo, hi):
            s, e = m.span()
            tok = m.group(0)
            if parts:
                gap = text[prev_end:s]
                prev = parts[-1]
                if prev.endswith("-"):  # the hyphen stayed in the previous token
                    joined = len(prev) > 1 and prev[-2].isalpha()
                else:  # punctuation mode: the hyphen is in the gap
                    joined = gap.lstrip(" \t").startswith("-") and prev[-1].isalpha()
                joined = joined and "\n" in gap and tok[0].islower()
                if joined and prev.endswith("-"):
                    parts[-1] = prev[:-1]
                    index.pop()
                if not joined:
                    parts.append(" ")
                    index.append(prev_end)
            low = tok.lower()
            parts.append(low)
            if len(low) == len(tok):
                index.extend(range(s, e))
            else:  # a character whose lower case is longer ("İ")
                for k, ch in enumerate(tok):
                    index.extend([s + k] * len(ch.lower()))
            prev_end = e
        self.norm = "".join(parts)
        self.index = index

    def _offset(self, p: int) -> int:
        """The text offset of ``norm[p]`` (fast path; a joining space maps to the
        end of the token before it, as in the per-character map)."""
        if self._text_starts is None:
            found = _TOKEN[self._punctuation].finditer(self._text, self._lo, self._hi)
            self._text_starts = list(map(_MATCH_START, found))
        norm = self.norm
        # Tokens hold no space: norm[p] is in (or just after) token number
        # "spaces before p", which starts after the last of those spaces.
        k = norm.count(" ", 0, p)
        return self._text_starts[k] + p - (norm.rfind(" ", 0, p) + 1)

    def span(self, s: int, e: int) -> tuple[int, int]:
        if self.index is not None:
            return self.index[s], self.index[e - 1] + 1
        return self._offset(s), self._offset(e - 1) + 1


def _too_vague(value: str) -> bool:
    """Fewer than :data:`_MIN_ALNUM` letters/digits and no digit (stops at the second)."""
    n = 0
    for ch in value:
        if ch.isalnum():
            n += 1
            if n >= _MIN_ALNUM:
                return False
    return not any(c.isdigit() for c in value)


def _norm_value(value: str, *, punctuation: bool) -> str:
    view = _View(value, 0, len(value), punctuation=punctuation)
    return view.norm.strip()


class Locator:
    """Finds values in one letter's text; caches the normalised views of its sections."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._views: dict[tuple[int, int, bool], _View] = {}
        self._numbers: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        self._dates: dict[tuple[int, int], list[tuple[dt.date, int, int]]] = {}

    def _view(self, lo: int, hi: int, punctuation: bool) -> _View:
        key = (lo, hi, punctuation)
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = _View(self.text, lo, hi, punctuation=punctuation)
        return view

    # -- strings ------------------------------------------------------------
    def find_text(self, value: str, lo: int = 0, hi: int | None = None) -> Found | None:
        """``value`` in ``text[lo:hi]``: exact, normalised, loose, then fuzzy."""
        hi = len(self.text) if hi is None else hi
        value = value.strip()
        if _too_vague(value):
            return None  # "x" or "-" is found anywhere and says nothing ("4%" does)
        at = _word_find(self.text, value, lo, hi)
        if at != -1:
            return Found(((at, at + len(value)),), "exact")
        for punctuation, level in ((False, "normalised"), (True, "loose")):
            needle = _norm_value(value, punctuation=punctuation)
            if not needle:
                continue
            view = self._view(lo, hi, punctuation)
            at = _word_find(view.norm, needle)
            if at != -1:
                return Found((view.span(at, at + len(needle)),), level)  # type: ignore[arg-type]
        return self._fuzzy(value, lo, hi)

    def _fuzzy(self, value: str, lo: int, hi: int) -> Found | None:
        needle = _norm_value(value, punctuation=True)
        if len(needle) < _FUZZY_MIN_LEN:
            return None
        view = self._view(lo, hi, True)
        hay = view.norm
        n = len(needle)
        best: tuple[float, int, int] = (0.0, 0, 0)
        matcher = difflib.SequenceMatcher(autojunk=False)
        matcher.set_seq2(needle)
        starts = [0, *(m.end() for m in re.finditer(" ", hay))]
        for s in starts:
            for size in {n, int(n * 0.9), int(n * 1.1)}:
                e = min(len(hay), s + size)
                if e - s < _FUZZY_MIN_LEN:
                    continue
                matcher.set_seq1(hay[s:e])
                if matcher.real_quick_ratio() < FUZZY_MIN_RATIO:
                    continue
                if matcher.quick_ratio() < FUZZY_MIN_RATIO:
                    continue
                ratio = matcher.ratio()
                if ratio > best[0]:
                    best = (ratio, s, e)
        if best[0] >= FUZZY_MIN_RATIO:
            s, e = best[1], best[2]
            while e > s and hay[e - 1] == " ":
                e -= 1
            return Found((view.span(s, e),), "fuzzy")
        return None

    def find_words(self, words: Iterable[str], lo: int = 0, hi: int | None = None) -> Found | None:
        """The first of ``words`` (whole words, any case, any spacing) in ``text[lo:hi]``."""
        hi = len(self.text) if hi is None else hi
        m = _words_rx(tuple(words)).search(self.text, lo, hi)
        return Found((m.span(),), "normalised") if m else None

    # -- typed values -------------------------------------------------------
    def find_date(self, value: dt.date, lo: int = 0, hi: int | None = None) -> Found | None:
        hi = len(self.text) if hi is None else hi
        dates = self._dates.get((lo, hi))
        if dates is None:
            dates = self._dates[(lo, hi)] = find_dates(self.text[lo:hi])
        for d, s, e in dates:
            if d == value:
                return Found(((lo + s, lo + e),), "exact")
        return None

    def numbers(self, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """Every number written in ``text[lo:hi]`` (digits or a number word) with its offsets."""
        cached = self._numbers.get((lo, hi))
        if cached is not None:
            return cached
        out: list[tuple[int, int, int]] = []
        self._numbers[(lo, hi)] = out
        for m in _NUMBER_TOKEN.finditer(self.text, lo, hi):
            tok = m.group(0).lower()
            n = int(tok) if tok.isdigit() else NUMBER_WORDS.get(tok)
            if n is not None:
                out.append((n, m.start(), m.end()))
        return out

    def find_int(
        self, value: int, lo: int = 0, hi: int | None = None, *, products: bool = True
    ) -> Found | None:
        """``value`` written as a number, or as the product of two nearby numbers."""
        hi = len(self.text) if hi is None else hi
        # Fast path: the digits themselves (an age in a long summary).
        m = re.compile(rf"(?<![\d.]){value}(?![\d.]*\d)").search(self.text, lo, hi)
        if m:
            return Found((m.span(),), "exact")
        nums = self.numbers(lo, hi)
        for n, s, e in nums:
            if n == value:
                return Found(((s, e),), "exact")
        if products:
            for k, (a, s1, e1) in enumerate(nums):
                for b, s2, e2 in nums[k + 1 :]:
                    if s2 - e1 > _PRODUCT_GAP:
                        break
                    # 2x6 -> 12; "2 sessions for the neck and 8 for the wrist" -> 10
                    if (a * b == value and a > 1 and b > 1) or a + b == value:
                        return Found(((s1, e1), (s2, e2)), "exact")
        return None

    def find_enum(self, value: str, lo: int = 0, hi: int | None = None) -> Found | None:
        words = SOURCE_WORDS.get(value, (value.replace("_", " "),))
        return self.find_words(words, lo, hi)

    def find(self, value: Any, lo: int = 0, hi: int | None = None) -> Found | None:
        """Any value: dispatches on its type (str, date, int, enum, bool)."""
        if value is None or value is False:
            return None
        if isinstance(value, dt.date):
            return self.find_date(value, lo, hi)
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return self.find_int(value, lo, hi)
        enum_value = getattr(value, "value", None)
        if isinstance(enum_value, str):
            return self.find_enum(enum_value, lo, hi)
        if isinstance(value, str):
            return self.find_text(value, lo, hi)
        return None


@functools.lru_cache(maxsize=256)
def _words_rx(words: tuple[str, ...]) -> re.Pattern[str]:
    alts = sorted((r"\s+".join(map(re.escape, w.split())) for w in words), key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alts) + r")(?!\w)", re.I)


def _word_find(hay: str, needle: str, lo: int = 0, hi: int | None = None) -> int:
    """``hay.find(needle, lo, hi)`` at word boundaries (so "he" is not found in "the")."""
    hi = len(hay) if hi is None else hi
    start = lo
    while True:
        at = hay.find(needle, start, hi)
        if at == -1:
            return -1
        end = at + len(needle)
        before = at == 0 or not hay[at - 1].isalnum() or not needle[0].isalnum()
        after = end == len(hay) or not hay[end].isalnum() or not needle[-1].isalnum()
        if before and after:
            return at
        start = at + 1


def locate(loc: Locator, value: Any, where: Sequence[tuple[int, int]]) -> Found | None:
    """``value`` in the first of the ``where`` ranges that holds it."""
    for lo, hi in where:
        found = loc.find(value, lo, hi)
        if found is not None:
            return found
    return None


def ground(
    value: Any, loc: Locator, where: Sequence[tuple[int, int]]
) -> tuple[list[tuple[int, int]], bool]:
    """The spans of one value looked for in the ``where`` ranges, in order, and
    whether it is grounded.

    A list value is grounded when every element is found (one span each); an
    absent value (null, ``[]``, ``false``) has no span and is not grounded.
    """
    spans: list[tuple[int, int]] = []
    grounded = False
    values = value if isinstance(value, list) else [value]
    if values and not (len(values) == 1 and values[0] in (None, False)):
        grounded = True
        for v in values:
            found = locate(loc, v, where)
            if found is None and isinstance(v, str) and ", " in v:
                # joined groups ("left wrist, lumbar spine"): each group on its own
                parts = [locate(loc, part, where) for part in v.split(", ")]
                if all(parts):
                    found = Found(tuple(s for f in parts if f for s in f.spans), "loose")
            if found is None:
                grounded = False
            else:
                spans.extend(found.spans)
    return spans, grounded
