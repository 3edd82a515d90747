"""One disputed item: from its :class:`ItemBlock` to a record :class:`Item` and its readings."""

from __future__ import annotations

import re

from ..document.segment import ItemBlock
from ..document.text import DATE_RE, clean, first_date
from ..models import Category, GuidelineSources, Item, Span
from .body_region import body_region_of, body_region_verdict
from .categories import category_rule_of, category_verdict
from .counts import parse_counts, quantity_verdict, schedule_verdict
from .guidelines import guideline_sources
from .medication import name_verdict, parse_medication, strength_verdict
from .readings import EXACT, Reading, Verdict, reading

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


def read_item(i: int, block: ItemBlock, letter_text: str) -> tuple[Item, list[Reading]]:
    """Item ``i`` of the letter and the readings of its fields (unlocated)."""
    request = block.request
    service = _service_text(block)
    category = category_rule_of(request)[0]
    counts = parse_counts(request, schedule=category not in _NOT_SCHEDULED)
    dos = first_date(service)
    medication = parse_medication(request) if category is Category.MEDICATION else None
    cg = block.claims_guideline.text(letter_text) if block.claims_guideline else None
    mg = block.maximus_guideline.text(letter_text) if block.maximus_guideline else None
    item = Item(
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
    return item, _readings(f"items[{i}]", item, request)


# Rules that read literal text and cannot be unsure of it.
_FIXED = {
    name: Verdict(EXACT, rule)
    for name, rule in (
        ("request", "segment: the decision statement"),
        ("original_request", "segment: partial certification"),
        ("decision", "segment: the decision word after the colon"),
        ("retrospective", "items: 'Retro' or a date of service"),
        ("date_of_service", "items: a date in the request"),
        ("cpt_codes", "items: five-digit codes"),
        ("medication.days_supply", "medication: 'day supply: N' / 'N days'"),
        ("guideline_sources.claims_administrator", "guidelines: citation families"),
        ("guideline_sources.maximus", "guidelines: citation families"),
        ("maximus_guideline", "segment: 'MAXIMUS guideline:'"),
    )
}


def _readings(p: str, item: Item, request: str) -> list[Reading]:
    """The item's readings, in :data:`llm_extract.rules.readings.ITEM_FIELDS` order."""
    med = item.medication
    gs = item.guideline_sources
    fixed = _FIXED
    return [
        reading(f"{p}.{name}", value, verdict)
        for name, value, verdict in (
            ("request", item.request, fixed["request"]),
            ("original_request", item.original_request, fixed["original_request"]),
            ("decision", item.decision, fixed["decision"]),
            ("category", item.category, category_verdict(request)),
            ("quantity", item.quantity, quantity_verdict(item.quantity, request)),
            (
                "frequency_per_week",
                item.frequency_per_week,
                schedule_verdict(item.frequency_per_week, request),
            ),
            (
                "duration_weeks",
                item.duration_weeks,
                schedule_verdict(item.duration_weeks, request),
            ),
            ("body_region", item.body_region, body_region_verdict(item.body_region, request)),
            ("retrospective", item.retrospective, fixed["retrospective"]),
            ("date_of_service", item.date_of_service, fixed["date_of_service"]),
            ("cpt_codes", item.cpt_codes, fixed["cpt_codes"]),
            ("medication.name", med.name if med else None, name_verdict(item)),
            ("medication.strength", med.strength if med else None, strength_verdict(med)),
            (
                "medication.days_supply",
                med.days_supply if med else None,
                fixed["medication.days_supply"],
            ),
            (
                "guideline_sources.claims_administrator",
                gs.claims_administrator,
                fixed["guideline_sources.claims_administrator"],
            ),
            ("guideline_sources.maximus", gs.maximus, fixed["guideline_sources.maximus"]),
            ("maximus_guideline", item.maximus_guideline, fixed["maximus_guideline"]),
        )
    ]
