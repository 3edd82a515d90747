"""The record's field list, derived from the pydantic models (one place).

RECORD.md's fields are the models' fields minus what the models carry beyond
the spec (:data:`LETTER_EXTRAS`, :data:`ITEM_EXTRAS`), nested models
(``reviewer``, ``patient``, ``medication``, ``guideline_sources``) walked into
dotted paths, in declaration order::

    letter_fields()  ->  ("case_number", ..., "reviewer.specialties", ..., "diagnoses")
    item_fields()    ->  ("request", ..., "medication.name", ..., "maximus_guideline")

``letter_id`` (the key that pairs a prediction with its gold record) and
``items`` (walked by :func:`item_fields`) are not letter fields here.

Everything that must name every field -- the scorer, the gold digest, the
review forms, the export columns, the LLM answer schemas and the ``llm``
backend's mapping, the parser's evidence -- derives from these functions or is
tied to them by ``tests/test_fields.py``, so a field added to the models and
forgotten in one of those places fails a test.  A flat name (an export column, an LLM answer
field) is :func:`flat`; :func:`spellings` lists the names under which a flat
list may name a field.
"""

from __future__ import annotations

import datetime as dt
import functools
import types
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from .field_paths import get_path
from .models import Item, Record

# What the models carry beyond RECORD.md (and the record's key / item list).
LETTER_EXTRAS: tuple[str, ...] = (
    "letter_id",
    "items",
    "provenance",
    "checks",
    "needs_review",
    "review_reasons",
    "evidence",
    "review_flags",
    "p_wrong",
)
# ``medication``'s drug dimension is derived from its name after extraction
# (llm_extract.drugs): never scored, asked of a model or reviewed as a field.
ITEM_EXTRAS: tuple[str, ...] = (
    "span",
    "medication.ingredients",
    "medication.drug_class",
    "medication.resolution",
)

Level = Literal["letter", "item"]


@dataclass(frozen=True)
class SpecField:
    """One RECORD.md field: its dotted path, level and (leaf) type annotation."""

    path: str
    level: Level
    annotation: Any

    @property
    def is_list(self) -> bool:
        return get_origin(self.annotation) is list

    def get(self, obj: Record | Item | None) -> Any:
        return get_path(obj, self.path)


def _submodel(annotation: Any) -> type[BaseModel] | None:
    """The model class of ``Model`` or ``Model | None``, else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        models = [a for a in get_args(annotation) if a is not type(None)]
        if len(models) == 1:
            return _submodel(models[0])
    return None


def _walk(model: type[BaseModel], prefix: str, skip: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    for name, info in model.model_fields.items():
        if f"{prefix}{name}" in skip:
            continue
        sub = _submodel(info.annotation)
        if sub is not None:
            yield from _walk(sub, f"{prefix}{name}.", skip)
        else:
            yield f"{prefix}{name}", info.annotation


@functools.cache
def spec_fields() -> tuple[SpecField, ...]:
    """Every RECORD.md field, letter fields first, in the models' order."""
    letter = [SpecField(p, "letter", a) for p, a in _walk(Record, "", LETTER_EXTRAS)]
    item = [SpecField(p, "item", a) for p, a in _walk(Item, "", ITEM_EXTRAS)]
    return (*letter, *item)


def letter_fields() -> tuple[str, ...]:
    """Dotted paths of the letter-level fields (``letter_id`` and ``items`` excluded)."""
    return tuple(f.path for f in spec_fields() if f.level == "letter")


def item_fields() -> tuple[str, ...]:
    """Dotted paths of the item-level fields, relative to one item (``medication.name``)."""
    return tuple(f.path for f in spec_fields() if f.level == "item")


def flat(path: str) -> str:
    """The flat name of a dotted path: ``reviewer.specialties`` -> ``reviewer_specialties``."""
    return path.replace(".", "_")


def spellings(path: str) -> frozenset[str]:
    """Names under which a flat list (columns, answer fields) may name ``path``.

    The path itself, :func:`flat`, and for a nested field its own name
    (``specialties`` inside a ``HeaderFacts``) or its name with the parent's
    last word (``maximus_sources`` for ``guideline_sources.maximus``).
    """
    names = {path, flat(path)}
    if "." in path:
        parent, leaf = path.rsplit(".", 1)
        names |= {leaf, f"{leaf}_{parent.rsplit('_', 1)[-1]}"}
    return frozenset(names)


def unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """(the type, whether None is allowed) of ``X | None``."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return (args[0] if len(args) == 1 else annotation), True
    return annotation, False


def field_kind(annotation: Any) -> tuple[str, tuple[str, ...], bool]:
    typ, optional = unwrap_optional(annotation)
    if get_origin(typ) is list:
        (inner,) = get_args(typ) or (str,)
        if isinstance(inner, type) and issubclass(inner, Enum):
            return "enum_list", tuple(e.value for e in inner), False
        return "list", (), False
    if isinstance(typ, type) and issubclass(typ, Enum):
        return "enum", tuple(e.value for e in typ), not optional
    if typ is bool:
        return "bool", (), True
    if typ is int:
        return "int", (), not optional
    if typ is dt.date:
        return "date", (), not optional
    return "str", (), not optional
