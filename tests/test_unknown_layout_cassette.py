"""A letter in an unknown layout, read whole by the REAL local model (recorded HTTP).

Set up as ``tests/test_llm_cassettes.py``: one cassette per test
(``tests/cassettes/test_unknown_layout_cassette/<test>.yaml``), recorded
against the llama.cpp server running Qwen2.5-Coder-1.5B-Instruct Q4_K_M at
``conftest.LLM_TEST_BASE_URL``, matched on the request body (a changed prompt,
schema or excerpt is a miss, never a stale answer).  Re-record with the
README's command ("Tests"), naming this file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import LLM_TEST_BASE_URL, LLM_TEST_MODEL, SYNTHETIC

from llm_extract.config import Config, load_config
from llm_extract.llm.excerpts import grounded
from llm_extract.llm.hybrid import HybridBackend
from llm_extract.llm.prompting import prompt_version
from llm_extract.llm.whole_letter import MAX_CALLS
from llm_extract.loading import load_letter
from llm_extract.models import Decision

pytestmark = pytest.mark.vcr
CASSETTES = Path(__file__).parent / "cassettes" / "test_unknown_layout_cassette"
APPEAL = SYNTHETIC / "layouts" / "unknown_ur_appeal.txt"


@pytest.fixture
def config() -> Config:
    # As tests/test_llm_cassettes.py: what the embedded server uses, env ignored.
    return load_config(
        env={},
        base_url=LLM_TEST_BASE_URL,
        model=LLM_TEST_MODEL,
        instructor_mode="json",
        schema_in_prompt="no",
        timeout_s=900.0,
        max_retries=0,
    )


def test_hybrid_reads_an_unknown_layout_letter_whole(config: Config) -> None:
    letter = load_letter(APPEAL)
    assert not letter.layout.known and letter.layout.is_imr
    backend = HybridBackend(config)
    try:
        record = backend.extract(letter)
    finally:
        backend.close()
    prov = record.provenance
    assert prov is not None
    assert (prov.backend, prov.model, prov.layout) == ("hybrid", LLM_TEST_MODEL, "unknown")
    assert prov.prompt_version == prompt_version() and not prov.fallback
    assert 1 <= prov.usage.attempts <= MAX_CALLS and prov.usage.completion_tokens > 0
    # Flagged, first with why.
    assert record.needs_review
    assert record.review_reasons[0] == (
        "unknown letter layout (unknown): every value is the LLM's reading"
    )
    # The model's items: every request is in the letter, and the two disputed
    # requests carry the decisions the letter states.
    assert record.items
    decisions = {}
    for item in record.items:
        assert grounded(item.request, letter.text), item.request
        assert item.span is not None
        if "epidural" in item.request.lower():
            decisions["esi"] = item.decision
        if "tramadol" in item.request.lower():
            decisions["tramadol"] = item.decision
    assert decisions == {"esi": Decision.OVERTURNED, "tramadol": Decision.UPHELD}
    # Header values the model gave are in the letter (or were dropped, in checks).
    assert record.case_number in (None, "CM15-0101234")
    if record.case_number is None:
        assert "no case number was found in the letter" in record.review_reasons
    # Recorded: the model inverted both decisions ("is medically necessary" read as
    # upheld); the statements' outcome words decided, the model's readings are checks.
    for check in record.checks:
        if check.field.endswith(".decision"):
            assert check.kept == "rules" and check.resolved
    # Every LLM value kept is grounded, or the record says why.
    for ev in record.evidence:
        assert ev.reader in ("llm", "both") or ev.field.endswith(".decision")
        if ev.certainty != "undecided" and not ev.grounded:
            assert any(ev.field in r for r in record.review_reasons), ev.field


def test_cassette_holds_no_secrets() -> None:
    for path in sorted(CASSETTES.glob("*.yaml")):
        text = path.read_text().lower()
        assert "authorization" not in text and "api-key" not in text
