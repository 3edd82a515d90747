"""The ``llm`` backend: every value of the record comes from the LLM.

The parser's segmentation only chunks the letter (header + credentials, case
summary, one block per item) so each call carries the part its fields are
stated in; the values themselves — dates, decisions, counts, categories,
guideline families — are the model's.  Calls of one kind follow each other
with the same instruction prefix, so llama.cpp reuses it (items especially).

No cross-check and no fallback: this backend is the LLM's own reading, for
comparison with ``rules`` and ``hybrid``; an LLM failure raises
:class:`~llm_extract.errors.LLMError`.
"""

from __future__ import annotations

import logging

from ..base import make_provenance
from ..config import Config
from ..document.segment import ItemBlock, Segments, segment_letter
from ..document.text import clean
from ..field_paths import get_path
from ..loading import Letter
from ..models import (
    Evidence,
    GuidelineSources,
    Item,
    Medication,
    Patient,
    Provenance,
    Record,
    Reviewer,
    Span,
    Usage,
)
from ..rules.categories import has_keyword_for
from ..rules.readings import HEURISTIC, UNDECIDED, Places, Reading, field_paths
from .client import LazyClient, LLMIdentity, to_usage
from .excerpts import summary_excerpt
from .prompting import load_prompt
from .schemas import HeaderFacts, ItemFacts, SummaryFacts

log = logging.getLogger(__name__)

LLM_VERSION = "llm-1.0"


def item_text(letter: Letter, block: ItemBlock) -> str:
    """The decision statement and the two guideline lines of one item (no rationale)."""
    t = letter.text
    parts = [f"Decision statement: {clean(block.decision_line.text(t))}"]
    if block.claims_guideline:
        parts.append(f"Claims Administrator guideline: {clean(block.claims_guideline.text(t))}")
    if block.maximus_guideline:
        parts.append(f"MAXIMUS guideline: {clean(block.maximus_guideline.text(t))}")
    return "\n".join(parts)


class LLMBackend(LLMIdentity):
    name = "llm"
    version = LLM_VERSION

    def __init__(self, config: Config) -> None:
        self.config = config
        self._llm = LazyClient(config)
        self._header = load_prompt("header")
        self._summary = load_prompt("summary")
        self._item = load_prompt("item")

    def extract(self, letter: Letter) -> Record:
        if not letter.layout.known and letter.layout.is_imr:
            return self._whole_letter(letter)
        seg = segment_letter(letter)
        t = letter.text
        total = Usage()
        client = self._llm.client
        lid = letter.letter_id

        header = None
        head_text = " ".join(clean(s.text(t)) for s in (seg.header, seg.credentials) if s)
        if head_text:
            header, u = client.complete(
                HeaderFacts,
                self._header.messages(text=head_text),
                letter_id=lid,
                field="header",
                max_tokens=300,
            )
            total.add(u)
        summary = None
        if seg.summary:
            summary, u = client.complete(
                SummaryFacts,
                self._summary.messages(summary=summary_excerpt(seg.summary.text(t))),
                letter_id=lid,
                field="summary",
                max_tokens=300,
            )
            total.add(u)
        items: list[Item] = []
        for block in seg.items:
            facts, u = client.complete(
                ItemFacts,
                self._item.messages(text=item_text(letter, block)),
                letter_id=lid,
                field=f"items[{block.index}]",
                max_tokens=600,
            )
            total.add(u)
            items.append(_item(facts, block))

        record = Record(
            letter_id=lid,
            case_number=header.case_number if header else None,
            date_assigned=header.date_assigned if header else None,
            decision_date=header.decision_date if header else None,
            ur_denial_date=header.ur_denial_date if header else None,
            application_received=header.application_received if header else None,
            priority=header.priority if header else None,
            # RECORD.md: the header's date of injury wins over the summary's.
            date_of_injury=(header.date_of_injury if header else None)
            or (summary.date_of_injury if summary else None),
            reviewer=Reviewer(
                specialties=header.specialties,
                subspecialties=header.subspecialties,
                licensure_states=header.licensure_states,
            )
            if header
            else Reviewer(),
            patient=Patient(age=summary.age, sex=summary.sex, occupation=summary.occupation)
            if summary
            else Patient(),
            diagnoses=summary.diagnoses if summary else [],
            items=items,
        )
        # Every value the model gave, located in the section it was read from.
        record.evidence = llm_evidence(record, t, seg)
        record.provenance = self._provenance(letter, total)
        return record

    def _provenance(self, letter: Letter, usage: Usage) -> Provenance:
        return make_provenance(
            letter,
            backend=self.name,
            version=self.version,
            model=self.model,
            prompt_version=self.prompt_version,
            usage=to_usage(usage),
        )

    def _whole_letter(self, letter: Letter) -> Record:
        # An IMR determination in a layout the parser does not know has no
        # sections it can cut: read it split at its own headings (flagged).
        from .whole_letter import WholeLetterReader

        record, usage = WholeLetterReader(self._llm).read(letter)
        record.provenance = self._provenance(letter, usage)
        return record

    def close(self) -> None:
        self._llm.close()


def _item(f: ItemFacts, block: ItemBlock) -> Item:
    medication = None
    if f.medication_name and (f.category is None or f.category.value == "medication"):
        medication = Medication(
            name=f.medication_name, strength=f.medication_strength, days_supply=f.days_supply
        )
    return Item(
        request=f.request,
        original_request=f.original_request,
        decision=f.decision,
        category=f.category,
        quantity=f.quantity,
        frequency_per_week=f.frequency_per_week,
        duration_weeks=f.duration_weeks,
        body_region=f.body_region,
        retrospective=bool(f.retrospective),
        date_of_service=f.date_of_service,
        cpt_codes=f.cpt_codes,
        medication=medication,
        guideline_sources=GuidelineSources(
            claims_administrator=f.claims_administrator_sources, maximus=f.maximus_sources
        ),
        maximus_guideline=f.maximus_guideline,
        span=Span(start=block.decision_line.start, end=block.decision_line.end),
    )


def llm_evidence(record: Record, text: str, seg: Segments) -> list[Evidence]:
    """``Record.evidence`` of a record the LLM read alone.

    Each value is located where the parser reads that field
    (:class:`~llm_extract.rules.readings.Places`); the reader is the LLM, whose
    reading is a heuristic (``undecided`` where it gave nothing).
    """
    places = Places.of(text, seg)
    out = []
    for path in field_paths(len(record.items)):
        value = get_path(record, path)
        certainty = UNDECIDED if value in (None, [], False) else HEURISTIC
        dos = get_path(record, path.replace("retrospective", "date_of_service"))
        located = places.locate(Reading(path, value, "llm", certainty), dos)
        if path.endswith(".category") and located.grounded:
            # The request line grounds the parser's category, read from its
            # keywords; the model's is grounded only where one of its keywords
            # stands there too (as the hybrid grounds it, llm/arbiters.py).
            text_of = " ".join(text[s:e] for s, e in located.spans)
            located = located._replace(grounded=has_keyword_for(value, text_of))
        out.append(located.evidence(reader="llm"))
    return out
