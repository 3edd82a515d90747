"""The editable fields of a record's JSON, with their types.

A field is named by its path (:mod:`llm_extract.field_paths`: ``patient.age``,
``items[2].medication.name``, the same spelling as ``Evidence.field`` and
``Check.field``).  The editable
fields and their types come from the pydantic models through
:func:`llm_extract.fields.spec_fields`, so a field added to the models shows
up in the review page and its form without a change here.

A value a person types is checked by validating the whole record with the
value in place (:func:`validate_value`): the same validators as extraction,
so ``10/18/16`` becomes ``2016-10-18`` and ``Upheld`` becomes ``upheld``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..field_paths import PathError, format_path, get_path, parse_path, set_path
from ..fields import field_kind, spec_fields
from ..models import Record


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
