"""Normalisation rules of RECORD.md, shared by the models, the parser and the scorer.

Kept free of pydantic so every layer can call it.
"""

from __future__ import annotations

import datetime as _dt
import re
from enum import Enum
from typing import Any

_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for m in names
}

# 10-18-16, 10/18/2016, 10.18.2016, 2016-10-18, October 18, 2016, 18 Oct 2016
_NUMERIC = re.compile(r"^\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{2}|\d{4})\s*$")
_ISO = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")
_MONTH_NAME = re.compile(
    r"^\s*([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{2}|\d{4})\s*$"
)
_DAY_MONTH = re.compile(r"^\s*(\d{1,2})\s+([A-Za-z]{3,9})\.?,?\s+(\d{4})\s*$")


def expand_year(year: int) -> int:
    """Two-digit years: 00-30 are 20xx, the rest 19xx (RECORD.md)."""
    if year < 100:
        return 2000 + year if year <= 30 else 1900 + year
    return year


def parse_date(value: str) -> _dt.date | None:
    """Parse one date as written in a letter; ``None`` when it is not a date."""
    m = _ISO.match(value)
    if m:
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
        return _safe_date(y, mo, d)
    m = _NUMERIC.match(value)
    if m:
        mo, d, y = int(m[1]), int(m[2]), expand_year(int(m[3]))
        return _safe_date(y, mo, d)
    m = _MONTH_NAME.match(value)
    if m and m[1].lower() in _MONTHS:
        return _safe_date(expand_year(int(m[3])), _MONTHS[m[1].lower()], int(m[2]))
    m = _DAY_MONTH.match(value)
    if m and m[2].lower() in _MONTHS:
        return _safe_date(int(m[3]), _MONTHS[m[2].lower()], int(m[1]))
    return None


def _safe_date(y: int, mo: int, d: int) -> _dt.date | None:
    try:
        return _dt.date(y, mo, d)
    except ValueError:
        return None


_WS = re.compile(r"\s+")
# "treat-\nment" -> "treatment": a hyphen at a line end followed by a lower-case letter.
_HYPHEN_BREAK = re.compile(r"(?<=[a-z])-\s*\n\s*(?=[a-z])")


def clean_string(value: str) -> str:
    """Collapse whitespace to single spaces and undo line-break hyphenation."""
    return _WS.sub(" ", _HYPHEN_BREAK.sub("", value)).strip()


def enum_token(value: str) -> str:
    """'Physical Therapy' -> 'physical_therapy'; 'Durable-Medical Equipment' likewise."""
    return re.sub(r"[^a-z0-9]+", "_", value.strip().lower()).strip("_")


def jsonable(value: Any) -> Any:
    """A value as it appears in JSON output (enums as strings, dates ISO, lists of them)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
