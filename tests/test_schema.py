"""The checked-in JSON Schema matches the models, and records validate against it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llm_extract.models import Record, record_json_schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "schemas" / "record.schema.json"


def test_checked_in_schema_has_not_drifted() -> None:
    on_disk = json.loads(SCHEMA_FILE.read_text())
    assert on_disk == record_json_schema(), (
        "schemas/record.schema.json is stale: run `python scripts/gen_schema.py`"
    )


def test_schema_command_prints_the_same_schema() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "llm_extract", "schema"], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == json.loads(SCHEMA_FILE.read_text())


def test_schema_has_every_record_md_field() -> None:
    schema = record_json_schema()
    letter_fields = {
        "letter_id", "case_number", "date_assigned", "decision_date", "ur_denial_date",
        "application_received", "priority", "date_of_injury", "reviewer", "patient",
        "diagnoses", "items",
    }  # fmt: skip
    assert letter_fields <= set(schema["properties"])
    item = schema["$defs"]["Item"]["properties"]
    item_fields = {
        "request", "original_request", "decision", "category", "quantity",
        "frequency_per_week", "duration_weeks", "body_region", "retrospective",
        "date_of_service", "cpt_codes", "medication", "guideline_sources", "maximus_guideline",
    }  # fmt: skip
    assert item_fields <= set(item)
    categories = set(schema["$defs"]["Category"]["enum"])
    assert (
        len(categories) == 15 and {"medication", "durable_medical_equipment", "other"} <= categories
    )
    # Formats are normalised in validators, never enforced with a regex pattern.
    assert '"pattern"' not in SCHEMA_FILE.read_text()


def test_a_record_validates_against_the_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    record = Record(
        letter_id="x",
        date_assigned="12/22/2016",
        items=[{"request": "PT x8", "decision": "Upheld", "category": "physical therapy"}],
    )
    jsonschema.validate(record.to_dict(), json.loads(SCHEMA_FILE.read_text()))
