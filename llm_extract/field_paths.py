"""Field paths: the one spelling of "which value of a record", parsed, read and set.

A path names one value of a record: ``case_number``, ``patient.age``,
``reviewer.specialties``, ``diagnoses``, ``items[0].quantity``,
``items[2].medication.name``.  ``Evidence.field``, ``Check.field``,
``ReviewFlag.path``, the review page's form fields and the export's flagged
columns all use it, so one parser serves them all.

:func:`get_path` and :func:`set_path` work on the pydantic models and on
their JSON (dicts and lists) alike: extraction arbitrates on models, the
review page edits JSON.
"""

from __future__ import annotations

import functools
import itertools
import re
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from .models import Record

_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")

Part = str | int


class PathError(ValueError):
    """A path that does not name a field of the record."""


def parse_path(path: str) -> list[Part]:
    """``items[0].medication.name`` -> ``["items", 0, "medication", "name"]``."""
    return list(_parts(path))


@functools.lru_cache(maxsize=4096)
def _parts(path: str) -> tuple[Part, ...]:
    # Cached: a record's evidence and flags name the same few dozen paths
    # over and over, and the parser reads them for every letter.
    parts: list[Part] = []
    pos = 0
    for m in _TOKEN.finditer(path):
        gap = path[pos : m.start()]
        # a name follows "." (or starts the path); an index follows anything but "."
        wanted = ("." if parts else "") if m.group(1) else ""
        if gap != wanted:
            raise PathError(f"not a field path: {path!r}")
        parts.append(m.group(1) if m.group(1) else int(m.group(2)))
        pos = m.end()
    if not parts or pos != len(path) or not isinstance(parts[0], str):
        raise PathError(f"not a field path: {path!r}")
    return tuple(parts)


def format_path(parts: list[Any]) -> str:
    """``["items", 0, "quantity"]`` -> ``items[0].quantity``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def item_path(index: int, field: str) -> str:
    """The path of ``field`` (``medication.name``) of item ``index``."""
    return f"items[{index}].{field}"


def split_item_path(path: str) -> tuple[int | None, str]:
    """``items[2].medication.name`` -> ``(2, "medication.name")``; a letter field -> ``(None, path)``."""
    parts = parse_path(path)
    if len(parts) > 2 and parts[0] == "items" and isinstance(parts[1], int):
        return parts[1], format_path(parts[2:])
    return None, path


def covers(path: str, flagged: str) -> bool:
    """Is ``flagged`` the value at ``path`` or a part of it (``diagnoses[1]`` of ``diagnoses``)?"""
    return flagged == path or flagged.startswith((f"{path}.", f"{path}["))


def _step(node: Any, part: Part) -> Any:
    if node is None:
        return None
    if isinstance(part, int):
        return node[part] if isinstance(node, list) and part < len(node) else None
    if isinstance(node, dict):
        return node.get(part)
    return getattr(node, part, None) if isinstance(node, BaseModel) else None


def get_path(obj: Any, path: str) -> Any:
    """The value at ``path`` in a record or its JSON (None when a parent is null or absent)."""
    node = obj
    for part in _parts(path):
        node = _step(node, part)
    return node


def _field_model(model: type[BaseModel] | None, name: Part) -> tuple[type[BaseModel] | None, bool]:
    """(the model of field ``name`` of ``model`` -- or of its list's elements --, whether it may be null)."""
    if model is None or not isinstance(name, str) or name not in model.model_fields:
        return None, False
    annotation = model.model_fields[name].annotation
    optional = False
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(args) < len(get_args(annotation))
        annotation = args[0] if len(args) == 1 else annotation
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation) or (None,)
    sub = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return sub, optional


def set_path(obj: Any, path: str, value: Any, *, root: type[BaseModel] = Record) -> None:
    """Set ``path`` in place in a record or its JSON.

    A null parent object is created (``items[0].medication`` for its
    ``name``).  An optional object left without a required value is no
    object: setting a medication's name to null makes the medication null,
    as a medication without a name fails ``Medication``'s validation.
    """
    parts = parse_path(path)
    if isinstance(parts[-1], int):
        raise PathError(f"{path}: set a field of the item, not the item")
    model: type[BaseModel] | None = type(obj) if isinstance(obj, BaseModel) else root
    node, parent, parent_key, optional = obj, None, None, False
    for part, nxt in itertools.pairwise(parts):
        sub, sub_optional = (model, False) if isinstance(part, int) else _field_model(model, part)
        child = _step(node, part)
        if child is None:
            if isinstance(part, int):
                raise PathError(f"{path}: no item {part + 1}")
            if isinstance(node, dict):
                child = node[part] = [] if isinstance(nxt, int) else {}
            elif value is None:
                return  # nothing to clear in an object that is not there
            elif sub is not None and nxt == parts[-1]:
                setattr(node, part, sub.model_validate({nxt: value}))
                return
            else:
                raise PathError(f"{path}: {part} is null")
        parent, parent_key, optional = node, part, sub_optional
        node, model = child, sub
    last = parts[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, BaseModel):
        if value is None and _required(model, last) and optional:
            setattr(parent, str(parent_key), None)
            return
        setattr(node, str(last), value)
    else:
        raise PathError(f"{path}: not a field of the record")
    if (
        isinstance(node, dict)
        and optional
        and isinstance(parent, dict)
        and any(node.get(name) is None for name in _required_names(model))
    ):
        parent[str(parent_key)] = None


def _required(model: type[BaseModel] | None, name: Part) -> bool:
    return isinstance(name, str) and name in _required_names(model)


def _required_names(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [n for n, info in model.model_fields.items() if info.is_required()]
