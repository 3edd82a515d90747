"""The drug dimension: generic ingredients and a drug class for each medication item.

Derived from ``Medication.name`` after extraction by one step every backend's
record passes through (:func:`annotate_record`, called by
:func:`llm_extract.loop.process_one` and :func:`llm_extract.api.extract`), so
rules, llm and hybrid records get the same values, and nothing of it is asked
of a model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ..models import DrugClass, Record
from .resolve import UNRESOLVED, Drug, class_of, resolve_drug

__all__ = [
    "UNRESOLVED",
    "Drug",
    "annotate_record",
    "class_of",
    "drug_of",
    "forget_corrected",
    "resolve_drug",
]

_ITEM_PATH = re.compile(r"^items\[(\d+)\]\.(\w+)")


def annotate_record(record: Record) -> Record:
    """Fill ``ingredients``, ``drug_class`` and ``resolution`` of every medication (in place)."""
    for item in record.items:
        med = item.medication
        if med is None:
            continue
        drug = resolve_drug(med.name)
        med.ingredients = list(drug.ingredients)
        med.drug_class = drug.drug_class
        med.resolution = drug.resolution
    return record


def drug_of(medication: dict[str, Any] | None) -> Drug | None:
    """The drug of a stored medication (a record's JSON): its derived fields, or
    derived now from its name when it has none (a store written before they
    existed, or a name a person corrected: see :func:`forget_corrected`)."""
    if not medication or not medication.get("name"):
        return None
    if medication.get("resolution"):
        cls = medication.get("drug_class")
        return Drug(
            tuple(medication.get("ingredients") or ()),
            DrugClass(cls) if cls else None,
            medication["resolution"],
        )
    return resolve_drug(str(medication["name"]))


def forget_corrected(record: dict[str, Any], corrected: Iterable[str]) -> dict[str, Any]:
    """Clear the derived drug fields of the medications a person changed in review
    (``corrected``: field paths such as ``items[2].medication.name``, or ``items``
    for an edited item list), so :func:`drug_of` derives them from the new name."""
    items = record.get("items") or []
    for path in corrected:
        if path == "items":
            targets = list(range(len(items)))
        else:
            m = _ITEM_PATH.match(path)
            targets = [int(m.group(1))] if m and m.group(2) == "medication" else []
        for i in targets:
            med = items[i].get("medication") if i < len(items) else None
            if isinstance(med, dict):
                med["resolution"] = None
    return record
