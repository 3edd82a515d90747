"""Review flags: why a person should check a record, as data.

Each flag has a stable reason code (:class:`ReviewCode`, the one table of
codes), the field path it concerns (or none: the whole letter) and the
sentence for people.  A record's ``review_reasons`` are the flags' sentences
and ``needs_review`` is "any flag" (:class:`llm_extract.models.Record`).
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class ReviewCode(StrEnum):
    """Why a value (or the whole letter) should be checked by a person: one code per kind of reason.

    Stable identifiers: code reads, withdraws and counts flags by code and
    path, never by their sentence (which says the same for people and may
    be reworded).
    """

    # From the letter and its text (document/completeness.py).
    UNKNOWN_LAYOUT = "unknown_layout"  # no known section headings; every field needs checking
    UNREAD_SECTION = "unread_section"  # a part of an older layout the segmenter could not read
    MISSING_VALUE = "missing_value"  # null where every header-carrying layout states it
    NO_ITEMS = "no_items"  # no disputed item with a decision
    NO_CATEGORY = "no_category"  # the parser knows no category for the request
    UNSETTLED_SITE = "unsettled_site"  # the request names anatomy no reader read as a site
    OCR_LOW_CONFIDENCE = "ocr_low_confidence"
    UNREAD_PAGES = "unread_pages"  # pages without text and no OCR engine
    SEVERAL_LETTERS = "several_letters"  # two case numbers in one text: letters not cut apart
    # The parser's own doubts (rules/summary.py): a diagnosis list no rule splits for sure.
    DIAGNOSIS_DOUBT = "diagnosis_doubt"
    # Two readers (llm/crosscheck.py, llm/whole_letter.py).
    READERS_DISAGREE = "readers_disagree"  # two readings, both in the letter text
    ONE_READER_ONLY = "one_reader_only"  # a count one reader has and the other does not
    UNGROUNDED = "ungrounded"  # the model's reading only, not found in the letter
    UNDECIDED = "undecided"  # neither reader could decide it
    DROPPED_REQUEST = "dropped_request"  # the model named a request the letter does not decide
    NO_DECISION = "no_decision"  # a request without a readable decision, not kept
    CALL_BUDGET = "call_budget"  # an item read only in part (the calls ran out)
    # General checks of every value (shapes.py, confidence.py), whatever the backend.
    ILL_FORMED_VALUE = "ill_formed_value"  # the value lacks its field's shape (RECORD.md)
    LOW_CONFIDENCE = "low_confidence"  # the value's estimated error rate reaches the threshold
    # The model could not be used: every value is the parser's.
    LLM_UNAVAILABLE = "llm_unavailable"
    LLM_FALLBACK = "llm_fallback"
    # A record from JSON that has reasons but no flags (written before flags existed).
    UNSPECIFIED = "unspecified"


class ReviewFlag(BaseModel):
    """One reason to check a record: a stable code, the field it concerns, a sentence.

    ``path`` is a field path (:mod:`llm_extract.field_paths`: ``patient.age``,
    ``items[1].quantity``, ``items[1]`` for a whole item) or null when the
    reason concerns the whole letter (an unknown layout, an unread page).
    """

    model_config = ConfigDict(extra="forbid")

    code: ReviewCode
    path: str | None = None
    message: str


# A flag on one element of a list names the list; ``items[1]`` (a whole item) stays.
_ELEMENT = re.compile(r"\[\d+\]$")
_WHOLE_ITEM = re.compile(r"items\[\d+\]")


def flagged_paths(flags: list[ReviewFlag]) -> list[str]:
    """The field paths ``flags`` name, once each, in flag order.

    A flag on one element of a list (``diagnoses[1]``) names the list; a flag
    on a whole item names the item (``items[1]``).
    """
    out: list[str] = []
    for f in flags:
        if f.path is not None:
            path = f.path if _WHOLE_ITEM.fullmatch(f.path) else _ELEMENT.sub("", f.path)
            if path not in out:
                out.append(path)
    return out
