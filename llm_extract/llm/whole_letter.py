"""The whole-letter reader: a letter in a layout the parser does not know, read by the LLM.

A letter that is recognisably an IMR determination (``Layout.is_imr``) but in
none of the known layouts has no decision lines the parser can cut.  It is
split at its own headings (:mod:`llm_extract.document.headings`) and read in
at most :data:`MAX_CALLS` small calls (the embedded model writes ~10 tokens a
second, so each asks only what its part of the letter states):

1. header facts (``prompts/header.md``, :class:`HeaderFacts`) from the text
   before the first heading and the reviewer's sections;
2. patient facts (``prompts/summary.md``, :class:`SummaryFacts`) from the
   summary sections' age, injury and diagnosis sentences;
3. item discovery (``prompts/whole_items.md``, :class:`FoundItems`): every
   disputed request and its decision, from the decision and rationale
   sections (or, when no heading names them, the sentences stating an outcome);
4. per request, while calls remain, every item field (``prompts/item.md``,
   :class:`ItemFacts`) from the sentences around that request.

Calls 1-2 and the letter fields are here; the requests (3-4) are read by
:class:`.whole_letter_items.RequestReader`; the locating is :mod:`.grounding`.

Every value is then located in the letter inside the part it was read from
(:mod:`.grounding`); one that is not there is dropped and recorded in
``checks`` (as the hybrid's arbitration does), a request not in the letter, or
not where the letter decides, is dropped and flagged.  A decision is the
request's own outcome words where its statement states one
(:mod:`llm_extract.document.outcomes`), else the model's reading, flagged.  The record is always flagged ("unknown
letter layout …: every value is the LLM's reading"), and so is a null where
every layout states the field (case number, decision date, an item's decision).
"""

from __future__ import annotations

import re
from typing import Any

from ..document.completeness import NO_ITEMS, review_flags
from ..document.headings import split_at_headings
from ..errors import LLMError
from ..evidence import Locator
from ..loading import Letter
from ..models import Patient, Record, Reviewer, Usage
from ..review_flags import ReviewCode
from ..vocab import plausible_age
from .client import LazyClient
from .excerpts import summary_excerpt
from .grounding import Ranges, Reading
from .prompting import load_prompt
from .schemas import HeaderFacts, SummaryFacts
from .whole_letter_items import RequestReader

WHOLE_LETTER_VERSION = "whole-letter-1.0"
# One letter costs at most this many calls (header, summary, discovery, then
# one per item while calls remain): ~5 calls is ~1-2 minutes on 2 CPU cores.
MAX_CALLS = 5
# Prompt sizes: the model's context is 4,096 tokens, and every prompt token
# is evaluated on the CPU.
_MAX_HEADER_CHARS = 1500

_AGE_CUE = re.compile(r"\d+\s*-?\s*(?:year|yr)s?\s*-?\s*old|\baged?\s+\d+", re.I)


def unknown_layout_reason(layout: str) -> str:
    return f"unknown letter layout ({layout}): every value is the LLM's reading"


class WholeLetterReader(RequestReader):
    """Reads a letter of an unknown layout in at most ``max_calls`` LLM calls."""

    def __init__(self, llm: LazyClient, *, max_calls: int = MAX_CALLS) -> None:
        super().__init__(llm, max_calls=max_calls)
        self._header = load_prompt("header")
        self._summary = load_prompt("summary")

    def read(self, letter: Letter) -> tuple[Record, Usage]:
        """The record (without provenance) and what its calls cost.

        Raises :class:`~llm_extract.errors.LLMError` when a call fails; its
        ``usage`` is what the letter's calls had spent until then.
        """
        r = Reading(letter=letter, parts=split_at_headings(letter.text), loc=Locator(letter.text))
        try:
            return self._read(r), r.usage
        except LLMError as exc:
            spent: Usage = getattr(exc, "usage", None) or Usage()
            r.usage.add(spent)
            exc.usage = r.usage
            raise

    def _read(self, r: Reading) -> Record:
        header_ranges = r.ranges("header")
        reviewer_ranges = r.ranges("reviewer")
        summary_ranges = r.ranges("summary")

        head_text = " ".join(r.parts.clean(lo, hi) for lo, hi in header_ranges + reviewer_ranges)[
            :_MAX_HEADER_CHARS
        ].strip()
        header: HeaderFacts | None = None
        if head_text:
            header = self._call(
                r, HeaderFacts, self._header.messages(text=head_text), "header", 300
            )

        summary_text = " ".join(r.parts.clean(lo, hi) for lo, hi in summary_ranges)
        if not summary_text:
            # No heading names a summary: the patient's sentences may stand anywhere.
            outside = [(s.body_start, s.end) for s in r.parts.sections if s.role != "documents"]
            whole = " ".join(r.parts.clean(lo, hi) for lo, hi in outside)
            summary_text = whole if _AGE_CUE.search(whole) else ""
            summary_ranges = r.whole()
        summary: SummaryFacts | None = None
        if summary_text:
            summary = self._call(
                r,
                SummaryFacts,
                self._summary.messages(summary=summary_excerpt(summary_text)),
                "summary",
                300,
            )

        # Grounded now, so that the evidence lists letter fields before items
        # (the rules backend's order).
        record = self._letter_fields(
            r, header, summary, header_ranges, reviewer_ranges, summary_ranges
        )
        decision_ranges = r.ranges("decision", "rationale")
        found = self._discover(r, decision_ranges)
        record.items = self._items_of(r, found, decision_ranges)
        items = record.items
        record.evidence = list(r.evidence.values())
        record.checks = r.checks
        record.flag(ReviewCode.UNKNOWN_LAYOUT, unknown_layout_reason(r.letter.layout.name))
        for f in r.flags:
            record.flag(f.code, f.message, f.path)
        if not items:
            record.flag(ReviewCode.NO_ITEMS, NO_ITEMS)
        for f in review_flags(r.letter, record):
            if f.code is not ReviewCode.UNKNOWN_LAYOUT:
                record.flag(f.code, f.message, f.path)
        return record

    # -- header and summary --------------------------------------------------
    def _letter_fields(
        self,
        r: Reading,
        header: HeaderFacts | None,
        summary: SummaryFacts | None,
        header_ranges: Ranges,
        reviewer_ranges: Ranges,
        summary_ranges: Ranges,
    ) -> Record:
        h_where = [header_ranges, reviewer_ranges, r.whole()]
        rule_h = "whole letter: header call (text before the first heading)"
        h = header
        values: dict[str, Any] = {}
        values["case_number"] = r.keep(
            "case_number", h.case_number if h else None, [header_ranges, r.whole()], rule_h
        )
        for name in ("date_assigned", "decision_date", "ur_denial_date", "application_received"):
            values[name] = r.keep(name, getattr(h, name) if h else None, h_where, rule_h)
        values["priority"] = r.keep("priority", h.priority if h else None, [header_ranges], rule_h)
        s = summary
        rule_s = "whole letter: summary call"
        doi_header = r.keep(
            "date_of_injury", h.date_of_injury if h else None, [header_ranges], rule_h
        )
        if doi_header is None:
            # RECORD.md: the header's date of injury wins over the summary's.
            doi_header = r.keep(
                "date_of_injury", s.date_of_injury if s else None, [summary_ranges], rule_s
            )
        values["date_of_injury"] = doi_header
        rule_r = "whole letter: header call (reviewer sections)"
        r_where = [reviewer_ranges, header_ranges, r.whole()]
        reviewer = Reviewer(
            specialties=r.keep_list(
                "reviewer.specialties", h.specialties if h else [], r_where, rule_r
            ),
            subspecialties=r.keep_list(
                "reviewer.subspecialties", h.subspecialties if h else [], r_where, rule_r
            ),
            licensure_states=r.keep_list(
                "reviewer.licensure_states", h.licensure_states if h else [], r_where, rule_r
            ),
        )
        age = s.age if s else None
        if age is not None and not plausible_age(age):
            r.drop("patient.age", age)
            age = None
        if age is not None:
            found = None
            for lo, hi in summary_ranges:
                found = r.loc.find_int(age, lo, hi, products=False)
                if found:
                    break
            if found is None:
                r.drop("patient.age", age)
                age = None
            r.found_evidence("patient.age", found, rule_s)
        else:
            r.found_evidence("patient.age", None, rule_s)
        patient = Patient(
            age=age,
            sex=r.keep("patient.sex", s.sex if s else None, [summary_ranges], rule_s),
            occupation=r.keep(
                "patient.occupation", s.occupation if s else None, [summary_ranges], rule_s
            ),
        )
        diagnoses = r.keep_list("diagnoses", s.diagnoses if s else [], [summary_ranges], rule_s)
        return Record(
            letter_id=r.letter.letter_id,
            reviewer=reviewer,
            patient=patient,
            diagnoses=diagnoses,
            **values,
        )


__all__ = ["MAX_CALLS", "WHOLE_LETTER_VERSION", "WholeLetterReader", "unknown_layout_reason"]
