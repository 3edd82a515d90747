"""What a well-formed value of each record field looks like (RECORD.md), checked.

Every check here comes from the record format and from real vocabularies (US
state names, the parser's strength notation and dosage-form words), never from
the errors of particular letters: a value without its field's shape is doubted
whatever letter it came from. :func:`shape_doubts` returns one :class:`ShapeDoubt`
per ill-formed value, with the value's field path, so the doubt lands on that
field's own review state.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

from .models import Item, Record
from .vocab import STRENGTH, plausible_age

# RECORD.md: "Case Number: ... e.g. CM16-0239110".
CASE_NUMBER = re.compile(r"CM\d{2}-\d{7}")
# The fifty states, the District and the territories, as a licence names them.
US_STATES = frozenset(
    s.casefold()
    for s in (
        "Alabama",
        "Alaska",
        "Arizona",
        "Arkansas",
        "California",
        "Colorado",
        "Connecticut",
        "Delaware",
        "District of Columbia",
        "Florida",
        "Georgia",
        "Guam",
        "Hawaii",
        "Idaho",
        "Illinois",
        "Indiana",
        "Iowa",
        "Kansas",
        "Kentucky",
        "Louisiana",
        "Maine",
        "Maryland",
        "Massachusetts",
        "Michigan",
        "Minnesota",
        "Mississippi",
        "Missouri",
        "Montana",
        "Nebraska",
        "Nevada",
        "New Hampshire",
        "New Jersey",
        "New Mexico",
        "New York",
        "North Carolina",
        "North Dakota",
        "Ohio",
        "Oklahoma",
        "Oregon",
        "Pennsylvania",
        "Puerto Rico",
        "Rhode Island",
        "South Carolina",
        "South Dakota",
        "Tennessee",
        "Texas",
        "Utah",
        "Vermont",
        "Virgin Islands",
        "Virginia",
        "Washington",
        "West Virginia",
        "Wisconsin",
        "Wyoming",
    )
)
# Bounds that hold for any letter: visit schedules are per week; a day supply
# is at most a year.
YEAR_RANGE = (1950, 2040)
QUANTITY_RANGE = (1, 1000)
FREQUENCY_RANGE = (1, 7)
DURATION_RANGE = (1, 104)
DAYS_SUPPLY_RANGE = (1, 365)
# A diagnosis entry that begins with one of these words is a piece of the
# sentence that introduced the list, not a diagnosis.
_CUE_START = re.compile(
    r"^(?:and|or|with|of|as|having|include[sd]?|including|diagnos\w*|the|who|which|that|is|was"
    r"|has|have|been)\b",
    re.I,
)
_DATE_IN_TEXT = re.compile(r"\b\d{1,2}[/-]\d{1,2}[/-]\d{2,4}\b")
_DECISION_WORDS = re.compile(r":\s*(?:upheld|overturned)\b", re.I)
_CPT = re.compile(r"\d{5}|\d{4}[FTU]")
# A strength as RECORD.md writes it ("20mg", "5%", "25mg/ml", "10/325mg"), in
# the parser's notation; a compound's strengths are comma-separated (a product
# may state two expressions of one strength: "3% 300mg/g").
_STRENGTH_ONE = STRENGTH.pattern.removeprefix(r"(?<![\w.])").removesuffix(r"(?![A-Za-z])")
_STRENGTH = re.compile(rf"{_STRENGTH_ONE}(?:\s*,?\s*{_STRENGTH_ONE})*", re.I)
_NAME_NOISE = re.compile(
    r"\d+(?:\.\d+)?\s*(?:mg|mcg|ml|%)|#\s*\d|\bunknown quantity\b|\bcoverage\b|\bsupply\b"
    r"|\b(?:tabs?|tablets?|capsules?|caps|ointment|oral suspension|qty|quantity)\b",
    re.I,
)
_WORDS_ONLY = re.compile(r"[A-Za-z][A-Za-z .,'&/()-]*")


@dataclass(frozen=True)
class ShapeDoubt:
    """One value that does not have its field's shape."""

    path: str
    code: str
    message: str


def _bad(path: str, code: str, message: str) -> ShapeDoubt:
    return ShapeDoubt(path, code, message)


def _out_of(value: int | None, bounds: tuple[int, int]) -> bool:
    return value is not None and not bounds[0] <= value <= bounds[1]


def _header_dates(record: Record) -> Iterator[ShapeDoubt]:
    dates = {
        "date_of_injury": record.date_of_injury,
        "ur_denial_date": record.ur_denial_date,
        "application_received": record.application_received,
        "date_assigned": record.date_assigned,
        "decision_date": record.decision_date,
    }
    for name, value in dates.items():
        if value is not None and not YEAR_RANGE[0] <= value.year <= YEAR_RANGE[1]:
            yield _bad(name, "date_out_of_range", f"{name} {value} is outside {YEAR_RANGE}")
    decided = record.decision_date
    # An IMR decides after the injury, the UR denial, the application and the
    # assignment: a date after the decision date cannot be the one named.
    for name in ("date_of_injury", "ur_denial_date", "application_received", "date_assigned"):
        value = dates[name]
        if value is not None and decided is not None and value > decided:
            yield _bad(name, "date_after_decision", f"{name} {value} is after the decision date")
    injury = record.date_of_injury
    for name in ("ur_denial_date", "application_received"):
        value = dates[name]
        if value is not None and injury is not None and value < injury:
            yield _bad(name, "date_before_injury", f"{name} {value} is before the date of injury")


def _letter(record: Record) -> Iterator[ShapeDoubt]:
    if record.case_number is not None and not CASE_NUMBER.fullmatch(record.case_number):
        yield _bad(
            "case_number", "ill_formed", f"case number {record.case_number!r} is not CMyy-nnnnnnn"
        )
    yield from _header_dates(record)
    for state in record.reviewer.licensure_states:
        if state.casefold() not in US_STATES:
            yield _bad("reviewer.licensure_states", "not_a_state", f"{state!r} is not a US state")
    for spec in record.reviewer.specialties + record.reviewer.subspecialties:
        if not _WORDS_ONLY.fullmatch(spec) or len(spec.split()) > 8:
            yield _bad("reviewer.specialties", "ill_formed", f"specialty {spec!r} is not a name")
    age = record.patient.age
    if age is not None and not plausible_age(age):
        yield _bad("patient.age", "out_of_range", f"age {age} is not a person's age")
    occ = record.patient.occupation
    if occ is not None and (not _WORDS_ONLY.fullmatch(occ) or len(occ.split()) > 6):
        yield _bad("patient.occupation", "ill_formed", f"occupation {occ!r} is not a job title")
    yield from _diagnoses(record.diagnoses)


def _diagnoses(diagnoses: list[str]) -> Iterator[ShapeDoubt]:
    seen: set[str] = set()
    for entry in diagnoses:
        words = entry.split()
        why = None
        if _CUE_START.match(entry):
            why = "begins with a word of the sentence around the list"
        elif _DATE_IN_TEXT.search(entry):
            why = "holds a date"
        elif len(words) > 25:
            why = "is a passage, not a name"
        elif entry.casefold() in seen:
            why = "is listed twice"
        seen.add(entry.casefold())
        if why:
            yield _bad("diagnoses", "ill_formed", f"diagnosis {entry!r} {why}")


def _item(i: int, item: Item, decided: dt.date | None) -> Iterator[ShapeDoubt]:
    p = f"items[{i}]"
    for name, text in (("request", item.request), ("original_request", item.original_request)):
        if text is not None and (_DECISION_WORDS.search(text) or len(text.split()) > 80):
            yield _bad(f"{p}.{name}", "ill_formed", f"{name} holds more than the item's name")
    for name, value, bounds in (
        ("quantity", item.quantity, QUANTITY_RANGE),
        ("frequency_per_week", item.frequency_per_week, FREQUENCY_RANGE),
        ("duration_weeks", item.duration_weeks, DURATION_RANGE),
    ):
        if _out_of(value, bounds):
            yield _bad(f"{p}.{name}", "out_of_range", f"{name} {value} is outside {bounds}")
    f, d, q = item.frequency_per_week, item.duration_weeks, item.quantity
    if f is not None and d is not None and q is not None and q != f * d:
        # RECORD.md: "N visits per week for M weeks" -> N x M; a quantity that
        # is not the product of its own schedule contradicts one of the three.
        yield _bad(f"{p}.quantity", "schedule_mismatch", f"quantity {q} is not {f} x {d}")
    if item.date_of_service is not None and decided is not None and item.date_of_service > decided:
        yield _bad(
            f"{p}.date_of_service", "date_after_decision", "date of service after the decision"
        )
    for code in item.cpt_codes:
        if not _CPT.fullmatch(code):
            yield _bad(f"{p}.cpt_codes", "ill_formed", f"CPT code {code!r} is not five characters")
    med = item.medication
    if med is not None:
        if _NAME_NOISE.search(med.name):
            yield _bad(
                f"{p}.medication.name",
                "ill_formed",
                f"drug name {med.name!r} holds a strength, form or count",
            )
        if med.strength is not None and not _STRENGTH.fullmatch(med.strength.strip()):
            yield _bad(
                f"{p}.medication.strength", "ill_formed", f"strength {med.strength!r} is not a dose"
            )
        if _out_of(med.days_supply, DAYS_SUPPLY_RANGE):
            yield _bad(
                f"{p}.medication.days_supply", "out_of_range", f"days supply {med.days_supply}"
            )
    if item.category is not None and item.category.value != "medication" and med is not None:
        yield _bad(f"{p}.medication", "category_mismatch", "a medication on a non-medication item")


def shape_doubts(record: Record) -> list[ShapeDoubt]:
    """Every value of ``record`` that does not have its field's shape."""
    out = list(_letter(record))
    for i, item in enumerate(record.items):
        out.extend(_item(i, item, record.decision_date))
    return out
