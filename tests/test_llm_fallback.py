"""The hybrid backend keeps the rules record when the LLM cannot be reached."""

from __future__ import annotations

import socket

import pytest
from conftest import SYNTHETIC

from llm_extract.config import load_config
from llm_extract.errors import BackendUnavailableError
from llm_extract.llm.hybrid import HybridBackend
from llm_extract.llm.prompting import prompt_version
from llm_extract.loading import load_letter
from llm_extract.rules.backend import parse_letter


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_hybrid_falls_back_to_rules_when_llm_fails() -> None:
    config = load_config(
        env={},
        base_url=f"http://127.0.0.1:{_closed_port()}/v1",
        model="any",
        max_retries=0,  # under --block-network the connect is refused before any retry
        timeout_s=5.0,
    )
    letter = load_letter(SYNTHETIC / "rules_pdf_layout.txt")
    backend = HybridBackend(config)
    try:
        record = backend.extract(letter)
    finally:
        backend.close()
    rules = parse_letter(letter).record
    prov = record.provenance
    assert prov is not None and prov.backend == "hybrid"
    assert prov.fallback is True
    assert prov.fallback_reason and "cannot reach" in prov.fallback_reason
    assert prov.prompt_version == prompt_version()
    assert prov.usage.attempts == 1  # the failed attempt is counted
    # Nothing lost: every value is the parser's; the record says why it needs a look.
    assert record.needs_review and record.review_reasons[0].startswith("LLM unavailable: ")
    skip = {"provenance", "needs_review", "review_reasons", "review_flags"}
    assert record.model_dump(exclude=skip) == rules.model_dump(exclude=skip)


def test_hybrid_needs_a_model_name_for_a_remote_endpoint() -> None:
    config = load_config(env={}, base_url="http://127.0.0.1:9/v1")
    backend = HybridBackend(config)
    with pytest.raises(BackendUnavailableError):
        backend.extract(load_letter(SYNTHETIC / "rules_pdf_layout.txt"))
