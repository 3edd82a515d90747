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


@dataclass(frozen=True, slots=True)
class Reading:
    """One field as a parser rule read it.

    ``field``: the record path (``items[2].quantity``); ``spans``: letter
    offsets of the value (empty until located, and for an absent value);
    ``grounded``: every part of the value was found in its section.
    """

    field: str
    value: Any
    rule: str
    certainty: Certainty
    spans: tuple[tuple[int, int], ...] = ()
    grounded: bool = False

    def evidence(self, reader: Reader = "rules") -> Evidence:
        return make_evidence(
            self.field,
            [make_span(s, e) for s, e in self.spans],
            reader=reader,
            rule=self.rule,
            certainty=self.certainty,
            grounded=self.grounded,
        )


def reading(path: str, value: Any, verdict: Verdict) -> Reading:
    """An unlocated reading of ``value`` judged by ``verdict``."""
    return Reading(path, value, verdict.rule, verdict.certainty)


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


@dataclass
class ItemPlaces:
    """The ranges one item's fields are read from."""

    block: ItemBlock
    line: list[tuple[int, int]]

    def where(self, name: str) -> list[tuple[int, int]]:
        b = self.block
        if name == "block":
            return [(b.start, b.end)]
        if name == "decision_line":
            return _range(b.decision_line)
        if name == "statement":
            return [(b.start, b.decision_line.end)]
        if name == "claims_guideline":
            return _range(b.claims_guideline)
        if name == "maximus_guideline":
            return _range(b.maximus_guideline)
        return self.line


@dataclass
class Places:
    """Where each field of one letter is read, and the locator that finds values there."""

    loc: Locator
    sections: dict[str, list[tuple[int, int]]]
    items: list[ItemPlaces] = field(default_factory=list)

    @classmethod
    def of(cls, text: str, seg: Segments, loc: Locator | None = None) -> Places:
        loc = loc or Locator(text)
        sections = {
            "header": _range(seg.header),
            "credentials": _range(seg.credentials),
            "summary": _range(seg.summary),
            "letter": [(0, len(text))],
        }
        items = [ItemPlaces(b, [request_range(loc, b)]) for b in seg.items]
        return cls(loc, sections, items)

    @property
    def request_ranges(self) -> list[tuple[int, int]]:
        """Where each item's request stands (:func:`request_range`)."""
        return [p.line[0] for p in self.items]

    def locate(self, r: Reading, date_of_service: Any = None) -> Reading:
        """``r`` with the spans of its value in the section its field is read from.

        ``date_of_service``: the item's, for its ``retrospective`` reading (a
        request retrospective by its date is grounded by that date).
        """
        m = _ITEM_PATH.fullmatch(r.field)
        if m is None:
            where = [
                s for name in _LETTER_WHERE.get(r.field, ("header",)) for s in self.sections[name]
            ]
            found, grounded = ground(r.value, self.loc, where)
            return Reading(r.field, r.value, r.rule, r.certainty, tuple(found), grounded)
        item = self.items[int(m.group(1))]
        spans, grounded = self._locate_item(item, m.group(2), r.value, date_of_service)
        return Reading(r.field, r.value, r.rule, r.certainty, tuple(spans), grounded)

    def _locate_item(
        self, places: ItemPlaces, name: str, value: Any, date_of_service: Any
    ) -> tuple[Sequence[tuple[int, int]], bool]:
        section = _ITEM_SECTIONS.get(name)
        if section is not None:  # a list of families or a text: present or not
            present = value is not None and value != []
            spans = places.where(section) if present else []
            return spans, bool(spans)
        if name == "category":  # the request as a whole names its category
            return (places.line if value else []), value is not None
        where = places.where(_ITEM_WHERE.get(name, "line"))
        if name == "retrospective":
            # The word that makes it retrospective, else the date of service.
            if not value:
                return [], False
            spans, _ = ground(self._retro_word(where, date_of_service), self.loc, where)
            return spans, bool(spans)
        if name == "medication.strength" and isinstance(value, str):
            value = value.split(", ")  # several strengths: one span each
        return ground(value, self.loc, where)

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
