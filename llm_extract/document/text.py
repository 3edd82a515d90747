"""Small text helpers shared by the rule modules: cleaning, dates, number words."""

from __future__ import annotations

import datetime as dt
import re

from ..normalize import clean_string, parse_date

# The loader resolves PDFium's line-end hyphen marker (U+FFFE) already; a
# Letter built by hand may still carry one, read as a hyphen.
_PDFIUM_HYPHEN = "\ufffe"


_LINE_END_HYPHEN = re.compile(r"-\s*\n")


def clean(value: str) -> str:
    """RECORD.md string convention: whitespace collapsed, line-break hyphenation undone.

    Same result as :func:`llm_extract.normalize.clean_string` (which it calls
    when a line-break hyphen may be present), faster on the common case.
    """
    value = value.replace(_PDFIUM_HYPHEN, "-")
    if "-" in value and _LINE_END_HYPHEN.search(value):
        return clean_string(value)
    return " ".join(value.split())


# A date as written in these letters: 10/18/2016, 10-18-16, 5/3/2007, 2016-10-18,
# October 18, 2016, Oct. 18 2016, 18 October 2016.
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
DATE_PATTERN = (
    r"(?:\d{4}-\d{1,2}-\d{1,2}"
    r"|\d{1,2}\s?[-/.]\s?\d{1,2}\s?[-/.]\s?(?:\d{4}|\d{2})(?!\d)"
    rf"|{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|\d{{1,2}}\s+{_MONTH}\.?,?\s+\d{{4}})"
)
# The lookahead (the first characters a date can start with) changes no match
# but lets re skip most positions: ~3x faster over a letter than the
# lookbehind alone.
DATE_RE = re.compile(rf"(?=[\dJFMASOND])(?<![\d/.-])({DATE_PATTERN})", re.I)


def find_dates(text: str) -> list[tuple[dt.date, int, int]]:
    """Every parseable date in ``text`` with its offsets, in order."""
    out = []
    for m in DATE_RE.finditer(text):
        written = m.group(1)
        d = parse_date(" ".join(written.split()).replace(" /", "/").replace("/ ", "/"))
        if d is None:
            d = parse_date("".join(written.split()))
        if d is not None:
            out.append((d, m.start(1), m.end(1)))
    return out


def first_date(text: str) -> dt.date | None:
    found = find_dates(text)
    return found[0][0] if found else None


NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "twenty-four": 24,
    "thirty": 30,
    "single": 1,
    "once": 1,
    "twice": 2,
    "thrice": 3,
}


def words_to_digits_safe(text: str) -> str:
    """'one month supply' -> '1 month supply'; keeps everything else as written."""
    return re.sub(
        r"\b(one|two|three|four|five|six|seven|eight|nine|ten|twelve|thirty)\b(?=\s+(?:months?|days?|weeks?|refills?|containers?|tubes?)\b)",
        lambda m: str(NUMBER_WORDS[m.group(1).lower()]),
        text,
        flags=re.I,
    )
