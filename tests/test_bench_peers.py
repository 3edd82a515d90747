"""The peers benchmark's mappings (benchmarks/bench_peers.py): no network, no model.

langextract's extractions are stood in for by plain objects with the same
attributes (``extraction_class``, ``extraction_text``, ``char_interval``,
``attributes``), so these tests run without langextract installed; the one
test that needs the library's own example validation skips without it.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_peers", ROOT / "benchmarks" / "bench_peers.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_peers"] = module
    spec.loader.exec_module(module)
    return module


bp = _load()


def ext(cls: str, text: str, start: int | None = None, **attributes: Any) -> SimpleNamespace:
    interval = (
        None if start is None else SimpleNamespace(start_pos=start, end_pos=start + len(text))
    )
    return SimpleNamespace(
        extraction_class=cls,
        extraction_text=text,
        char_interval=interval,
        attributes=attributes or None,
    )


ITEM_ATTRS = {
    "decision": "Overturned",
    "category": "medication",
    "quantity": "#60",
    "frequency_per_week": "null",
    "duration_weeks": "null",
    "body_region": "null",
    "retrospective": "false",
    "date_of_service": "null",
    "cpt_codes": "null",
    "medication_name": "Oxycodone HCL ER",
    "medication_strength": "20mg",
    "days_supply": "30",
    "original_request": "null",
}


def test_langextract_mapping_header_lists_and_items() -> None:
    extractions = [
        ext(
            "maximus_guideline",
            "Decision based on MTUS Opioid Treatment 2016.",
            900,
            sources="mtus",
        ),
        ext("case_number", "CM16-0239110", 13),
        ext("date_assigned", "12/22/2016", 40),
        ext("date_of_injury", "10/18/2016", 66),
        ext("decision_date", "not a date", 90),
        ext("priority", "Standard", 130),
        ext("licensure_state", "California", 300),
        ext("reviewer_specialty", "Preventive Medicine", 340),
        ext("reviewer_specialty", "Occupational Medicine", 361),
        ext("reviewer_specialty", "preventive medicine", 380),  # duplicate: dropped
        ext("patient_age", "38", 500),
        ext("patient_sex", "Male", 515),
        ext("diagnosis", "status post rib fracture T9-10", 600),
        # the request where the summary mentions it (no decision): not an item
        ext("disputed_item", "Oxycodone HCL ER 20mg #60 day supply: 30", 700),
        ext("disputed_item", "Oxycodone HCL ER 20mg #60 day supply: 30", 800, **ITEM_ATTRS),
        ext(
            "claims_administrator_guideline",
            "did not cite any medical evidence",
            850,
            sources="null",
        ),
    ]
    record = bp.record_from_extractions(extractions, "CM16-0239110")
    assert record.case_number == "CM16-0239110"
    assert record.date_assigned == dt.date(2016, 12, 22)
    assert record.date_of_injury == dt.date(2016, 10, 18)
    assert record.decision_date is None  # unparseable: null, not a failure
    assert record.priority == "standard"
    assert record.reviewer.specialties == ["Preventive Medicine", "Occupational Medicine"]
    assert record.reviewer.licensure_states == ["California"]
    assert (record.patient.age, record.patient.sex, record.patient.occupation) == (38, "male", None)
    assert record.diagnoses == ["status post rib fracture T9-10"]
    assert len(record.items) == 1
    item = record.items[0]
    assert (item.decision, item.category, item.quantity) == ("overturned", "medication", 60)
    assert item.medication is not None
    assert (item.medication.name, item.medication.strength, item.medication.days_supply) == (
        "Oxycodone HCL ER",
        "20mg",
        30,
    )
    assert item.guideline_sources.maximus == ["mtus"]
    assert item.guideline_sources.claims_administrator == []
    assert item.maximus_guideline == "Decision based on MTUS Opioid Treatment 2016."


def test_langextract_guidelines_follow_the_item_they_stand_under() -> None:
    first = {**ITEM_ATTRS, "category": "physical_therapy", "medication_name": "null"}
    extractions = [
        ext("disputed_item", "Physical therapy 2x6", 100, **first),
        ext("maximus_guideline", "MTUS Chronic Pain", 150, sources=["mtus"]),
        ext("disputed_item", "Naproxen 550mg #60", 300, **ITEM_ATTRS),
        ext("maximus_guideline", "ODG Pain", 350, sources="odg, other"),
        ext("disputed_item", "Physical therapy 2x6", 400, **first),  # same request again: one item
    ]
    record = bp.record_from_extractions(extractions, "x")
    assert [i.request for i in record.items] == ["Physical therapy 2x6", "Naproxen 550mg #60"]
    assert record.items[0].medication is None
    assert record.items[0].guideline_sources.maximus == ["mtus"]
    assert record.items[1].guideline_sources.maximus == ["odg", "other"]
    assert record.items[1].maximus_guideline == "ODG Pain"


def test_langextract_unaligned_guidelines_go_by_order() -> None:
    extractions = [
        ext("disputed_item", "A brace", None, **{**ITEM_ATTRS, "category": "nonsense"}),
        ext("disputed_item", "B scan", None, **{**ITEM_ATTRS, "decision": "maybe"}),  # no decision
        ext("disputed_item", "C test", None, **ITEM_ATTRS),
        ext("maximus_guideline", "g1", None, sources="acoem"),
        ext("maximus_guideline", "g2", None, sources="mtus"),
        ext("maximus_guideline", "g3", None, sources="odg"),  # no third item: dropped
    ]
    record = bp.record_from_extractions(extractions, "x")
    assert [i.request for i in record.items] == ["A brace", "C test"]
    assert record.items[0].category is None
    assert [i.maximus_guideline for i in record.items] == ["g1", "g2"]


def test_instructor_answer_maps_onto_record() -> None:
    peer = bp.PeerRecord.model_validate(
        {
            "case_number": "CM1",
            "date_assigned": "2016-12-22",
            "decision_date": None,
            "ur_denial_date": None,
            "application_received": None,
            "priority": "expedited",
            "date_of_injury": None,
            "reviewer": {"specialties": ["Surgery"], "subspecialties": [], "licensure_states": []},
            "patient": {"age": 50, "sex": "female", "occupation": None},
            "diagnoses": ["sprain"],
            "items": [
                {
                    "request": "MRI lumbar spine",
                    "original_request": None,
                    "decision": "upheld",
                    "category": "imaging",
                    "quantity": None,
                    "frequency_per_week": None,
                    "duration_weeks": None,
                    "body_region": "lumbar spine",
                    "retrospective": False,
                    "date_of_service": None,
                    "cpt_codes": [],
                    "medication": None,
                    "guideline_sources": {"claims_administrator": ["acoem"], "maximus": ["mtus"]},
                    "maximus_guideline": None,
                }
            ],
        }
    )
    prov = bp.Provenance(text_sha256="0" * 64, backend="peer-instructor", backend_version="t")
    record = bp.record_from_peer(peer, "CM1", prov)
    assert record.letter_id == "CM1"
    assert record.date_assigned == dt.date(2016, 12, 22)
    assert record.items[0].category == "imaging"
    assert record.items[0].guideline_sources.claims_administrator == ["acoem"]
    assert record.provenance is not None and record.provenance.backend == "peer-instructor"


def test_instructor_response_model_requires_every_field() -> None:
    # "Required but nullable": the model must answer each field, null included.
    schema = bp.PeerRecord.model_json_schema()
    assert set(schema["required"]) == set(schema["properties"])
    item = schema["$defs"]["PeerItem"]
    assert set(item["required"]) == set(item["properties"])


def test_langextract_example_aligns_with_its_text() -> None:
    pytest.importorskip("langextract", reason="langextract is optional: pip install -e '.[peers]'")
    from langextract import prompt_validation as pv
    from langextract import resolver

    report = pv.validate_prompt_alignment(
        examples=bp.langextract_examples(),
        aligner=resolver.WordAligner(),
        policy=pv.AlignmentPolicy(),
    )
    assert report.issues == []


def _letter() -> Any:
    from llm_extract.loading import letter_from_text

    return letter_from_text(bp.LX_EXAMPLE_TEXT, "example")


def test_instructor_peer_over_a_fake_endpoint_counts_tokens() -> None:
    from llm_extract.devtools.fake_openai import FakeOpenAI, Reply

    with FakeOpenAI([], default=Reply.schema(usage=(50, 10))) as fake:
        outcome = bp.instructor_runner(fake.base_url, "m", None)(_letter())
        body = fake.completions[0].body
    assert outcome.error is None and outcome.record is not None
    assert (outcome.prompt_tokens, outcome.completion_tokens, outcome.calls) == (50, 10, 1)
    assert outcome.record.provenance is not None
    assert outcome.record.provenance.usage.prompt_tokens == 50
    # what a new user sends: instructor's default (a forced tool call), the whole letter
    assert body["tools"][0]["function"]["name"] == "PeerRecord"
    assert body["messages"][-1]["content"] == bp.LX_EXAMPLE_TEXT


def test_langextract_peer_over_a_fake_endpoint_maps_its_answer() -> None:
    pytest.importorskip("langextract", reason="langextract is optional: pip install -e '.[peers]'")
    import json

    from llm_extract.devtools.fake_openai import FakeOpenAI, Reply

    answer = {
        "extractions": [
            {"case_number": "CM00-0000001", "case_number_attributes": {}},
            {
                "disputed_item": "Naproxen sodium 550mg #60",
                "disputed_item_attributes": {**ITEM_ATTRS, "medication_name": "Naproxen sodium"},
            },
        ]
    }
    with FakeOpenAI([], default=Reply.text(json.dumps(answer), usage=(100, 20))) as fake:
        outcome = bp.langextract_runner(fake.base_url, "m", 1000)(_letter())
        bodies = [c.body for c in fake.completions]
    assert outcome.error is None and outcome.record is not None
    assert len(bodies) == outcome.calls >= 2  # the example letter is two 1,000-character chunks
    assert outcome.prompt_tokens == 100 * outcome.calls
    assert bodies[0]["response_format"] == {"type": "json_object"}
    assert outcome.record.case_number == "CM00-0000001"
    # the same answer for every chunk: one item, not one per chunk
    assert [i.request for i in outcome.record.items] == ["Naproxen sodium 550mg #60"]
    assert outcome.record.items[0].medication is not None


def test_outcomes_are_scored_by_the_eval_harness() -> None:
    from llm_extract.evaluation.gold import load_gold

    gold = load_gold(ROOT / "evals" / "fixtures", split="dev")[:2]
    right = gold[0].record.model_copy()
    outcomes = {
        gold[0].letter_id: bp.Outcome(right, 1.0, 10, 5, 1),
        gold[1].letter_id: bp.Outcome(None, 2.0, 7, 0, 1, "Boom: no", "Boom"),
    }
    result = bp.score(gold, outcomes)
    row = bp.summary_row("peer", result, list(outcomes.values()))
    assert row["failures"] == 1
    assert [e["letter_id"] for e in row["errors"]] == [gold[1].letter_id]
    assert row["prompt_tokens_per_letter"] == 8.5
    assert result.letters[0].score == 1.0  # the gold record itself scores perfectly
    assert result.letters[1].score < 1.0  # a failed letter is scored as an empty record


def test_null_extractions_are_dropped_before_langextract_parses() -> None:
    content = (
        '{"extractions": [{"patient_occupation": null, "patient_occupation_attributes": {}},'
        ' {"case_number": "CM1", "case_number_attributes": {"x": null}}]}'
    )
    assert bp.json.loads(bp.drop_null_extractions(content)) == {
        "extractions": [{"case_number": "CM1", "case_number_attributes": {"x": None}}]
    }
    assert bp.drop_null_extractions("not json") == "not json"
