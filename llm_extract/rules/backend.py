"""The deterministic ``rules`` backend: segment the letter, parse each part.

No model, no network: the same text always gives the same record.  Fields the
rules cannot decide reliably (an unfamiliar request's category, an occupation
not stated in the usual phrase) stay null, never guessed.
"""

from __future__ import annotations

import logging
import time

from ..base import make_provenance
from ..config import Config
from ..document.completeness import flag_record
from ..document.segment import Segments, segment_letter
from ..document.text import find_dates
from ..errors import InputError
from ..loading import Letter
from ..models import Patient, Record, Reviewer, Usage
from ..review_flags import ReviewCode
from .credentials import parse_reviewer
from .header import date_verdict, read_header
from .items import read_item
from .occupation import occupation_verdict, parse_occupation
from .readings import (
    EXACT,
    HEURISTIC,
    LETTER_FIELDS,
    UNDECIDED,
    ParsedLetter,
    Places,
    Reading,
    Verdict,
    reading,
)
from .summary import CaseSummary, no_summary_readings, parse_summary

log = logging.getLogger(__name__)

# Recorded in provenance and in the batch store's keys: a change to what the
# parser reads is a new version (CHANGELOG.md).
RULES_VERSION = "rules-1.2"


def parse_letter(letter: Letter) -> ParsedLetter:
    """The rules record of one letter (without provenance), with its readings,
    its segmentation and the parser's doubts about its diagnosis list.

    ``Record.evidence`` is the readings, located in the sections they were read from.
    """
    text = letter.text
    try:
        seg = segment_letter(letter)
    except InputError:
        if letter.layout.known or not letter.layout.is_imr:
            raise
        # An IMR determination in a layout the parser does not know: an empty
        # record flagged as such (flag_record), which the hybrid backend sends
        # whole to the LLM; never an error that loses the letter.
        seg = Segments(header=None, credentials=None, summary=None, items=[])
    header_text = seg.header.text(text) if seg.header else None
    header, readings = read_header(header_text)
    reviewer = parse_reviewer(seg.credentials.text(text)) if seg.credentials else Reviewer()
    summary_text = seg.summary.text(text) if seg.summary else None
    if summary_text is not None:
        summary = parse_summary(summary_text)
        readings.extend(summary.readings)
    else:
        summary = CaseSummary(patient=Patient())
        readings.extend(no_summary_readings())
        readings.append(reading("diagnoses", [], Verdict(EXACT, "no case summary")))
    items = []
    item_readings_of = []
    for i, block in enumerate(seg.items):
        item, item_readings = read_item(i, block, text)
        items.append(item)
        item_readings_of.append(item_readings)
    patient = summary.patient
    if patient.occupation is None:
        # The occupation is sometimes stated only in a rationale ("while working as a …").
        occupation = parse_occupation(text)
        if occupation:
            patient = patient.model_copy(update={"occupation": occupation})
    places = Places.of(text, seg)
    # RECORD.md: the header's date of injury wins over the summary's.
    injury = header.date_of_injury or summary.date_of_injury
    after_age_sex = (
        patient.occupation is not None
        and summary.states_age_sex
        and patient.occupation in summary.flat
    )
    readings += [
        reading(
            "date_of_injury", injury, _injury_verdict(injury, header_text, summary_text, places)
        ),
        *_reviewer_readings(reviewer, prose=header_text is None),
        reading(
            "patient.occupation",
            patient.occupation,
            occupation_verdict(patient.occupation, text, after_age_sex),
        ),
    ]
    by_field = {r.field: r for r in readings}
    diagnoses = by_field["diagnoses"].value
    record = Record(
        letter_id=letter.letter_id,
        case_number=header.case_number,
        date_assigned=header.date_assigned,
        decision_date=header.decision_date,
        ur_denial_date=header.ur_denial_date,
        application_received=header.application_received,
        priority=header.priority,
        date_of_injury=injury,
        reviewer=reviewer,
        patient=patient,
        diagnoses=diagnoses,
        items=items,
    )
    located = [places.locate_letter(by_field[path]) for path in LETTER_FIELDS]
    locate_item = places.locate_item
    for i, item in enumerate(items):
        cut = len(f"items[{i}].")
        dos = item.date_of_service
        for r in item_readings_of[i]:
            located.append(locate_item(i, r.field[cut:], r, dos))
    record.evidence = [r.evidence() for r in located]
    for doubt in summary.doubts:
        record.flag(ReviewCode.DIAGNOSIS_DOUBT, doubt.reason, "diagnoses")
    # Unknown layout, unread parts of an older layout, nulls every header
    # states, low OCR confidence: each a review reason (document/completeness.py).
    record = flag_record(letter, record, seg.notes)
    return ParsedLetter(record, tuple(located), seg, places, summary.doubts)


def _injury_verdict(
    value: object, header: str | None, summary: str | None, places: Places
) -> Verdict:
    """The header's date of injury is judged as the header's; else the summary's injury phrase."""
    if value is not None:
        head = places.sections["header"]
        if header is not None and head and places.loc.find_date(value, *head[0]) is not None:  # type: ignore[arg-type]
            return date_verdict("date_of_injury", value, header)
        return Verdict(HEURISTIC, "summary: an injury phrase with a date")
    if summary is not None and find_dates(summary):
        return Verdict(UNDECIDED, "summary: dates, none after an injury phrase")
    return Verdict(EXACT, "no injury date in the header or the summary")


def _reviewer_readings(reviewer: Reviewer, *, prose: bool) -> list[Reading]:
    """Credentials in labelled lines are exact; read from prose, a heuristic."""
    rule = "credentials: 'Board certified in …' prose" if prose else "credentials: labelled lines"
    return [
        reading(
            f"reviewer.{name}",
            value,
            Verdict(HEURISTIC if prose and value else EXACT, rule),
        )
        for name, value in (
            ("specialties", reviewer.specialties),
            ("subspecialties", reviewer.subspecialties),
            ("licensure_states", reviewer.licensure_states),
        )
    ]


class RulesBackend:
    """Deterministic regex parser; satisfies :class:`llm_extract.backends.Backend`."""

    name = "rules"
    version = RULES_VERSION

    def __init__(self, config: Config) -> None:
        self.config = config

    def extract(self, letter: Letter) -> Record:
        started = time.perf_counter()
        record = parse_letter(letter).record
        record.provenance = make_provenance(
            letter,
            backend=self.name,
            version=self.version,
            usage=Usage(attempts=1, seconds=round(time.perf_counter() - started, 6)),
        )
        log.debug("%s: %d item(s) by rules", letter.letter_id, len(record.items))
        return record

    def close(self) -> None:
        """Nothing to release: the parser holds no resources."""
