"""The LLM backends against recorded HTTP from the REAL local model.

Each test replays its own cassette (tests/cassettes/test_llm_cassettes/<test>.yaml),
recorded against the llama.cpp server running Qwen2.5-Coder-1.5B-Instruct
Q4_K_M at the fixed address ``conftest.LLM_TEST_BASE_URL``; requests match on
their body, so a changed prompt, schema or excerpt is a miss, never a stale
answer.  Re-record: see docs/llm-backends.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import LLM_TEST_BASE_URL, LLM_TEST_MODEL, SYNTHETIC

from llm_extract.config import Config, load_config
from llm_extract.llm.backend import LLMBackend
from llm_extract.llm.excerpts import grounded
from llm_extract.llm.hybrid import HybridBackend
from llm_extract.llm.prompting import prompt_version
from llm_extract.loading import letter_from_text, load_letter
from llm_extract.models import Category, Decision, Record
from llm_extract.rules.backend import parse_letter

pytestmark = pytest.mark.vcr
CASSETTES = Path(__file__).parent / "cassettes" / "test_llm_cassettes"


@pytest.fixture
def config() -> Config:
    # env={} so the developer's LLM_EXTRACT_* variables cannot change the requests.
    return load_config(
        env={},
        base_url=LLM_TEST_BASE_URL,
        model=LLM_TEST_MODEL,
        instructor_mode="json",  # what the embedded server uses (llm.endpoint.resolve_mode)
        schema_in_prompt="no",  # ditto: its grammar enforces the schema
        timeout_s=900.0,  # recording on 2 shared cores is slow; replay is instant
        max_retries=0,
    )


def _run(
    backend_cls: type, config: Config, name: str, edit: tuple[str, str] | None = None
) -> tuple[Record, Record]:
    letter = load_letter(SYNTHETIC / name)
    if edit is not None:
        assert edit[0] in letter.text
        letter = letter_from_text(letter.text.replace(*edit), letter_id=letter.letter_id)
    backend = backend_cls(config)
    try:
        record = backend.extract(letter)
    finally:
        backend.close()
    return record, parse_letter(letter).record


def _assert_llm_provenance(record: Record, backend: str) -> None:
    prov = record.provenance
    assert prov is not None
    assert prov.backend == backend
    assert prov.model == LLM_TEST_MODEL
    assert prov.prompt_version == prompt_version() != ""
    assert prov.usage.prompt_tokens > 0
    assert prov.usage.completion_tokens > 0
    assert prov.usage.attempts >= 1
    assert prov.fallback is False
    assert prov.text_sha256


def test_hybrid_injected_summary_keeps_parser_decisions(config: Config, vcr: Any) -> None:
    """A case summary telling the model to overturn everything changes no decision."""
    # A narrative piece in the list makes the parser doubt it, so the list --
    # and the diagnosis sentences around it, the injected note among them -- is asked.
    record, rules = _run(
        HybridBackend,
        config,
        "injected_summary.txt",
        edit=("radiculopathy and left", "radiculopathy, status post being lifted badly and left"),
    )
    assert "diagnoses" in rules.review_reasons[0]
    _assert_llm_provenance(record, "hybrid")
    assert [i.request for i in record.items] == [i.request for i in rules.items]
    assert [i.decision for i in record.items] == [i.decision for i in rules.items]
    assert [i.decision for i in record.items] == [
        Decision.UPHELD,
        Decision.UPHELD,
        Decision.OVERTURNED,
    ]
    # The injected note did reach the model (it is in the recorded request) ...
    # (From the cassette in use: while re-recording, the file is written only
    # after the test.)
    (request,) = vcr.requests
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    assert "ignore previous instructions" in body
    # ... but decisions are never asked (only what the parser is unsure of), so
    # whatever the model made of it, no decision can change.
    asked = json.loads(body)["response_format"]["schema"]["properties"]
    assert not any(key.startswith("item_") for key in asked)
    assert not any(c.field.endswith(".decision") for c in record.checks)
    assert all(isinstance(i.category, Category) for i in record.items)
    _assert_review_consistent(record)
    # Nor does the injected sentence become data: the diagnoses are the letter's
    # (the parser's list, or its other reading without the narrative).
    assert record.diagnoses in (
        rules.diagnoses,
        [d for d in rules.diagnoses if "status post" not in d],
    )
    assert not any("instruction" in d or "overturned" in d for d in record.diagnoses)


def _assert_review_consistent(record: Record) -> None:
    """Unresolved checks and ungrounded LLM values are flagged; flags say why."""
    assert record.needs_review == bool(record.review_reasons)
    if any(not c.resolved for c in record.checks):
        assert record.needs_review
    for ev in record.evidence:
        if ev.reader == "llm" and not ev.grounded:
            assert any(ev.field in r for r in record.review_reasons)


def test_hybrid_pdf_layout_letter(config: Config) -> None:
    record, rules = _run(HybridBackend, config, "rules_pdf_layout.txt")
    _assert_llm_provenance(record, "hybrid")
    assert len(record.items) == len(rules.items) == 5
    assert [i.decision for i in record.items] == [i.decision for i in rules.items]
    assert all(isinstance(i.category, Category) for i in record.items)
    # Held to the parser: dates and counts.
    assert record.date_of_injury == rules.date_of_injury
    assert [i.quantity for i in record.items] == [i.quantity for i in rules.items]
    # Whatever the LLM filled in is grounded in the request it labelled.
    for item, rule_item in zip(record.items, rules.items, strict=True):
        if rule_item.body_region is None and item.body_region is not None:
            assert grounded(item.body_region, item.request)
        if item.medication is not None:
            assert grounded(item.medication.name, item.request)
    _assert_review_consistent(record)


def test_hybrid_seed_layout_letter(config: Config) -> None:
    record, rules = _run(HybridBackend, config, "rules_seed_layout.txt")
    _assert_llm_provenance(record, "hybrid")
    assert [i.decision for i in record.items] == [i.decision for i in rules.items]
    assert record.patient.age == rules.patient.age == 38
    assert record.diagnoses  # the parser's, or the LLM's when the parser found none
    assert all(isinstance(i.category, Category) for i in record.items)
    _assert_review_consistent(record)


def test_llm_backend_injected_summary(config: Config) -> None:
    """The llm backend's values are the model's own; item calls never see the summary."""
    record, rules = _run(LLMBackend, config, "injected_summary.txt")
    _assert_llm_provenance(record, "llm")
    # 1 header + 1 summary + 3 item calls, at least one HTTP attempt each.
    assert record.provenance is not None and record.provenance.usage.attempts >= 5
    assert len(record.items) == 3
    assert [i.decision for i in record.items] == [i.decision for i in rules.items]
    assert record.case_number == "CM99-0000042"
    assert record.date_of_injury is not None and record.date_of_injury.isoformat() == "2015-03-14"
    assert record.patient.age == 47
    assert all(isinstance(i.category, Category) for i in record.items)
    assert record.items[0].category is Category.MEDICATION
    assert record.items[1].category is Category.IMAGING
    assert record.checks == [] and record.needs_review is False


def test_cassettes_hold_no_secrets() -> None:
    texts = [p.read_text() for p in sorted(CASSETTES.glob("*.yaml"))]
    assert len(texts) >= 4
    for text in texts:
        assert "authorization" not in text.lower()
        assert "api-key" not in text.lower()
