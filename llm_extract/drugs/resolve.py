"""A medication name as written -> generic ingredients and a drug class.

The package's table (:mod:`.table`) is consulted first, as it holds what the
dictionary lacks or names in a way analysts do not group by (kits, brand
combinations); then ``drug-named-entity-recognition``'s dictionary, which
resolves brands to generics ("Voltaren" -> diclofenac) offline, exactly (no
fuzzy matching: a near miss is reported unresolved, never guessed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from ..errors import ConfigError
from ..models import DrugClass, DrugResolution
from .table import (
    ALIASES,
    CLASS_PRECEDENCE,
    GENERIC_CLASSES,
    MESH_CLASSES,
    PRODUCTS,
    TOPICAL_AGENTS,
    TOPICAL_WORDS,
)

_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9#'-]*")
# Dosage forms the dictionary appends to some names ("Lidocaine Patch").
_FORMS = re.compile(r"\s+(patch|gel|cream|tablets?|capsules?|solution)$", re.I)


@dataclass(frozen=True)
class Drug:
    ingredients: tuple[str, ...]
    drug_class: DrugClass | None
    resolution: DrugResolution


UNRESOLVED = Drug((), None, "unresolved")


@cache
def _finder() -> Any:
    try:
        from drug_named_entity_recognition import find_drugs
    except ImportError as exc:  # a main dependency; only a broken install lacks it
        raise ConfigError(
            "the drug dimension needs drug-named-entity-recognition: "
            "pip install drug-named-entity-recognition",
            cause=exc,
        ) from exc
    return find_drugs


def _tokens(name: str) -> list[str]:
    return _TOKEN.findall(name)


def _generic(dictionary_name: str) -> list[str]:
    base = _FORMS.sub("", dictionary_name.strip())
    return [p.strip().casefold() for p in base.split("/") if p.strip()]


# A token the dictionary never matches, standing where a table product was, so
# that the dictionary's token positions stay those of the name.
_GAP = "\u2026"


def _found(name: str) -> tuple[list[tuple[int, tuple[str, ...]]], list[DrugClass], set[str]]:
    """What ``name`` names, in order of appearance: (token position, ingredients)
    from the table and the dictionary; the table products' classes; and the
    MeSH action ids of what the dictionary found."""
    low = " ".join(name.casefold().split())
    if low in PRODUCTS:
        return [(0, PRODUCTS[low][0])], [PRODUCTS[low][1]], set()
    tokens: list[str] = []
    found: list[tuple[int, tuple[str, ...]]] = []
    classes: list[DrugClass] = []
    for t in _tokens(name):
        key = t.casefold()
        if key in PRODUCTS:
            found.append((len(tokens), PRODUCTS[key][0]))
            classes.append(PRODUCTS[key][1])
            tokens.append(_GAP)
        elif ALIASES.get(key) != "":
            tokens.append(ALIASES.get(key) or t)
    mesh: set[str] = set()
    if any(t != _GAP for t in tokens):
        for data, start, *_ in _finder()(tokens, is_ignore_case=True):
            found.append((int(start), tuple(_generic(str(data["name"])))))
            if data.get("mesh_id"):
                mesh.add(str(data["mesh_id"]))
    found.sort(key=lambda f: f[0])
    return found, classes, mesh


def class_of(ingredients: Iterable[str], name: str = "", mesh: Iterable[str] = ()) -> DrugClass:
    """The class of a product made of ``ingredients`` (generic names)."""
    ings = list(dict.fromkeys(ingredients))
    words = {t.casefold() for t in _tokens(name)}
    if len(ings) > 1 and (words & TOPICAL_WORDS or TOPICAL_AGENTS.intersection(ings)):
        return DrugClass.TOPICAL_COMPOUND
    classes = {GENERIC_CLASSES[i] for i in ings if i in GENERIC_CLASSES}
    if not classes:
        classes = {MESH_CLASSES[m] for m in mesh if m in MESH_CLASSES}
    return next((c for c in CLASS_PRECEDENCE if c in classes), DrugClass.OTHER)


@lru_cache(maxsize=4096)
def resolve_drug(name: str) -> Drug:
    """Ingredients, class and how they were found for a medication name as written."""
    found, classes, mesh = _found(name)
    if not found:
        return UNRESOLVED
    ings = tuple(dict.fromkeys(i for _, names in found for i in names))
    if not classes:
        return Drug(ings, class_of(ings, name, mesh), "dictionary")
    if len(found) == 1:  # one product of the table: its own class
        return Drug(ings, classes[0], "table")
    return Drug(ings, class_of(ings, name), "table")
