"""The PDF header block: case number, dates and priority.

PDFium emits the header's two-column layout out of order, e.g.::

    Priority: Standard Application
    Received:
    12/13/2016

so each label is found on its own and its value is the first value of the
right kind after it, never crossing into another label's value.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from ..document.text import DATE_RE, find_dates
from ..models import Priority

_CASE_NUMBER = re.compile(r"Case\s+Number\s*:\s*([A-Z]{2}\d{2}\s*-\s*\d{5,8})", re.I)
# label -> field; "Application Received" may be split over lines by another value.
_DATE_LABELS = {
    "date_assigned": re.compile(r"Date\s+Assigned\s*:", re.I),
    "date_of_injury": re.compile(r"Date\s+of\s+Injury\s*:", re.I),
    "decision_date": re.compile(r"Decision\s+Date\s*:", re.I),
    "ur_denial_date": re.compile(r"UR\s+Denial\s+Date\s*:", re.I),
    "application_received": re.compile(
        r"Application\s+(?:(?:Standard|Expedited)\s+)?Received\s*:", re.I
    ),
}
_PRIORITY = re.compile(r"Priority\s*:\s*(Standard|Expedited|Urgent)\b", re.I)
_ANY_LABEL = re.compile(
    r"Case\s+Number\s*:|Date\s+Assigned\s*:|Date\s+of\s+Injury\s*:|Decision\s+Date\s*:"
    r"|UR\s+Denial\s+Date\s*:|Priority\s*:|Received\s*:",
    re.I,
)


@dataclass(frozen=True)
class Header:
    case_number: str | None = None
    date_assigned: dt.date | None = None
    date_of_injury: dt.date | None = None
    decision_date: dt.date | None = None
    ur_denial_date: dt.date | None = None
    application_received: dt.date | None = None
    priority: Priority | None = None


def parse_header(text: str) -> Header:
    """Parse the header block's text (``Segments.header``)."""
    values: dict[str, object] = {}
    m = _CASE_NUMBER.search(text)
    if m:
        values["case_number"] = re.sub(r"\s+", "", m.group(1)).upper()
    m = _PRIORITY.search(text)
    if m:
        word = m.group(1).lower()
        values["priority"] = (
            Priority.EXPEDITED if word in ("expedited", "urgent") else Priority.STANDARD
        )

    # A date belongs to the nearest label before it whose own value is still
    # missing: first the dates that directly follow their label on the same
    # line, then the stranded ones (the jumbled "Application Received").
    dates = find_dates(text)
    used: set[int] = set()
    labels = []
    for field, rx in _DATE_LABELS.items():
        lm = rx.search(text)
        if lm:
            labels.append((lm.end(), field))
    labels.sort()
    for end, field in labels:
        for k, (d, s, _e) in enumerate(dates):
            if k in used or s < end:
                continue
            between = text[end:s]
            if "\n" not in between and not _ANY_LABEL.search(between) and not between.strip(" \t"):
                values[field] = d
                used.add(k)
            break
    for end, field in labels:
        if field in values:
            continue
        for k, (d, s, _e) in enumerate(dates):
            if k not in used and s >= end:
                # Never across another label: "Date of Injury: \nDecision Date: 1/11/17"
                # leaves the date of injury unstated.
                if not _ANY_LABEL.search(text, end, s):
                    values[field] = d
                    used.add(k)
                break
    return Header(**values)  # type: ignore[arg-type]


__all__ = ["DATE_RE", "Header", "parse_header"]
