"""What the parser read: one :class:`Reading` per record field.

A parser rule hands over what it read as a reading at the moment it reads:
the value, the rule's id (a short description that names the rule), and how
sure that rule is (``models.Certainty``):

- ``exact``: a fixed rule matched literal text -- a header label and the date
  on its line, ``"52 year old male"``, ``#60``, ``: Upheld``, a category
  keyword, a known drug name; *or* a closed rule established that the value
  is absent (no date in the summary, no number left in the request once
  strengths, levels and dates are set aside, no anatomical word in it);
- ``heuristic``: a rule that can be wrong -- the diagnoses splitter, category
  defaults, the medication name/strength cut, counts beyond the plain
  notations, a stranded header date, an occupation;
- ``undecided``: the parser found no value although the text may hold one.

The section readers work on their section's text; :class:`Places` maps a
reading to letter offsets by locating its value (:func:`llm_extract.evidence.ground`)
in the section the field is read from, which is also where the ``llm``
backend's values are located.  ``Record.evidence`` is the readings, located.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..document.segment import ItemBlock, Section, Segments
from ..evidence import Locator, ground, make_evidence, make_span
from ..models import Certainty, Evidence, Reader, Record

EXACT: Certainty = "exact"
HEURISTIC: Certainty = "heuristic"
UNDECIDED: Certainty = "undecided"


class Verdict(NamedTuple):
    """How sure a rule is of what it read, and the rule's id."""

    certainty: Certainty
    rule: str


class Reading(NamedTuple):
    """One field as a parser rule read it.

    ``field``: the record path (``items[2].quantity``); ``spans``: letter
    offsets of the value (empty until located, and for an absent value);
    ``grounded``: every part of the value was found in its section;
    ``others``: the other values the same text admits (a list's other
    readings, :mod:`.diagnoses_readings`), whose number the evidence carries
    as a confidence signal and among which a second reader may choose.  A
    tuple: the parser makes ~150 per letter.
    """

    field: str
    value: Any
    rule: str
    certainty: Certainty
    spans: tuple[tuple[int, int], ...] = ()
    grounded: bool = False
    others: tuple[Any, ...] = ()

    def evidence(self, reader: Reader = "rules") -> Evidence:
        return make_evidence(
            self.field,
            [make_span(s, e) for s, e in self.spans],
            reader=reader,
            rule=self.rule,
            certainty=self.certainty,
            grounded=self.grounded,
            alternatives=len(self.others),
        )


# Reading(...) without NamedTuple's generated __new__ (the parser makes ~150 per letter).
_new_tuple = tuple.__new__


def reading(path: str, value: Any, verdict: Verdict, others: tuple[Any, ...] = ()) -> Reading:
    """An unlocated reading of ``value`` judged by ``verdict`` (``others``: see :class:`Reading`)."""
    return _new_tuple(Reading, (path, value, verdict[1], verdict[0], (), False, others))


def located(r: Reading, spans: Sequence[tuple[int, int]], grounded: bool) -> Reading:
    """``r`` with its value's spans."""
    return _new_tuple(Reading, (r[0], r[1], r[2], r[3], tuple(spans), grounded, r[6]))


# The record's fields in evidence order.
LETTER_FIELDS = (
    "case_number",
    "priority",
    "date_assigned",
    "decision_date",
    "ur_denial_date",
    "application_received",
    "date_of_injury",
    "reviewer.specialties",
    "reviewer.subspecialties",
    "reviewer.licensure_states",
    "patient.age",
    "patient.sex",
    "patient.occupation",
    "diagnoses",
)
ITEM_FIELDS = (
    "request",
    "original_request",
    "decision",
    "category",
    "quantity",
    "frequency_per_week",
    "duration_weeks",
    "body_region",
    "retrospective",
    "date_of_service",
    "cpt_codes",
    "medication.name",
    "medication.strength",
    "medication.days_supply",
    "guideline_sources.claims_administrator",
    "guideline_sources.maximus",
    "maximus_guideline",
)
# Where a letter field is read: section names of :class:`Places`, in search order.
_LETTER_WHERE = {
    "date_of_injury": ("header", "summary"),
    "reviewer.specialties": ("credentials",),
    "reviewer.subspecialties": ("credentials",),
    "reviewer.licensure_states": ("credentials",),
    "patient.age": ("summary",),
    "patient.sex": ("summary",),
    "patient.occupation": ("summary", "letter"),
    "diagnoses": ("summary",),
}
# Item fields read from elsewhere than the request's own words (see ItemPlaces).
_ITEM_WHERE = {
    "original_request": "block",
    "decision": "decision_line",
    "retrospective": "statement",
    "date_of_service": "statement",
    "cpt_codes": "statement",
}
# Item fields whose whole section is their span when they are present.
_ITEM_SECTIONS = {
    "guideline_sources.claims_administrator": "claims_guideline",
    "guideline_sources.maximus": "maximus_guideline",
    "maximus_guideline": "maximus_guideline",
}
# Comma-separated lists of a compound's parts (RECORD.md), each written apart.
_PER_INGREDIENT = ("medication.name", "medication.strength")
_HEADER = ("header",)
_ITEM_PATH = re.compile(r"items\[(\d+)\]\.(.+)")
_RETRO = re.compile(r"\bretro\w*", re.I)


def _range(section: Section | ItemBlock | None) -> list[tuple[int, int]]:
    return [] if section is None else [(section.start, section.end)]


def request_range(loc: Locator, block: ItemBlock) -> tuple[int, int]:
    """Where the item's request stands: for a partial certification, the remaining
    portion only (the original request's numbers belong to another service)."""
    lo, hi = block.decision_line.start, block.decision_line.end
    found = loc.find_text(block.request, lo, hi)
    if found is None:
        return lo, hi
    return found.spans[0][0], found.spans[-1][1]


def item_ranges(block: ItemBlock, line: tuple[int, int]) -> dict[str, list[tuple[int, int]]]:
    """The ranges one item's fields are read from, by name (``line``: its request)."""
    return {
        "line": [line],
        "block": [(block.start, block.end)],
        "decision_line": _range(block.decision_line),
        "statement": [(block.start, block.decision_line.end)],
        "claims_guideline": _range(block.claims_guideline),
        "maximus_guideline": _range(block.maximus_guideline),
    }


@dataclass
class Places:
    """Where each field of one letter is read, and the locator that finds values there."""

    loc: Locator
    sections: dict[str, list[tuple[int, int]]]
    items: list[dict[str, list[tuple[int, int]]]] = field(default_factory=list)

    @classmethod
    def of(cls, text: str, seg: Segments, loc: Locator | None = None) -> Places:
        loc = loc or Locator(text)
        sections = {
            "header": _range(seg.header),
            "credentials": _range(seg.credentials),
            "summary": _range(seg.summary),
            "letter": [(0, len(text))],
        }
        items = [item_ranges(b, request_range(loc, b)) for b in seg.items]
        return cls(loc, sections, items)

    @property
    def request_ranges(self) -> list[tuple[int, int]]:
        """Where each item's request stands (:func:`request_range`)."""
        return [p["line"][0] for p in self.items]

    def locate(self, r: Reading, date_of_service: Any = None) -> Reading:
        """``r`` with the spans of its value in the section its field is read from.

        ``date_of_service``: the item's, for its ``retrospective`` reading (a
        request retrospective by its date is grounded by that date).
        """
        m = _ITEM_PATH.fullmatch(r.field)
        if m is None:
            return self.locate_letter(r)
        return self.locate_item(int(m.group(1)), m.group(2), r, date_of_service)

    def locate_letter(self, r: Reading) -> Reading:
        """``locate`` of a letter field."""
        if r[1] is None or r[1] == [] or r[1] is False:
            return r  # an absent value has no span
        names = _LETTER_WHERE.get(r.field, _HEADER)
        where = self.sections[names[0]] if len(names) == 1 else self._joined(names)
        found, grounded = ground(r.value, self.loc, where)
        return located(r, found, grounded)

    def locate_item(self, i: int, name: str, r: Reading, date_of_service: Any = None) -> Reading:
        """``locate`` of item ``i``'s field ``name`` (``medication.name``)."""
        value = r[1]
        if value is None or value == [] or value is False:
            return r  # an absent value has no span
        ranges = self.items[i]
        section = _ITEM_SECTIONS.get(name)
        if section is not None:  # a list of families or a text: present or not
            spans = ranges[section] if value is not None and value != [] else []
            grounded = bool(spans)
        elif name == "category":  # the request as a whole names its category
            spans, grounded = (ranges["line"] if value else []), value is not None
        elif name == "retrospective":
            # The word that makes it retrospective, else the date of service.
            where = ranges["statement"]
            spans = (
                ground(self._retro_word(where, date_of_service), self.loc, where)[0]
                if value
                else []
            )
            grounded = bool(spans)
        else:
            if name in _PER_INGREDIENT and isinstance(value, str):
                value = value.split(", ")  # a compound's ingredients/strengths: one span each
            spans, grounded = ground(value, self.loc, ranges[_ITEM_WHERE.get(name, "line")])
        return located(r, spans, grounded)

    def _joined(self, names: tuple[str, ...]) -> list[tuple[int, int]]:
        return [s for name in names for s in self.sections[name]]

    def _retro_word(self, where: Sequence[tuple[int, int]], date_of_service: Any) -> Any:
        for lo, hi in where:
            m = _RETRO.search(self.loc.text[lo:hi])
            if m:
                return m.group(0)
        return date_of_service


def field_paths(n_items: int) -> list[str]:
    """Every field path of a record with ``n_items`` items, in evidence order."""
    return [*LETTER_FIELDS] + [f"items[{i}].{f}" for i in range(n_items) for f in ITEM_FIELDS]


@dataclass(frozen=True)
class ParsedLetter:
    """What the parser made of one letter: the record (its evidence built from
    the readings), the readings themselves, the segmentation, and its doubts
    about the diagnosis list (``rules.diagnoses.Doubt``)."""

    record: Record
    readings: tuple[Reading, ...]
    segments: Segments
    places: Places
    doubts: tuple[Any, ...] = ()

    def reading(self, path: str) -> Reading | None:
        return next((r for r in self.readings if r.field == path), None)
