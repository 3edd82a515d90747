"""The askable table against the record's models: every row a field, every key its path's."""

from __future__ import annotations

import datetime as dt
import types
from typing import Annotated, Any, Union, get_args, get_origin

from llm_extract import fields
from llm_extract.field_paths import get_path, set_path
from llm_extract.llm import schemas
from llm_extract.llm.askable import ASKABLE, hybrid_answer_for, item_key, row, row_for_path, rows
from llm_extract.models import Category, Decision, Item, Record, Sex


def _base(annotation: Any) -> Any:
    """The type a field holds, without ``None``, ``Annotated`` validators or ``list``."""
    if get_origin(annotation) is Annotated:
        return _base(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        (inner,) = [a for a in get_args(annotation) if a is not type(None)]
        return _base(inner)
    if get_origin(annotation) is list:
        return list[_base(get_args(annotation)[0])]  # type: ignore[misc]
    return annotation


def _spec(level: str) -> dict[str, Any]:
    return {f.path: f.annotation for f in fields.spec_fields() if f.level == level}


def _path_of(key: str, level: str) -> str:
    """The one record path of ``level`` that an answer key names (fails when none or several)."""
    (path,) = [p for p in _spec(level) if key in fields.spellings(p)]
    return path


def test_every_summary_fact_is_an_askable_letter_row() -> None:
    # The letter rows are the case summary's facts, as the ``llm`` backend's
    # summary answer model (llm/schemas.py SummaryFacts) names them.
    expected = {_path_of(name, "letter") for name in schemas.SummaryFacts.model_fields}
    assert {r.path for r in rows("letter")} == expected


def test_item_rows_are_keys_of_the_item_answer_model() -> None:
    # The hybrid and the ``llm`` backend name an item field by the same key.
    assert rows("item")
    assert {r.key for r in rows("item")} <= set(schemas.ItemFacts.model_fields)


def test_every_row_is_a_field_of_the_models_and_its_key_maps_back() -> None:
    assert len({r.key for r in ASKABLE}) == len(ASKABLE), "an answer key is used twice"
    for r in ASKABLE:
        spec = _spec(r.level)
        assert r.path in spec, f"{r.key}: {r.path} is no {r.level} field of the models"
        assert _path_of(r.key, r.level) == r.path, f"{r.key} does not name {r.path}"
        assert row(r.key) is r and row_for_path(r.level, r.path) is r
        assert _base(r.answer) == _base(spec[r.path]), f"{r.key}: answer type differs"


def _sentinel(annotation: Any) -> Any:
    base = _base(annotation)
    return {
        int: 42,
        str: "a value",
        dt.date: dt.date(2001, 2, 3),
        Sex: Sex.FEMALE,
        Category: Category.MEDICATION,
        list[str]: ["one", "two"],
    }[base]


def test_each_answer_reaches_its_path_in_a_record() -> None:
    # An answer of every row, validated by the hybrid's answer schema, set at
    # its record path, reads back from that path.
    letter_keys = tuple(r.key for r in rows("letter"))
    item_keys = tuple(r.key for r in rows("item"))
    model = hybrid_answer_for(letter_keys, ((1, item_keys),))
    raw: dict[str, Any] = {r.key: _sentinel(r.answer) for r in rows("letter")}
    raw[item_key(1)] = {r.key: _sentinel(r.answer) for r in rows("item")}
    answer = model.model_validate_json(model.model_validate(raw).model_dump_json())
    record = Record(
        letter_id="L",
        items=[Item(request=f"request {i}", decision=Decision.UPHELD) for i in range(2)],
    )
    for r in ASKABLE:
        item = None if r.level == "letter" else 1
        source = answer if item is None else getattr(answer, item_key(1))
        value = getattr(source, r.key)
        set_path(record, r.record_path(item), value)
        assert get_path(record, r.record_path(item)) == value, r.key
    assert record.items[0].quantity is None  # the other item is untouched
