"""Dates in every format the letters use, and the jumbled PDF header block."""

from __future__ import annotations

import datetime as dt

import pytest

from llm_extract.document.text import find_dates
from llm_extract.models import Priority
from llm_extract.rules.header import parse_header
from llm_extract.rules.summary import parse_date_of_injury


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("10/18/2016", dt.date(2016, 10, 18)),
        ("10-18-2016", dt.date(2016, 10, 18)),
        ("10-18-16", dt.date(2016, 10, 18)),
        ("5/3/2007", dt.date(2007, 5, 3)),
        ("5/27/11", dt.date(2011, 5, 27)),
        ("11-4-16", dt.date(2016, 11, 4)),
        ("12/29/15", dt.date(2015, 12, 29)),
        ("4/1/98", dt.date(1998, 4, 1)),
        ("2016-10-18", dt.date(2016, 10, 18)),
        ("October 24, 2016", dt.date(2016, 10, 24)),
        ("Oct. 24 2016", dt.date(2016, 10, 24)),
        ("24 October 2016", dt.date(2016, 10, 24)),
        ("10/10/ 2016", dt.date(2016, 10, 10)),
    ],
)
def test_date_formats(written: str, expected: dt.date) -> None:
    found = find_dates(f"seen on {written}, then")
    assert [d for d, _s, _e in found] == [expected]


def test_not_dates() -> None:
    assert find_dates("pain 6/10, L4/5 and L5/S1, Norco 7.5-325mg, 98-99 of 127") == []


def test_jumbled_pdf_header() -> None:
    text = (
        "Case Number: CM16-0231884\n"
        "Date Assigned: 12/07/2016 Date of Injury: 10/17/2016\n"
        "Decision Date: 01/11/2017 UR Denial Date: 11/23/2016\n"
        "Priority: Standard Application \nReceived: \n12/01/2016\n"
    )
    h = parse_header(text)
    assert h.case_number == "CM16-0231884"
    assert h.date_assigned == dt.date(2016, 12, 7)
    assert h.date_of_injury == dt.date(2016, 10, 17)
    assert h.decision_date == dt.date(2017, 1, 11)
    assert h.ur_denial_date == dt.date(2016, 11, 23)
    assert h.application_received == dt.date(2016, 12, 1)
    assert h.priority is Priority.STANDARD


def test_header_in_reading_order_and_expedited() -> None:
    text = (
        "Case Number: CM17-0000001\nApplication Received: 1/3/17\nPriority: Expedited\n"
        "Date Assigned: 1/5/17\nDecision Date: 1/9/17\nUR Denial Date: 12/30/16\n"
        "Date of Injury: 6/5/13\n"
    )
    h = parse_header(text)
    assert h.application_received == dt.date(2017, 1, 3)
    assert h.date_assigned == dt.date(2017, 1, 5)
    assert h.decision_date == dt.date(2017, 1, 9)
    assert h.ur_denial_date == dt.date(2016, 12, 30)
    assert h.date_of_injury == dt.date(2013, 6, 5)
    assert h.priority is Priority.EXPEDITED


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        (
            "The patient is a 54 year old female with date of injury 04/17/2009 and is",
            dt.date(2009, 4, 17),
        ),
        ("This is a 49 year-old male who was injured on 5/31/2012. He has", dt.date(2012, 5, 31)),
        (
            "This 51-year-old male detailer injured his low back on 5/27/11. Treatment",
            dt.date(2011, 5, 27),
        ),
        (
            "The applicant is a 48-year-old male who has filed a claim for shoulder pain reportedly "
            "associated with an industrial injury of October 14, 2016. In a review dated November 17, 2016",
            dt.date(2016, 10, 14),
        ),
        (
            "a now 43-year-old male with a history of an occupational claim from 10/10/ 2016.",
            dt.date(2016, 10, 10),
        ),
        (
            "The injured worker is a 57 year old male, who sustained an industrial injury on 10-22-2016.",
            dt.date(2016, 10, 22),
        ),
        ("The injured worker was seen on 11-30-16 for pain.", None),
    ],
)
def test_date_of_injury_in_summary(summary: str, expected: dt.date | None) -> None:
    assert parse_date_of_injury(summary) == expected


def test_empty_header_value_stays_null() -> None:
    text = (
        "Case Number: CM17-0000002\nDate Assigned: 01/05/2017 Date of Injury: \n"
        "Decision Date: 01/09/2017 UR Denial Date: 12/30/2016\n"
        "Priority: Standard Application \nReceived: \n01/03/2017\n"
    )
    h = parse_header(text)
    assert h.date_of_injury is None
    assert h.decision_date == dt.date(2017, 1, 9)
    assert h.application_received == dt.date(2017, 1, 3)
