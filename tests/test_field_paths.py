"""One field-path module: parse, get and set on the models and on their JSON alike."""

from __future__ import annotations

import pytest

from llm_extract.field_paths import (
    PathError,
    covers,
    format_path,
    get_path,
    parse_path,
    set_path,
    split_item_path,
)
from llm_extract.models import Decision, Item, Medication, Patient, Record


def _record() -> Record:
    return Record(
        letter_id="L1",
        patient=Patient(age=50),
        diagnoses=["low back pain", "neck pain"],
        items=[
            Item(request="Physical therapy x 8", decision=Decision.UPHELD, quantity=8),
            Item(
                request="Norco 10/325mg #60",
                decision=Decision.OVERTURNED,
                medication=Medication(name="Norco", strength="10/325mg"),
            ),
        ],
    )


def test_get_reads_models_and_json_the_same_way() -> None:
    record = _record()
    data = record.to_dict()
    for path in (
        "patient.age",
        "items[1].medication.name",
        "items[0].medication.name",
        "items[9].quantity",
        "diagnoses[1]",
    ):
        assert get_path(record, path) == get_path(data, path), path
    assert get_path(record, "items[1].medication.strength") == "10/325mg"
    assert get_path(record, "diagnoses[1]") == "neck pain"


def test_set_on_a_model_creates_and_validates() -> None:
    record = _record()
    set_path(record, "items[0].medication.name", "Tramadol")
    assert record.items[0].medication == Medication(name="Tramadol")
    set_path(record, "items[1].medication.name", "Percocet")
    assert record.items[1].medication is not None
    assert record.items[1].medication.strength == "10/325mg"  # the rest is kept
    set_path(record, "patient.sex", "Female")  # the models' validators run
    assert record.patient.sex == "female"
    set_path(record, "items[0].medication.name", None)  # no name: no medication
    assert record.items[0].medication is None
    with pytest.raises(PathError):
        set_path(record, "items[5].quantity", 3)
    with pytest.raises(PathError):
        set_path(record, "items[0]", None)


def test_parse_format_and_item_paths_round_trip() -> None:
    for path in ("case_number", "items[2].medication.name", "diagnoses[0]"):
        assert format_path(parse_path(path)) == path
    assert split_item_path("items[2].medication.name") == (2, "medication.name")
    assert split_item_path("patient.age") == (None, "patient.age")
    assert covers("diagnoses", "diagnoses[1]") and covers("diagnoses", "diagnoses")
    assert not covers("items[1].quantity", "items[10].quantity")
    assert not covers("date_of_injury", "date_of_injury_x")
