"""Counts in a request: quantity, visits per week, weeks (RECORD.md item rules).

Notations: ``X8``, ``x 8``, ``2x6``, ``3 x 4``, ``2 times 8``, ``2-3 times a week
for 6 weeks``, ``two times a week times six weeks``, ``six sessions``,
``Eight (8) sessions``, ``(12 sessions)``, ``#60``, ``times 2``, ``1 knee
scooter``.  A range counts its upper bound.  Strengths, masses, volumes,
spinal levels, CPT codes, dates and durations in days/months/hours are not
counts.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..document.text import DATE_RE, NUMBER_WORDS
from .readings import EXACT, HEURISTIC, UNDECIDED, Verdict

_WORD_NUMBER = re.compile(
    r"\b("
    + "|".join(sorted((w for w in NUMBER_WORDS if w != "single"), key=len, reverse=True))
    + r")\b",
    re.I,
)
_NUM = r"(\d+)(?:\s*(?:-|to)\s*(\d+))?"  # a number or a range; the upper bound counts

# Things that look like numbers but are not counts; blanked out before counting.
_NOT_COUNTS = [
    DATE_RE,
    re.compile(r"\b\d{5}\b"),  # CPT codes
    re.compile(r"\b[CTLS]\d{1,2}(?:\s*-\s*[CTLS]?\d{1,2})?\b"),  # spinal levels L4-5, C5-C6
    re.compile(r"\b\d+(?:\.\d+)?\s*Tesla\b", re.I),
    re.compile(r"\b\d+\s+in\s+\d+\b", re.I),  # "3 in 1 commode"
    re.compile(
        r"\b\d+\s*-?\s*(?:phase|view|level|channel|lead)s?\b", re.I
    ),  # "three phase bone scan"
    re.compile(r"\b\d+(?:st|nd|rd|th)\b", re.I),  # "2nd digit"
    # strengths, masses, volumes: 50mg, 7.5-325mg, 5/325mg, 3%, 300mg/g, 120grams, 420ml
    re.compile(
        r"\b\d+(?:\.\d+)?(?:\s*[-/]\s*\d+(?:\.\d+)?)*\s*"
        r"(?:mg|mcg|µg|g|gm|gms|grams?|kg|ml|mls|cc|l|oz|ounces?|units?|meq|%)(?:\s*/\s*(?:g|gm|ml|hr|h|dose))?(?![A-Za-z])",
        re.I,
    ),
    re.compile(r"\b\d+(?:\.\d+)?%"),
    re.compile(r"\(\s*\d+\s*(?:mins?|minutes?|hours?|hrs?)\s*\)", re.I),
    # dosing: "1 tab", "1-2 tabs", "one by mouth", "every 4-6 hours", "three times a day"
    re.compile(r"\b\d+(?:\s*-\s*\d+)?\s*(?:tabs?|tablets?|caps?|capsules?|puffs?|drops?)\b", re.I),
    re.compile(r"\b\d+\s+(?:by\s+mouth|po)\b", re.I),
    re.compile(r"\bevery\s+\d+(?:\s*-\s*\d+)?\s*(?:hours?|hrs?|days?|weeks?)\b", re.I),
    re.compile(r"\b\d+\s*(?:x|times?)\s*(?:a|per|/)\s*(?:day|daily|night)\b", re.I),
    re.compile(
        r"\b\d+(?:\s*(?:-|to)\s*\d+)?\s*(?:hours?|hrs?|minutes?|mins?)\b(?:\s*(?:per|a)\s*day)?",
        re.I,
    ),
    re.compile(r"\b\d+(?:\.\d+)?\s*/\s*\d+\s*hours?\b", re.I),
    re.compile(r"\bwith\s+\d+\s+refills?\b", re.I),
    re.compile(r"^\s*\d+\s+refills?\s+of\b", re.I),
]

_PER_WEEK = re.compile(
    _NUM
    + r"\s*(?:x|times|time)?\s*(?:a|per|/|each)\s*(?:week|wk)\b|"
    + _NUM
    + r"\s*(?:x|times|time)\s*(?:weekly|wkly)\b",
    re.I,
)
_FOR_WEEKS = re.compile(
    r"\s*,?\s*(?:for|x|times|over|during)\s*(?:a\s+(?:period|total)\s+of\s+)?"
    + _NUM
    + r"\s*(?:weeks?|wks?)\b",
    re.I,
)
# 2x6, 3 x 4, 2 times 8, two times four visits
_COMPACT = re.compile(
    r"(?<![\d#./])(\d+)\s*(?:x|times)\s*(\d+)\b(?!\s*(?:days?|months?|weeks?|years?))", re.I
)
# "Daily RN for 4 weeks": a schedule's length without a per-week frequency.
_WEEKS_ALONE = re.compile(
    r"\bfor\s+(?:a\s+(?:period|total)\s+of\s+)?" + _NUM + r"\s*(?:weeks?|wks?)\b", re.I
)
_RENTAL = re.compile(r"\brent|\bpurchase|\btrial\b|\bsupply\b", re.I)
_REFILLS_OF = re.compile(r"^\s*(\d+)\s+refills?\s+of\b", re.I)
_TOTAL_PAREN = re.compile(
    r"\(\s*(\d+)\s*(?:(?:total\s+)?(?:sessions?|visits?|treatments?))?\s*\)", re.I
)
_UNITS_WORD = r"(?:sessions?|visits?|treatments?|injections?|appointments?)"
_N_UNITS = re.compile(
    _NUM + r"\s*(?:\(\s*\d+\s*\)\s*)?(?:[A-Za-z/-]+\s+){0,3}?" + _UNITS_WORD + r"\b", re.I
)
_HASH = re.compile(r"#\s*(\d+)")
_TIMES_N = re.compile(
    r"(?<![\d\s])\s*\b(?:x|times)\s*(\d+)\b(?!\s*(?:days?|months?|weeks?|years?))|(?<![\w#.])[xX](\d+)\b",
    re.I,
)
_LEADING = re.compile(
    r"^\s*(?:(?:purchase|rental|retrospective|retro|request)\s*(?:of|for)?\s*:?\s*)?(?:an?\s+)?(\d+)\s+"
    r"(?!(?:days?|weeks?|months?|years?|hours?|refills?|times?|x)\b)[A-Za-z]",
    re.I,
)
_TRAILING = re.compile(r",\s*(\d+)\s*$")
# A request that states a schedule: its count may be visits per week x weeks.
_SCHEDULE = re.compile(r"\bweek|\bwk|\d\s*x\s*\d|\btimes\b", re.I)
_PER_WEEK_STATED = re.compile(r"(?:a|per|/|each)\s*(?:week|wk)|weekly|\d\s*x\s*\d", re.I)
_REFILLS_OF_ANY = re.compile(r"refills?\s+of", re.I)


@dataclass(frozen=True)
class Counts:
    quantity: int | None = None
    frequency_per_week: int | None = None
    duration_weeks: int | None = None


def _upper(m: re.Match[str], first: int = 1) -> int:
    hi = m.group(first + 1) if (m.re.groups or 0) > first else None
    return int(hi) if hi else int(m.group(first))


def words_to_digits(text: str) -> str:
    return _WORD_NUMBER.sub(lambda m: str(NUMBER_WORDS[m.group(1).lower()]), text)


def blank_not_counts(text: str) -> str:
    """``text`` with what looks like a number but is no count (strengths, levels,
    dates, CPT codes, dosing) blanked out, offsets kept."""
    for rx in _NOT_COUNTS:
        text = rx.sub(lambda m: " " * len(m.group(0)), text)
    return text


@functools.lru_cache(maxsize=64)
def blanked_request(request: str) -> str:
    """``blank_not_counts(words_to_digits(request))``, cached: the parser and its
    verdicts (:func:`quantity_verdict`) both read it for the same request."""
    return blank_not_counts(words_to_digits(request))


def parse_counts(request: str, *, schedule: bool = True) -> Counts:
    """Quantity, visits per week and weeks stated in one request.

    ``schedule``: the request is a service given in visits/sessions (not a
    drug or a piece of equipment), so "for 4 weeks" alone is its duration.
    """
    spelled = words_to_digits(request)
    if not any(ch.isdigit() for ch in spelled):
        return Counts()  # no number, no count ("MRI of the lumbar spine")
    text = blanked_request(request)
    freq = dur = None
    m = _PER_WEEK.search(text)
    if m:
        freq = _upper(m) if m.group(1) else _upper(m, 3)
        w = _FOR_WEEKS.match(text, m.end())
        if w:
            dur = _upper(w)
        text_wo = text[: m.start()] + " " * (m.end() - m.start()) + text[m.end() :]
        if w:
            text_wo = text_wo[: w.start()] + " " * (w.end() - w.start()) + text_wo[w.end() :]
    else:
        text_wo = text
        c = _COMPACT.search(text)
        if c and 0 < int(c.group(1)) <= 7 and 0 < int(c.group(2)) <= 52:
            freq, dur = int(c.group(1)), int(c.group(2))
            text_wo = text[: c.start()] + " " * (c.end() - c.start()) + text[c.end() :]
        elif schedule and not _RENTAL.search(text):
            w = _WEEKS_ALONE.search(text)
            if w:
                dur = _upper(w)
                text_wo = text[: w.start()] + " " * (w.end() - w.start()) + text[w.end() :]

    qty: int | None = None
    m2 = _TOTAL_PAREN.search(text_wo)
    if m2:
        qty = _upper(m2)
    else:
        # "two sessions for the lumbar spine and eight sessions for the wrist":
        # the total requested is the sum.
        found = list(_N_UNITS.finditer(text_wo))
        if found:
            qty = sum(_upper(f) for f in found)
    if qty is None:
        m2 = _HASH.search(text_wo)
        if m2:
            qty = int(m2.group(1))
            # "Three refills of Voltaren 75mg #60": the units in dispute are 3 x 60.
            refills = _REFILLS_OF.search(spelled)
            if refills:
                qty *= int(refills.group(1))
    if qty is None:
        m2 = _TIMES_N.search(text_wo)
        if m2:
            qty = int(m2.group(1) or m2.group(2))
    if qty is None and freq is not None and dur is not None:
        qty = freq * dur
    if qty is None:
        m2 = _LEADING.search(text_wo) or _TRAILING.search(text_wo)
        if m2:
            qty = int(m2.group(1))
    if qty is not None and qty <= 0:
        qty = None
    return Counts(quantity=qty, frequency_per_week=freq, duration_weeks=dur)


def quantity_verdict(value: int | None, request: str) -> Verdict:
    """How sure the count rules are of ``value``, the quantity read from ``request``."""
    text = blanked_request(request)
    if value is None:
        if not any(ch.isdigit() for ch in text):
            return Verdict(
                EXACT, "counts: no number left once strengths, levels and dates are set aside"
            )
        return Verdict(UNDECIDED, "counts: a number no count rule reads")
    for rx, name in ((_HASH, "#N"), (_TIMES_N, "xN"), (_TOTAL_PAREN, "(N)")):
        m = rx.search(text)
        if m and int(next(g for g in m.groups() if g)) == value:
            if rx is _HASH and _REFILLS_OF_ANY.search(request):
                break
            return Verdict(EXACT, f"counts: {name}")
    units = list(_N_UNITS.finditer(text))
    if len(units) == 1 and not units[0].group(2) and int(units[0].group(1)) == value:
        return Verdict(EXACT, "counts: 'N sessions'")
    nums = [int(n) for n in re.findall(r"\d+", text)]
    if any(a * b == value for i, a in enumerate(nums) for b in nums[i + 1 : i + 3]) and (
        _SCHEDULE.search(request)
    ):
        return Verdict(EXACT, "counts: visits per week x weeks")
    return Verdict(HEURISTIC, "counts: a range, sum, refill product or bare number")


def schedule_verdict(value: int | None, request: str) -> Verdict:
    """How sure the count rules are of a visits-per-week or weeks ``value``."""
    if value is None:
        return Verdict(EXACT, "counts: no 'N times a week' or 'NxM' schedule")
    if _PER_WEEK_STATED.search(request):
        return Verdict(EXACT, "counts: 'N times a week for M weeks' / 'NxM'")
    return Verdict(HEURISTIC, "counts: 'for N weeks' of a visit-type service")
