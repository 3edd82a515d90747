"""One disputed item: from its :class:`ItemBlock` to a record :class:`Item`."""

from __future__ import annotations

import re

from ..document.segment import ItemBlock
from ..document.text import DATE_RE, clean, first_date
from ..models import Category, GuidelineSources, Item, Span
from .body_region import body_region_of
from .categories import category_of
from .counts import parse_counts
from .guidelines import guideline_sources
from .medication import parse_medication

# Requests whose "for N weeks" is a rental or dosing period, not a visit schedule.
_NOT_SCHEDULED = (Category.MEDICATION, Category.DURABLE_MEDICAL_EQUIPMENT, Category.PROGRAM, None)
_RETRO = re.compile(r"\bretro(?:spective|active)?\b", re.I)
_CPT = re.compile(r"(?<![\d/.#-])(\d{5})(?![\d/.-])")


def _service_text(block: ItemBlock) -> str:
    """The request plus, for a partial certification, the original request.

    Retrospective flags, dates of service and CPT codes describe the service
    itself, which the remaining portion shares with the original request.
    """
    return block.request + (" | " + block.original_request if block.original_request else "")


def cpt_codes(text: str) -> list[str]:
    blanked = DATE_RE.sub(lambda m: " " * len(m.group(0)), text)
    out: list[str] = []
    for m in _CPT.finditer(blanked):
        if m.group(1) not in out:
            out.append(m.group(1))
    return out


def build_item(block: ItemBlock, letter_text: str) -> Item:
    request = block.request
    service = _service_text(block)
    category = category_of(request)
    counts = parse_counts(request, schedule=category not in _NOT_SCHEDULED)
    dos = first_date(service)
    medication = parse_medication(request) if category is Category.MEDICATION else None
    cg = block.claims_guideline.text(letter_text) if block.claims_guideline else None
    mg = block.maximus_guideline.text(letter_text) if block.maximus_guideline else None
    return Item(
        request=request,
        original_request=block.original_request,
        decision=block.decision,
        category=category,
        quantity=counts.quantity,
        frequency_per_week=counts.frequency_per_week,
        duration_weeks=counts.duration_weeks,
        body_region=body_region_of(request),
        retrospective=bool(_RETRO.search(service)) or dos is not None,
        date_of_service=dos,
        cpt_codes=cpt_codes(service),
        medication=medication,
        guideline_sources=GuidelineSources(
            claims_administrator=guideline_sources(cg), maximus=guideline_sources(mg)
        ),
        maximus_guideline=clean(mg) if mg else None,
        span=Span(start=block.decision_line.start, end=block.decision_line.end),
    )
