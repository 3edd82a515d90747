"""Why a record read from a letter should be checked by a person.

Reasons that come from the letter and its text rather than from any one
reader: an unknown layout, what the segmenter could not read in an older
layout, a field every header-carrying layout states but that came out null,
pages that OCR read with low confidence or that could not be read at all.
The rules backend applies them (``Record.flag``, each with its
:class:`~llm_extract.models.ReviewCode` and the field it concerns); an LLM
backend built on the rules record inherits them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..loading import Letter
from ..models import Record
from ..ocr import LOW_CONFIDENCE
from ..review_flags import ReviewCode, ReviewFlag

# Layouts without a header block (the seeds): a null case number or decision
# date there is what the letter says, not a miss.
_NO_HEADER = ("seed-text",)

# A case number wherever the text writes one (CM16-0228949): one letter has one.
CASE_NUMBER = re.compile(r"\b[A-Z]{2}\d{2}-\d{5,8}\b")

UNKNOWN_LAYOUT = (
    "the letter's layout is not one the parser knows (an IMR determination, but "
    "none of the known section headings); every field needs checking"
)
NO_ITEMS = "no disputed item with a decision was found"


def review_flags(letter: Letter, record: Record, notes: Iterable[str] = ()) -> list[ReviewFlag]:
    """One flag per reason; empty when nothing calls for a person."""
    flags: list[ReviewFlag] = []

    def add(code: ReviewCode, message: str, path: str | None = None) -> None:
        flags.append(ReviewFlag(code=code, path=path, message=message))

    layout = letter.layout
    if not layout.known:
        add(ReviewCode.UNKNOWN_LAYOUT, UNKNOWN_LAYOUT)
    for note in notes:
        add(ReviewCode.UNREAD_SECTION, note)
    numbers = sorted(set(CASE_NUMBER.findall(letter.text)))
    if len(numbers) > 1:
        # Several letters in one file that were not cut apart: never one silent record.
        add(
            ReviewCode.SEVERAL_LETTERS,
            f"the text holds {len(numbers)} case numbers ({', '.join(numbers[:4])}): "
            "several letters in one file? Split it and extract each letter",
        )
    if layout.name not in _NO_HEADER:
        if record.case_number is None:
            add(ReviewCode.MISSING_VALUE, "no case number was found in the letter", "case_number")
        if record.decision_date is None:
            add(
                ReviewCode.MISSING_VALUE,
                "no decision date was found in the letter",
                "decision_date",
            )
    if not record.items and layout.known:
        add(ReviewCode.NO_ITEMS, NO_ITEMS)
    for n, item in enumerate(record.items):
        # Every request has a category (RECORD.md has ``other``): a null is
        # a request no category rule knows.
        if item.category is None:
            path = f"items[{n}].category"
            add(
                ReviewCode.NO_CATEGORY,
                f"{path}: no category was decided for {item.request!r}",
                path,
            )
    flags.extend(unsettled_sites(record))
    if letter.ocr is not None:
        low = [p for p in letter.ocr.pages if p.confidence < LOW_CONFIDENCE]
        if low:
            pages = ", ".join(f"{p.page} ({p.confidence:.2f})" for p in low)
            add(
                ReviewCode.OCR_LOW_CONFIDENCE,
                f"OCR ({letter.ocr.engine}) read page(s) {pages} with confidence "
                f"below {LOW_CONFIDENCE:.2f}",
            )
    if letter.unread_pages:
        pages = ", ".join(str(n) for n in letter.unread_pages)
        add(
            ReviewCode.UNREAD_PAGES,
            f"page(s) {pages} have no text layer and no OCR engine is installed "
            '(pip install -e ".[ocr]"); what they say is missing',
        )
    return flags


def flag_record(letter: Letter, record: Record, notes: Iterable[str] = ()) -> Record:
    for f in review_flags(letter, record, notes):
        record.flag(f.code, f.message, f.path)
    return record


def unsettled_sites(record: Record) -> list[ReviewFlag]:
    """A body region left undecided: the request names anatomy, no site was read.

    (``rules.body_region.body_region_verdict``: an anatomical word the site list does
    not know.)  The hybrid backend withdraws the flag when the model's
    grounded site settles it.
    """
    return [
        ReviewFlag(
            code=ReviewCode.UNSETTLED_SITE,
            path=ev.field,
            message=f"{ev.field}: the request has an anatomical word no reader read as a site",
        )
        for ev in record.evidence
        if ev.field.endswith(".body_region") and ev.certainty == "undecided"
    ]
