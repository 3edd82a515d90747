"""Field paths, typed values and how corrections apply (no corpus, no server)."""

from __future__ import annotations

from typing import Any

import pytest

from llm_extract.batch.corrections import Correction, apply_corrections
from llm_extract.field_paths import PathError, get_path, parse_path, set_path
from llm_extract.review.paths import field_specs, parse_input, spec_for, validate_value
from llm_extract.review.text import segments

RECORD: dict[str, Any] = {
    "letter_id": "L1",
    "case_number": "CM16-0000001",
    "decision_date": "2016-10-18",
    "patient": {"age": 50, "sex": "female", "occupation": None},
    "diagnoses": ["low back pain"],
    "items": [
        {"request": "Physical therapy x 8", "decision": "upheld", "quantity": 8},
        {
            "request": "Norco 10/325mg #60",
            "decision": "overturned",
            "quantity": 60,
            "medication": {"name": "Norco", "strength": "10/325mg"},
        },
    ],
}


def corr(field: str, old: Any, new: Any, i: int = 1, action: str = "set") -> Correction:
    return Correction(i, "sha", "key", "L1", field, action, old, new, "r", "review", "t")


def test_paths_parse_get_and_set() -> None:
    assert parse_path("items[1].medication.name") == ["items", 1, "medication", "name"]
    assert get_path(RECORD, "items[1].medication.name") == "Norco"
    assert get_path(RECORD, "items[0].medication.name") is None
    assert get_path(RECORD, "items[5].quantity") is None
    for bad in ("", "items[x]", "a..b", "items[0]quantity"):
        with pytest.raises(PathError):
            parse_path(bad)
    data: dict[str, Any] = {"items": [{"medication": None}]}
    set_path(data, "items[0].medication.name", "Tramadol")
    assert data["items"][0]["medication"] == {"name": "Tramadol"}
    set_path(data, "items[0].medication.name", None)  # no name: no medication
    assert data["items"][0]["medication"] is None


def test_fields_and_their_types_come_from_the_models() -> None:
    specs = {s.path: s for s in field_specs(RECORD)}
    assert specs["decision_date"].kind == "date"
    assert specs["priority"].kind == "enum" and "expedited" in specs["priority"].choices
    assert specs["items[1].decision"].required
    assert specs["items[0].guideline_sources.maximus"].kind == "enum_list"
    assert specs["diagnoses"].kind == "list"
    assert specs["items[1].retrospective"].kind == "bool"
    assert parse_input(specs["diagnoses"], ["a\n\n b \n"]) == ["a", "b"]
    with pytest.raises(ValueError, match="not a whole number"):
        parse_input(spec_for(RECORD, "items[0].quantity"), ["lots"])


def test_values_are_validated_and_normalised_by_the_models() -> None:
    _, value = validate_value(RECORD, "decision_date", "10/19/16")
    assert value == "2016-10-19"
    _, value = validate_value(RECORD, "items[0].decision", "Overturned")
    assert value == "overturned"
    with pytest.raises(ValueError, match=r"items\[0\]\.decision: Input should be"):
        validate_value(RECORD, "items[0].decision", "maybe")
    with pytest.raises(ValueError, match="not a date"):
        validate_value(RECORD, "decision_date", "31/31/2016")


def test_corrections_apply_while_the_extraction_says_what_was_corrected() -> None:
    applied = apply_corrections(RECORD, [corr("patient.age", 50, 51)])
    assert applied.record["patient"]["age"] == 51 and list(applied.corrected) == ["patient.age"]
    assert RECORD["patient"]["age"] == 50  # the record itself is untouched
    # the last correction of a field wins; an accept confirms
    applied = apply_corrections(
        RECORD,
        [
            corr("patient.age", 50, 51, 1),
            corr("patient.age", 50, 52, 2),
            corr("case_number", "CM16-0000001", "CM16-0000001", 3, "accept"),
        ],
    )
    assert applied.record["patient"]["age"] == 52
    assert list(applied.accepted) == ["case_number"]
    # the extraction already says the person's value: applied, nothing to do
    assert apply_corrections(RECORD, [corr("patient.age", 49, 50)]).corrected
    # it says something else now: stale, not applied
    stale = apply_corrections(RECORD, [corr("patient.age", 40, 41)])
    assert stale.record["patient"]["age"] == 50 and list(stale.stale) == ["patient.age"]
    # an item that is no longer there: stale
    gone = apply_corrections(RECORD, [corr("items[3].quantity", 1, 2)])
    assert list(gone.stale) == ["items[3].quantity"]


def test_text_is_cut_at_every_span_boundary() -> None:
    segs = segments("abcdefgh", {"x": [(1, 5)], "y": [(3, 7)], "z": [(20, 30)]})
    assert [(s.text, s.fields) for s in segs] == [
        ("a", ()),
        ("bc", ("x",)),
        ("de", ("x", "y")),
        ("fg", ("y",)),
        ("h", ()),
    ]
