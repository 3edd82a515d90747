"""Field paths in a record's JSON, and the editable fields with their types.

A path names one value: ``case_number``, ``patient.age``,
``reviewer.specialties``, ``items[0].quantity``, ``items[2].medication.name``
(the same spelling as ``Evidence.field`` and ``Check.field``).  The editable
fields and their types come from the pydantic models through
:func:`llm_extract.fields.spec_fields`, so a field added to the models shows
up in the review page and its form without a change here.

A value a person types is checked by validating the whole record with the
value in place (:func:`validate_value`): the same validators as extraction,
so ``10/18/16`` becomes ``2016-10-18`` and ``Upheld`` becomes ``upheld``.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import re
import types
from dataclasses import dataclass
from enum import Enum
from typing import Any, Union, get_args, get_origin

from pydantic import ValidationError

from ..fields import spec_fields
from ..models import Record

_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


class PathError(ValueError):
    """A path that does not name a field of the record."""


def parse_path(path: str) -> list[str | int]:
    """``items[0].medication.name`` -> ``["items", 0, "medication", "name"]``."""
    parts: list[str | int] = []
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
    return parts


def get_path(data: Any, path: str) -> Any:
    """The value at ``path`` (None when a parent is null or an index is out of range)."""
    value = data
    for part in parse_path(path):
        if value is None:
            return None
        if isinstance(part, int):
            if not isinstance(value, list) or part >= len(value):
                return None
            value = value[part]
        else:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
    return value


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``path`` in place, creating null parent objects (``medication``)."""
    parts = parse_path(path)
    target: Any = data
    for part, nxt in itertools.pairwise(parts):
        if isinstance(part, int):
            if not isinstance(target, list) or part >= len(target):
                raise PathError(f"{path}: no item {part + 1}")
            child = target[part]
            if child is None:
                child = target[part] = {}
        else:
            child = target.get(part)
            if child is None:
                child = target[part] = [] if isinstance(nxt, int) else {}
        target = child
    last = parts[-1]
    if isinstance(last, int):
        raise PathError(f"{path}: set a field of the item, not the item")
    target[last] = value
    # A medication with no name is no medication (``name`` is required).
    for item in data.get("items") or []:
        med = item.get("medication") if isinstance(item, dict) else None
        if isinstance(med, dict) and not med.get("name"):
            item["medication"] = None


def format_path(parts: list[Any]) -> str:
    """``["items", 0, "quantity"]`` -> ``items[0].quantity``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# --- the editable fields -----------------------------------------------------
@dataclass(frozen=True)
class FieldSpec:
    """How one field is shown and typed in the review form."""

    path: str  # concrete: items[0].quantity
    template: str  # items[].quantity
    kind: str  # str, int, date, bool, enum, list, enum_list
    choices: tuple[str, ...] = ()
    required: bool = False
    item: int | None = None  # the item index, for item fields

    @property
    def label(self) -> str:
        return self.path if self.item is None else self.path.split(".", 1)[1]


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type, whether None is allowed) of ``X | None``."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return (args[0] if len(args) == 1 else annotation), True
    return annotation, False


def field_kind(annotation: Any) -> tuple[str, tuple[str, ...], bool]:
    typ, optional = _unwrap(annotation)
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


def _templates() -> list[tuple[str, str, str, tuple[str, ...], bool]]:
    out: list[tuple[str, str, str, tuple[str, ...], bool]] = []
    for f in spec_fields():
        kind, choices, required = field_kind(f.annotation)
        # medication.name is required only when there is a medication at all.
        if f.path == "medication.name":
            required = False
        out.append((f.level, f.path, kind, choices, required))
    return out


_TEMPLATES = _templates()


def field_specs(record: dict[str, Any]) -> list[FieldSpec]:
    """Every editable field of this record: letter fields, then each item's."""
    out = [
        FieldSpec(path, path, kind, choices, required)
        for level, path, kind, choices, required in _TEMPLATES
        if level == "letter"
    ]
    for i, _item in enumerate(record.get("items") or []):
        out.extend(
            FieldSpec(f"items[{i}].{path}", f"items[].{path}", kind, choices, required, i)
            for level, path, kind, choices, required in _TEMPLATES
            if level == "item"
        )
    return out


def spec_for(record: dict[str, Any], path: str) -> FieldSpec:
    for spec in field_specs(record):
        if spec.path == path:
            return spec
    raise PathError(f"{path!r} is not an editable field of this record")


def parse_input(spec: FieldSpec, raw: list[str]) -> Any:
    """A form's text for ``spec`` as a JSON value (validation comes after)."""
    if spec.kind == "enum_list":
        return [v for v in raw if v]
    text = raw[0] if raw else ""
    if spec.kind == "list":
        return [line.strip() for line in text.splitlines() if line.strip()]
    if spec.kind == "bool":
        return text.strip().lower() in ("true", "1", "yes", "on")
    text = text.strip()
    if not text:
        return None
    if spec.kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{spec.path}: {text!r} is not a whole number") from None
    return text


def validate_value(record: dict[str, Any], path: str, value: Any) -> tuple[dict[str, Any], Any]:
    """Put ``value`` at ``path`` and validate the record with the models.

    Returns the validated record (JSON) and the value as the models normalised
    it; raises ``ValueError`` with one line naming the field when it is invalid.
    """
    data = copy.deepcopy(record)
    set_path(data, path, value)
    try:
        validated = Record.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        errors = exc.errors()
        # The error about this field first; another field's error still blocks.
        wanted = parse_path(path)
        errors.sort(key=lambda e: list(e["loc"])[: len(wanted)] != wanted)
        err = errors[0]
        loc = format_path(list(err["loc"]))
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise ValueError(
            f"{path}: {msg}" + (f" (at {loc})" if loc and loc != path else "")
        ) from None
    return validated, get_path(validated, path)
