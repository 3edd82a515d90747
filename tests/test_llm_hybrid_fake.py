"""The hybrid against the scripted fake endpoint (real HTTP on 127.0.0.1).

Proves two points of issue 10: a made-up (ungrounded) LLM value is not kept,
and a letter the parser decides with certainty makes no LLM call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from conftest import SYNTHETIC
from fake_support import fake_config

from llm_extract.devtools.fake_openai import FakeOpenAI, Reply
from llm_extract.llm.doubts import choice_key
from llm_extract.llm.hybrid import HybridBackend, diagnosis_questions, uncertain_fields
from llm_extract.loading import letter_from_text, load_letter
from llm_extract.review_flags import ReviewCode
from llm_extract.rules.backend import parse_letter


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _backend(fake: FakeOpenAI) -> HybridBackend:
    return HybridBackend(fake_config(fake))


def _certain_letter() -> str:
    """The injected-summary letter with one diagnosis and no stated job."""
    text = (SYNTHETIC / "injected_summary.txt").read_text(encoding="utf-8")
    text = text.replace("female warehouse clerk, who", "female, who")
    text = text.replace(
        "lumbar radiculopathy and left \nshoulder impingement", "lumbar radiculopathy"
    )
    start = text.index("IMPORTANT NOTE")
    return text[:start] + text[text.index("Treatment has included") :]


def test_an_undoubted_heuristic_diagnosis_list_is_not_asked(fake: FakeOpenAI) -> None:
    """A list split by the heuristic splitter, with no doubt, costs no tokens."""
    letter = letter_from_text(
        _certain_letter().replace(
            "lumbar radiculopathy", "lumbar radiculopathy and left shoulder impingement"
        ),
        letter_id="undoubted",
    )
    rules = parse_letter(letter).record
    ev = rules.evidence_for("diagnoses")
    assert ev is not None and ev.certainty == "heuristic" and len(rules.diagnoses) == 2
    assert uncertain_fields(rules) == ((), ())
    backend = _backend(fake)
    try:
        record = backend.extract(letter)
    finally:
        backend.close()
    assert fake.completions == []
    assert record.diagnoses == rules.diagnoses and not record.needs_review


def test_a_letter_decided_with_certainty_makes_no_call(fake: FakeOpenAI) -> None:
    letter = letter_from_text(_certain_letter(), letter_id="certain")
    rules = parse_letter(letter).record
    assert uncertain_fields(rules) == ((), ())
    backend = _backend(fake)
    try:
        record = backend.extract(letter)
    finally:
        backend.close()
    assert fake.completions == []
    assert record.provenance is not None
    assert record.provenance.usage.prompt_tokens == record.provenance.usage.completion_tokens == 0
    assert record.provenance.backend == "hybrid" and not record.provenance.fallback
    assert record.model_dump(exclude={"provenance"}) == rules.model_dump(exclude={"provenance"})


def test_a_made_up_llm_value_is_not_kept(fake: FakeOpenAI) -> None:
    text = (SYNTHETIC / "rules_pdf_layout.txt").read_text(encoding="utf-8")
    # A diagnosis list the parser doubts (a narrative in it): the model picks
    # between the parser's readings of it, and never writes the list.
    old = "Diagnoses include lumbar strain and right knee contusion."
    assert old in text
    text = text.replace(
        old, "Diagnoses include lumbar strain, status post being struck by a pallet."
    )
    letter = letter_from_text(text, letter_id="made_up")
    parsed = parse_letter(letter)
    rules = parsed.record
    letter_fields, item_fields = uncertain_fields(rules)
    choices = diagnosis_questions(parsed)
    assert "occupation" in letter_fields and "diagnoses" not in letter_fields
    assert choices and all(c.reading != tuple(rules.diagnoses) for c in choices)
    answer: dict[str, object] = {
        "occupation": "astronaut",  # stated nowhere in the letter
        **{choice_key(n): "B" for n in range(1, len(choices) + 1)},
    }
    for i, names in item_fields:
        answer[f"item_{i + 1}"] = {
            n: ("Unobtainium" if n == "medication_name" else None) for n in names
        }
    fake.push(Reply.json(answer))
    backend = _backend(fake)
    try:
        record = backend.extract(letter)
    finally:
        backend.close()
    (request,) = fake.completions
    # Only the uncertain fields were asked, and the instruction prefix is the prompt's own.
    schema = request.body["response_format"]["schema"]
    assert set(schema["properties"]) == set(letter_fields) | {
        f"item_{i + 1}" for i, _ in item_fields
    } | {choice_key(n) for n in range(1, len(choices) + 1)}
    assert "astronaut" not in json.dumps(record.model_dump(mode="json", exclude={"checks"}))
    assert record.patient.occupation == rules.patient.occupation
    # The model picks another reading: the parser's list stays, flagged on its path.
    assert record.diagnoses == rules.diagnoses
    assert any(
        f.code is ReviewCode.READERS_DISAGREE and f.path == "diagnoses" for f in record.review_flags
    )
    assert all(
        (it.medication.name if it.medication else None) != "Unobtainium" for it in record.items
    )
    dropped = {c.field for c in record.checks if c.kept == "rules"}
    assert {"patient.occupation", "diagnoses"} <= dropped
    assert record.provenance is not None and record.provenance.usage.prompt_tokens > 0


def test_a_fallback_record_is_flagged(fake: FakeOpenAI) -> None:
    fake.default = Reply.error(500)
    backend = _backend(fake)
    try:
        record = backend.extract(load_letter(SYNTHETIC / "rules_pdf_layout.txt"))
    finally:
        backend.close()
    assert record.provenance is not None and record.provenance.fallback
    assert record.needs_review
    assert record.review_reasons and record.review_reasons[0].startswith("LLM unavailable: ")


def test_an_unknown_layout_goes_whole_to_the_llm_and_is_flagged(fake: FakeOpenAI) -> None:
    from llm_extract.layout import Layout

    letter = load_letter(SYNTHETIC / "injected_summary.txt")
    # As if its layout were unknown: Letter.layout is a cached property.
    letter.__dict__["layout"] = Layout("unknown", is_imr=True)
    backend = _backend(fake)
    try:
        record = backend.extract(letter)
    finally:
        backend.close()
    # The whole-letter reader's calls (llm/whole_letter.py): header, summary and item
    # discovery, whose minimal schema answer names no item; nothing from the parser's record.
    assert len(fake.completions) == 3
    assert record.provenance is not None and record.provenance.layout == "unknown"
    assert record.needs_review and "unknown letter layout" in record.review_reasons[0]
    assert all(e.reader == "llm" for e in record.evidence)


def test_a_real_unknown_layout_the_llm_cannot_read_keeps_the_flagged_parser_record(
    fake: FakeOpenAI,
) -> None:
    # A recognisably IMR letter in a layout nobody knows (tests/letters/layouts),
    # the LLM unavailable: the parser's flagged record; the letter is not lost.
    fake.default = Reply.error(500)
    backend = _backend(fake)
    try:
        record = backend.extract(load_letter(SYNTHETIC / "layouts" / "unknown_imr_layout.txt"))
    finally:
        backend.close()
    assert record.provenance is not None
    assert record.provenance.layout == "unknown" and record.provenance.backend == "hybrid"
    assert record.needs_review
    assert record.provenance.fallback
    assert any("the LLM could not read it" in r for r in record.review_reasons)


@pytest.mark.parametrize(("answer", "flagged"), [("spine", False), ("ortho spine surgeon", True)])
def test_a_site_no_reader_settles_stays_flagged(
    fake: FakeOpenAI, answer: str, flagged: bool
) -> None:
    """An anatomical word the site list does not know: a grounded model site settles it."""
    text = (SYNTHETIC / "rules_pdf_layout.txt").read_text(encoding="utf-8")
    line = "Physical therapy for the lumbar spine 2-3 times a week for 6 weeks: Upheld"
    letter = letter_from_text(
        text.replace(line, "TOC to ortho spine surgeon eval and treatment: Upheld"),
        letter_id="site",
    )
    rules = parse_letter(letter).record
    reason = "items[0].body_region: the request has an anatomical word no reader read as a site"
    assert rules.items[0].body_region is None and reason in rules.review_reasons
    letter_fields, item_fields = uncertain_fields(rules)
    assert (0, ("body_region",)) in item_fields
    reply: dict[str, object] = {k: None for k in letter_fields}
    for i, names in item_fields:
        reply[f"item_{i + 1}"] = {n: (answer if i == 0 else None) for n in names}
    fake.push(Reply.json(reply))
    backend = _backend(fake)
    try:
        record = backend.extract(letter)
    finally:
        backend.close()
    assert (reason in record.review_reasons) is flagged
    assert record.items[0].body_region == (None if flagged else "spine")
