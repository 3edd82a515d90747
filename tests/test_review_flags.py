"""Review flags as data: a code and a field path beside each sentence, on real letters."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import SYNTHETIC

from llm_extract.field_paths import get_path, parse_path
from llm_extract.fields import item_fields, letter_fields
from llm_extract.loading import load_letter
from llm_extract.models import Record
from llm_extract.review_flags import ReviewCode, ReviewFlag
from llm_extract.rules.backend import parse_letter


def test_codes_are_stable_snake_case_identifiers() -> None:
    for code in ReviewCode:
        assert re.fullmatch(r"[a-z]+(?:_[a-z]+)*", code.value), code
        assert code.value == code.name.lower()


def test_flags_drive_reasons_and_needs_review() -> None:
    record = Record(letter_id="L")
    record.flag(ReviewCode.READERS_DISAGREE, "items[0].quantity: 8 or 12", "items[0].quantity")
    record.flag(ReviewCode.READERS_DISAGREE, "items[1].quantity: 1 or 2", "items[1].quantity")
    record.flag(ReviewCode.READERS_DISAGREE, "items[0].quantity: 8 or 12", "items[0].quantity")
    record.flag(ReviewCode.OCR_LOW_CONFIDENCE, "OCR read page 2 with confidence 0.41")
    assert record.needs_review
    assert record.review_reasons == [
        "items[0].quantity: 8 or 12",
        "items[1].quantity: 1 or 2",
        "OCR read page 2 with confidence 0.41",
    ]
    assert record.flagged_paths() == ["items[0].quantity", "items[1].quantity"]
    # Withdrawn by code and path: the sentence plays no part.
    record.unflag(ReviewCode.READERS_DISAGREE, "items[0].quantity")
    record.unflag(ReviewCode.UNSETTLED_SITE, "items[1].quantity")  # another code: stays
    assert record.flagged_paths() == ["items[1].quantity"]
    record.unflag(ReviewCode.READERS_DISAGREE, "items[1].quantity")
    record.unflag(ReviewCode.OCR_LOW_CONFIDENCE)
    assert not record.needs_review and record.review_reasons == [] and not record.review_flags
    # The flags travel in the JSON, and come back as they were.
    record.flag(ReviewCode.DIAGNOSIS_DOUBT, "diagnoses: 'knee' is a body part alone", "diagnoses")
    again = Record.model_validate_json(record.to_json())
    assert again == record and again.review_flags[0].code is ReviewCode.DIAGNOSIS_DOUBT


def test_json_with_reasons_but_no_flags_keeps_its_reasons() -> None:
    record = Record.model_validate(
        {"letter_id": "L", "needs_review": True, "review_reasons": ["a person should look"]}
    )
    assert record.review_flags == [
        ReviewFlag(code=ReviewCode.UNSPECIFIED, message="a person should look")
    ]
    assert record.flagged_paths() == []


def _names_a_field(record: Record, path: str) -> bool:
    """Does ``path`` name a field (or an item, or a list element) of ``record``?"""
    parts = parse_path(path)
    if parts[0] == "items":
        if not (len(parts) > 1 and isinstance(parts[1], int) and parts[1] < len(record.items)):
            return False
        rest = [p for p in parts[2:] if isinstance(p, str)]
        return not rest or ".".join(rest) in item_fields()
    names = ".".join(p for p in parts if isinstance(p, str))
    return names in letter_fields()


def _check(record: Record) -> int:
    assert record.review_reasons == [f.message for f in record.review_flags]
    assert record.needs_review == bool(record.review_flags)
    for f in record.review_flags:
        assert f.code is not ReviewCode.UNSPECIFIED, f
        if f.path is not None:
            assert _names_a_field(record, f.path), f
            get_path(record, f.path)  # parses and reads
    return len(record.review_flags)


def test_every_reason_of_a_real_letter_is_a_flag(
    seed_paths: list[Path], letter_paths: list[Path]
) -> None:
    flags = 0
    with_path = 0
    for path in [*seed_paths, *letter_paths, *sorted((SYNTHETIC / "layouts").glob("*.txt"))]:
        letter = load_letter(path)
        if not letter.layout.is_imr:
            continue
        record = parse_letter(letter).record
        flags += _check(record)
        with_path += sum(f.path is not None for f in record.review_flags)
    assert flags > 0 and with_path > 0
