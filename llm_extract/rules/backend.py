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
from ..document.text import clean
from ..errors import InputError
from ..loading import Letter
from ..models import Record, Reviewer, Usage
from ..review_flags import ReviewCode
from .certainty import rules_evidence
from .credentials import parse_reviewer
from .header import Header, parse_header
from .items import build_item
from .summary import CaseSummary, parse_occupation, parse_summary

log = logging.getLogger(__name__)

# 1.1: per-field evidence and certainty, the letter's layout and text route in
# provenance, a header reader for any extractor's order, review flags for
# incomplete records: a batch must not skip letters a 1.0 record describes.
# 1.2: a body part alone shares the head of its neighbour in a diagnosis list
# ("right wrist and right hand sprain"); doubted list structures are review reasons.
RULES_VERSION = "rules-1.2"


def parse_letter(
    letter: Letter, *, segments: Segments | None = None, summary: CaseSummary | None = None
) -> Record:
    """The rules record of one letter (without provenance).

    ``segments``: the letter's segmentation when the caller already made it
    (the hybrid backend segments each letter once, for the parser and its excerpt);
    ``summary``: likewise the case summary's reading (the hybrid backend also
    needs its diagnosis doubts, which the record keeps only as reasons).
    """
    text = letter.text
    try:
        seg = segments if segments is not None else segment_letter(letter)
    except InputError:
        if letter.layout.known or not letter.layout.is_imr:
            raise
        # An IMR determination in a layout the parser does not know: an empty
        # record flagged as such (flag_record), which the hybrid backend sends
        # whole to the LLM; never an error that loses the letter.
        seg = Segments(header=None, credentials=None, summary=None, items=[])
    header = parse_header(seg.header.text(text)) if seg.header else Header()
    reviewer = parse_reviewer(seg.credentials.text(text)) if seg.credentials else Reviewer()
    if summary is None and seg.summary:
        summary = parse_summary(seg.summary.text(text))
    if summary is None:
        from ..models import Patient

        summary = CaseSummary(patient=Patient())
    items = [build_item(block, text) for block in seg.items]
    patient = summary.patient
    if patient.occupation is None:
        # The occupation is sometimes stated only in a rationale ("while working as a …").
        occupation = parse_occupation(text)
        if occupation:
            patient = patient.model_copy(update={"occupation": occupation})
    record = Record(
        letter_id=letter.letter_id,
        case_number=header.case_number,
        date_assigned=header.date_assigned,
        decision_date=header.decision_date,
        ur_denial_date=header.ur_denial_date,
        application_received=header.application_received,
        priority=header.priority,
        # RECORD.md: the header's date of injury wins over the summary's.
        date_of_injury=header.date_of_injury or summary.date_of_injury,
        reviewer=reviewer,
        patient=patient,
        diagnoses=[clean(d) for d in summary.diagnoses],
        items=items,
    )
    # Where each value was read and how sure the rule is (rules/certainty.py).
    record.evidence = rules_evidence(record, text, seg)
    for doubt in summary.doubts:
        record.flag(ReviewCode.DIAGNOSIS_DOUBT, doubt.reason, "diagnoses")
    # Unknown layout, unread parts of an older layout, nulls every header
    # states, low OCR confidence: each a review reason (document/completeness.py).
    return flag_record(letter, record, seg.notes)


class RulesBackend:
    """Deterministic regex parser; satisfies :class:`llm_extract.backends.Backend`."""

    name = "rules"
    version = RULES_VERSION

    def __init__(self, config: Config) -> None:
        self.config = config

    def extract(self, letter: Letter) -> Record:
        started = time.perf_counter()
        record = parse_letter(letter)
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
