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


def _products(name: str) -> tuple[list[tuple[tuple[str, ...], DrugClass]], str]:
    """The table's products named in ``name``, and what is left of the name."""
    low = " ".join(name.casefold().split())
    if low in PRODUCTS:
        return [PRODUCTS[low]], ""
    found, rest = [], []
    for t in _tokens(name):
        if t.casefold() in PRODUCTS:
            found.append(PRODUCTS[t.casefold()])
        else:
            rest.append(t)
    return found, " ".join(rest)


def _generic(dictionary_name: str) -> list[str]:
    base = _FORMS.sub("", dictionary_name.strip())
    return [p.strip().casefold() for p in base.split("/") if p.strip()]


def _dictionary(name: str) -> tuple[list[str], set[str]]:
    """Ingredients the dictionary finds in ``name``, and their MeSH action ids."""
    tokens = []
    for t in _tokens(name):
        alias = ALIASES.get(t.casefold())
        if alias is None:
            tokens.append(t)
        elif alias:
            tokens.append(alias)
    out: list[str] = []
    mesh: set[str] = set()
    for data, *_ in _finder()(tokens, is_ignore_case=True):
        out.extend(_generic(str(data["name"])))
        if data.get("mesh_id"):
            mesh.add(str(data["mesh_id"]))
    return out, mesh


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
    products, rest = _products(name)
    found, mesh = _dictionary(rest)
    if products:
        ings = [i for p in products for i in p[0]] + found
        if len(products) == 1 and not found:
            return Drug(products[0][0], products[0][1], "table")
        return Drug(tuple(dict.fromkeys(ings)), class_of(ings, name), "table")
    if not found:
        return UNRESOLVED
    ings = list(dict.fromkeys(found))
    return Drug(tuple(ings), class_of(ings, name, mesh), "dictionary")
