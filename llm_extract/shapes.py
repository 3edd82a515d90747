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
from typing import Any

from .field_paths import get_path, split_item_path
from .fields import item_fields, letter_fields
from .models import Category, Record
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
_RANGES = {
    "quantity": QUANTITY_RANGE,
    "frequency_per_week": FREQUENCY_RANGE,
    "duration_weeks": DURATION_RANGE,
    "medication.days_supply": DAYS_SUPPLY_RANGE,
}
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
    r"\d+(?:\.\d+)?\s*(?:mg|mcg|ml|%|g(?![A-Za-z]))|#\s*\d|\bunknown quantity\b|\bcoverage\b"
    r"|\bsupply\b"
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


def _out_of(value: int | None, bounds: tuple[int, int]) -> bool:
    return value is not None and not bounds[0] <= value <= bounds[1]


def _words_only(text: str, most: int) -> bool:
    return bool(_WORDS_ONLY.fullmatch(text)) and len(text.split()) <= most


def _diagnosis_doubt(entry: str) -> str | None:
    if _CUE_START.match(entry):
        return "begins with a word of the sentence around the list"
    if _DATE_IN_TEXT.search(entry):
        return "holds a date"
    if len(entry.split()) > 25:
        return "is a passage, not a name"
    return None


def _scalar_doubt(field: str, value: Any) -> str | None:
    if field == "case_number":
        return None if CASE_NUMBER.fullmatch(value) else "is not CMyy-nnnnnnn"
    if field == "patient.age":
        return None if plausible_age(value) else "is not a person's age"
    if field == "patient.occupation":
        return None if _words_only(value, 6) else "is not a job title"
    if field in ("request", "original_request"):
        too_much = _DECISION_WORDS.search(value) or len(value.split()) > 80
        return "holds more than the item's name" if too_much else None
    if field in _RANGES:
        return f"is outside {_RANGES[field]}" if _out_of(value, _RANGES[field]) else None
    if field == "medication.name":
        return "holds a strength, form or count" if _NAME_NOISE.search(value) else None
    if field == "medication.strength":
        return None if _STRENGTH.fullmatch(value.strip()) else "is not a dose"
    if isinstance(value, dt.date):
        year_ok = YEAR_RANGE[0] <= value.year <= YEAR_RANGE[1]
        return None if year_ok else f"is outside the years {YEAR_RANGE}"
    return None


def _element_doubt(field: str, element: Any) -> str | None:
    if field == "reviewer.licensure_states":
        return None if element.casefold() in US_STATES else "is not a US state"
    if field in ("reviewer.specialties", "reviewer.subspecialties"):
        return None if _words_only(element, 8) else "is not a specialty's name"
    if field == "cpt_codes":
        return None if _CPT.fullmatch(element) else "is not a five-character code"
    if field == "diagnoses":
        return _diagnosis_doubt(element)
    return None


def value_doubts(field: str, value: Any) -> list[str]:
    """Why ``value`` lacks the shape of ``field`` (a path without its item index,
    ``medication.name``), one sentence per ill-formed part; [] when well formed."""
    if value is None:
        return []
    if isinstance(value, list):
        out = [f"{e!r} {why}" for e in value if (why := _element_doubt(field, e))]
        folded = [str(e).casefold() for e in value]
        out += [f"{e!r} is listed twice" for i, e in enumerate(value) if folded[i] in folded[:i]]
        return out
    why = _scalar_doubt(field, value)
    return [f"{value!r} {why}"] if why else []


def _cross_field(record: Record) -> Iterator[ShapeDoubt]:
    dates = {
        "date_of_injury": record.date_of_injury,
        "ur_denial_date": record.ur_denial_date,
        "application_received": record.application_received,
        "date_assigned": record.date_assigned,
    }
    decided = record.decision_date
    # An IMR decides after the injury, the UR denial, the application and the
    # assignment: a date after the decision date cannot be the one named.
    for name, value in dates.items():
        if value is not None and decided is not None and value > decided:
            yield ShapeDoubt(name, "date_after_decision", f"{name} {value} is after the decision")
    injury = record.date_of_injury
    for name in ("ur_denial_date", "application_received"):
        value = dates[name]
        if value is not None and injury is not None and value < injury:
            yield ShapeDoubt(name, "date_before_injury", f"{name} {value} is before the injury")
    for i, item in enumerate(record.items):
        p = f"items[{i}]"
        f, d, q = item.frequency_per_week, item.duration_weeks, item.quantity
        if f is not None and d is not None and q is not None and q != f * d:
            # RECORD.md: "N visits per week for M weeks" -> N x M; a quantity that
            # is not the product of its own schedule contradicts one of the three.
            yield ShapeDoubt(f"{p}.quantity", "schedule_mismatch", f"quantity {q} is not {f} x {d}")
        dos = item.date_of_service
        if dos is not None and decided is not None and dos > decided:
            yield ShapeDoubt(
                f"{p}.date_of_service", "date_after_decision", f"{dos} is after the decision"
            )
        if item.medication is not None and item.category not in (None, Category.MEDICATION):
            yield ShapeDoubt(
                f"{p}.medication", "category_mismatch", "a drug on a non-medication item"
            )


def field_doubts(path: str, value: Any) -> list[ShapeDoubt]:
    """The doubts about ``value`` read for the field at ``path`` (``items[2].quantity``),
    worded as :func:`shape_doubts` words them: one flag, whoever raises it first."""
    _, name = split_item_path(path)
    return [ShapeDoubt(path, "ill_formed", f"{path}: {why}") for why in value_doubts(name, value)]


def ill_formed(path: str, value: Any) -> str | None:
    """Why ``value`` lacks the shape of the field at ``path``, in one phrase; None: well formed.

    What makes a reading lose in the hybrid's arbitration (llm/crosscheck.py):
    a value without its field's shape never wins over a well-formed one.
    """
    _, name = split_item_path(path)
    doubts = value_doubts(name, value)
    return f"is ill-formed ({'; '.join(doubts)})" if doubts else None


def shape_doubts(record: Record) -> list[ShapeDoubt]:
    """Every value of ``record`` that does not have its field's shape."""
    out: list[ShapeDoubt] = []
    for name in letter_fields():
        out.extend(field_doubts(name, get_path(record, name)))
    for i, item in enumerate(record.items):
        for name in item_fields():
            out.extend(field_doubts(f"items[{i}].{name}", get_path(item, name)))
    out.extend(_cross_field(record))
    return out
