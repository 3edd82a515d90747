"""The groups a disputed item falls in, per dimension of ``stats`` (and the SQL views).

One function per dimension, each taking the stored record and one of its
items (the JSON of a :class:`~llm_extract.models.Record`) and returning the
names of the item's groups in it: usually one; several where an item belongs
to several groups (each MAXIMUS source it cites, each specialty of its
reviewer, each ingredient of its drug), so those rows overlap; none where the
dimension does not apply (the drug dimensions for an item that is no
medication).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..drugs import drug_of
from ..errors import ConfigError

Names = Callable[[dict[str, Any], dict[str, Any]], list[str]]

NO_CATEGORY = "(none)"
NO_SOURCE = "(none cited)"
NOT_STATED = "(not stated)"
UNRESOLVED = "(unresolved)"
NO_DATE = "(no date)"


def _category(rec: dict[str, Any], it: dict[str, Any]) -> list[str]:
    return [it.get("category") or NO_CATEGORY]


def _maximus_source(rec: dict[str, Any], it: dict[str, Any]) -> list[str]:
    cited = (it.get("guideline_sources") or {}).get("maximus") or []
    return list(dict.fromkeys(cited)) or [NO_SOURCE]


def _specialty(rec: dict[str, Any], it: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys((rec.get("reviewer") or {}).get("specialties") or [NOT_STATED]))


def _priority(rec: dict[str, Any], it: dict[str, Any]) -> list[str]:
    return [rec.get("priority") or NOT_STATED]


def _drug(rec: dict[str, Any], it: dict[str, Any]) -> list[str]:
    drug = drug_of(it.get("medication"))
    if drug is None:
        return []
    return list(drug.ingredients) or [UNRESOLVED]


def _drug_class(rec: dict[str, Any], it: dict[str, Any]) -> list[str]:
    drug = drug_of(it.get("medication"))
    if drug is None:
        return []
    return [str(drug.drug_class) if drug.drug_class else UNRESOLVED]


def _period(cut: Callable[[str], str]) -> Names:
    def names(rec: dict[str, Any], it: dict[str, Any]) -> list[str]:
        date = rec.get("decision_date")
        return [cut(str(date)) if date else NO_DATE]

    return names


def quarter_of(iso_date: str) -> str:
    """``2016-11-03`` -> ``2016-Q4``."""
    return f"{iso_date[:4]}-Q{(int(iso_date[5:7]) - 1) // 3 + 1}"


# name -> (label, the item's groups); the first three are what `stats` shows by default.
DIMENSIONS: dict[str, tuple[str, Names]] = {
    "category": ("Category", _category),
    "maximus_source": ("MAXIMUS guideline source", _maximus_source),
    "specialty": ("Reviewer specialty", _specialty),
    "priority": ("Priority", _priority),
    "drug": ("Drug ingredient", _drug),
    "drug_class": ("Drug class", _drug_class),
    "year": ("Decision year", _period(lambda d: d[:4])),
    "quarter": ("Decision quarter", _period(quarter_of)),
    "month": ("Decision month", _period(lambda d: d[:7])),
}
DEFAULT_DIMENSIONS: tuple[str, ...] = ("category", "maximus_source", "specialty")
# Shown in time order (and as trend charts), not by size.
TIME_DIMENSIONS: frozenset[str] = frozenset({"year", "quarter", "month"})
# Other names a user may type for a dimension.
ALIASES = {
    "guideline_source": "maximus_source",
    "source": "maximus_source",
    "reviewer_specialty": "specialty",
    "class": "drug_class",
    "ingredient": "drug",
}


def dimension(name: str) -> str:
    """The dimension a user named (``guideline_source`` -> ``maximus_source``)."""
    key = name.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in DIMENSIONS:
        raise ConfigError(
            f"unknown dimension {name!r}: use one of {', '.join(DIMENSIONS)}",
            field="by",
        )
    return key


def label(dim: str) -> str:
    return DIMENSIONS[dim][0]


@functools.lru_cache(maxsize=65536)  # a few hundred names, met once per item
def group_key(name: str) -> str:
    """Names that differ only in case, spacing or ``&``/``and`` are one group
    (``Physical Medicine & Rehabilitation`` = ``Physical Medicine and Rehabilitation``)."""
    return " ".join(name.casefold().replace("&", " and ").split())


def groups_of(dim: str, rec: dict[str, Any], it: dict[str, Any]) -> list[str]:
    return [str(n) for n in DIMENSIONS[dim][1](rec, it)]
