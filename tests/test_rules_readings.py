"""The parser's readings: one per record field, each with its rule, its certainty
and spans that point at its value in the letter; the evidence is built from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import SYNTHETIC

from llm_extract.evidence import Locator, locate
from llm_extract.field_paths import get_path as field_value
from llm_extract.loading import letter_from_text, load_letter
from llm_extract.rules.backend import parse_letter
from llm_extract.rules.readings import ITEM_FIELDS, LETTER_FIELDS, ParsedLetter, Places, Reading
from llm_extract.rules.summary import parse_summary

# Fields whose span is a whole section or the request (the value is derived
# from it, not written in it), or a word that makes the value true.
_SECTION_SPANS = {
    "category",
    "retrospective",
    "guideline_sources.claims_administrator",
    "guideline_sources.maximus",
    "maximus_guideline",
}


def _parts(path: str, value: Any) -> list[Any]:
    if path.endswith("medication.strength") and isinstance(value, str):
        return value.split(", ")
    return value if isinstance(value, list) else [value]


def _points_at_value(loc: Locator, r: Reading) -> bool:
    """Every part of the value is found again inside the reading's own spans."""
    lo = min(s for s, _ in r.spans)
    hi = max(e for _, e in r.spans)
    for part in _parts(r.field, r.value):
        if locate(loc, part, [(lo, hi)]) is not None:
            continue
        # joined groups ("left wrist, lumbar spine"): each group on its own
        if not (
            isinstance(part, str) and all(locate(loc, p, [(lo, hi)]) for p in part.split(", "))
        ):
            return False
    return True


def _check(parsed: ParsedLetter, text: str) -> None:
    record = parsed.record
    paths = [*LETTER_FIELDS] + [
        f"items[{i}].{f}" for i in range(len(record.items)) for f in ITEM_FIELDS
    ]
    assert [r.field for r in parsed.readings] == paths
    # The record's evidence is its readings.
    assert [
        (e.field, e.rule, e.certainty, [(s.start, s.end) for s in e.spans], e.grounded)
        for e in record.evidence
    ] == [(r.field, r.rule, r.certainty, list(r.spans), r.grounded) for r in parsed.readings]
    loc = Locator(text)
    for r in parsed.readings:
        assert r.rule, r.field
        assert r.certainty in ("exact", "heuristic", "undecided"), r.field
        value = field_value(record, r.field)
        assert r.value == value, r.field  # the reading is the record's value
        if r.value in (None, [], False):
            assert not r.spans and not r.grounded, r.field
            continue
        assert all(0 <= s < e <= len(text) for s, e in r.spans), r.field
        short = r.field.split(".", 1)[1] if r.field.startswith("items[") else r.field
        if r.grounded and short not in _SECTION_SPANS:
            assert _points_at_value(loc, r), (r.field, r.value, r.spans)


def test_readings_of_every_corpus_letter(seed_paths: list[Path], letter_paths: list[Path]) -> None:
    paths = seed_paths + letter_paths
    assert len(paths) > 100
    grounded = 0
    for path in paths:
        letter = load_letter(path)
        parsed = parse_letter(letter)
        _check(parsed, letter.text)
        grounded += sum(r.grounded for r in parsed.readings)
    assert grounded > 20 * len(paths)  # most values are found where they were read


def test_readings_of_a_synthetic_letter() -> None:
    letter = load_letter(SYNTHETIC / "rules_pdf_layout.txt")
    parsed = parse_letter(letter)
    _check(parsed, letter.text)
    quantity = parsed.reading("items[3].quantity")
    assert quantity is not None
    assert (quantity.value, quantity.certainty, quantity.rule) == (60, "exact", "counts: #N")
    (span,) = quantity.spans
    assert letter.text[slice(*span)] == "60"


def test_parse_letter_hands_over_segments_and_doubts() -> None:
    text = (SYNTHETIC / "rules_pdf_layout.txt").read_text()
    old = "Diagnoses include lumbar strain and right knee contusion."
    assert old in text
    letter = letter_from_text(
        text.replace(old, "Diagnoses include lumbar strain, status post being struck by a pallet."),
        letter_id="made_up",
    )
    parsed = parse_letter(letter)
    assert parsed.segments.summary is not None
    summary = parse_summary(parsed.segments.summary.text(letter.text))
    assert parsed.doubts == summary.doubts and parsed.doubts
    assert all(d.reason in parsed.record.review_reasons for d in parsed.doubts)
    # Where the hybrid looks for each item's values: the request in its decision line.
    assert parsed.places.request_ranges == [
        Places.of(letter.text, parsed.segments).items[i]["line"][0]
        for i in range(len(parsed.segments.items))
    ]
    for (lo, hi), item in zip(parsed.places.request_ranges, parsed.record.items, strict=True):
        assert item.request.split()[0] in letter.text[lo:hi]


@pytest.mark.parametrize(
    ("summary", "path", "certainty"),
    [
        ("She is a 47 year old female cashier who fell.", "patient.age", "exact"),
        ("She is a female who fell.", "patient.sex", "heuristic"),
        ("The patient reports pain.", "patient.age", "exact"),
        ("A 300 year old male.", "patient.age", "undecided"),  # no age is 300
    ],
)
def test_summary_readings_at_read_time(summary: str, path: str, certainty: str) -> None:
    read = {r.field: r for r in parse_summary(summary).readings}
    assert read[path].certainty == certainty
