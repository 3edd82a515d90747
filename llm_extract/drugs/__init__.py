"""The drug dimension: generic ingredients and a drug class for each medication item.

Derived from ``Medication.name`` after extraction by one step every backend's
record passes through (:func:`annotate_record`, called by
:func:`llm_extract.loop.process_one` and :func:`llm_extract.api.extract`), so
rules, llm and hybrid records get the same values, and nothing of it is asked
of a model.
"""

from __future__ import annotations

from typing import Any

from ..models import Record
from .resolve import UNRESOLVED, Drug, class_of, resolve_drug

__all__ = ["UNRESOLVED", "Drug", "annotate_record", "class_of", "drug_of", "resolve_drug"]


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
    """The drug of a stored medication (a record's JSON), derived from its name.

    Derived again rather than read from the stored fields: a person may have
    corrected the name in review (the stored ingredients would then describe
    the old one), and a store written before the fields existed has none.
    """
    if not medication or not medication.get("name"):
        return None
    return resolve_drug(str(medication["name"]))
