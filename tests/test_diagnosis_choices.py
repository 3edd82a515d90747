"""The model's short picks between the parser's readings of a diagnosis list."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import SYNTHETIC
from pydantic import ValidationError

from llm_extract.consistency import truth_violations
from llm_extract.llm.arbitration import Arbitration, LetterContext
from llm_extract.llm.askable import hybrid_answer_for, max_tokens
from llm_extract.llm.doubts import choice_key, choice_lines, settle_choices
from llm_extract.llm.hybrid import diagnosis_questions
from llm_extract.loading import letter_from_text, load_letter
from llm_extract.review_flags import ReviewCode
from llm_extract.rules.backend import parse_letter
from llm_extract.rules.readings import ParsedLetter

SENTENCE = "Diagnoses include lumbar strain and right knee contusion."


def _parsed(sentence: str) -> ParsedLetter:
    letter = load_letter(SYNTHETIC / "rules_pdf_layout.txt")
    assert SENTENCE in letter.text
    return parse_letter(dataclasses.replace(letter, text=letter.text.replace(SENTENCE, sentence)))


def _arbitration(parsed: ParsedLetter) -> Arbitration:
    seg = parsed.segments
    assert seg.summary is not None
    ctx = LetterContext(
        text=parsed.places.loc.text,
        summary=(seg.summary.start, seg.summary.end),
        lines=parsed.places.request_ranges,
        diagnosis_doubts=parsed.doubts,
    )
    return Arbitration(parsed.record, ctx, parsed.places.loc)


def test_a_list_that_reads_one_way_asks_nothing() -> None:
    assert diagnosis_questions(_parsed(SENTENCE)) == ()


def test_the_question_shows_only_where_the_readings_differ() -> None:
    parsed = _parsed("Diagnoses include chronic neck and shoulder pain, depression.")
    (choice,) = diagnosis_questions(parsed)
    assert parsed.record.diagnoses == ["chronic neck", "shoulder pain", "depression"]
    assert choice.reading == ("chronic neck and shoulder pain", "depression")
    assert choice_lines([choice]) == (
        '1. A: "chronic neck"; "shoulder pain" | B: "chronic neck and shoulder pain"'
    )


def test_agreement_makes_both_readers_and_a_pick_of_the_other_reading_flags() -> None:
    parsed = _parsed("Diagnoses include chronic neck and shoulder pain, depression.")
    choices = diagnosis_questions(parsed)
    first = list(parsed.record.diagnoses)

    agreed = _arbitration(_parsed("Diagnoses include chronic neck and shoulder pain, depression."))
    settle_choices(agreed, "diagnoses", choices, ["A"])
    ev = agreed.record.evidence_for("diagnoses")
    assert ev is not None and ev.reader == "both" and ev.alternatives == 1
    assert agreed.record.diagnoses == first
    assert not any(f.code is ReviewCode.READERS_DISAGREE for f in agreed.record.review_flags)

    a = _arbitration(parsed)
    settle_choices(a, "diagnoses", choices, ["B"])
    # The parser's grounded list stays; the field is flagged with both readings.
    assert a.record.diagnoses == first
    (flag,) = [f for f in a.record.review_flags if f.code is ReviewCode.READERS_DISAGREE]
    assert flag.path == "diagnoses"
    assert "shoulder pain" in flag.message and "chronic neck and shoulder pain" in flag.message
    (check,) = [c for c in a.record.checks if c.field == "diagnoses"]
    assert check.kept == "rules" and not check.resolved
    assert check.rules_value == first and check.llm_value == list(choices[0].reading)
    ev = a.record.evidence_for("diagnoses")
    assert ev is not None and ev.reader == "rules"
    # One truth: the value, its evidence and its checks agree, either way.
    text = parsed.places.loc.text
    assert truth_violations(a.record, text, parse_letter(letter_from_text(text)).record) == []
    assert truth_violations(agreed.record, text) == []


def test_a_pick_is_a_short_forced_answer() -> None:
    model = hybrid_answer_for((), (), 2)
    schema = model.model_json_schema()
    assert schema["properties"][choice_key(1)]["enum"] == ["A", "B"]
    assert set(schema["required"]) == {choice_key(1), choice_key(2)}
    answer = model.model_validate({choice_key(1): " b.", choice_key(2): "A"})
    assert getattr(answer, choice_key(1)) == "B"
    with pytest.raises(ValidationError):
        model.model_validate({choice_key(1): "C", choice_key(2): "A"})
    assert max_tokens((), (), 2) > max_tokens((), (), 0)
