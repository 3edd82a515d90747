"""Segmentation of both layouts, partial certifications, next-line decisions, truncation."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SYNTHETIC, seed

from llm_extract.config import load_config
from llm_extract.errors import TruncatedLetterError
from llm_extract.loading import letter_from_text, load_letter
from llm_extract.models import Decision, Sex
from llm_extract.rules import RulesBackend, segment_letter


@pytest.fixture(scope="module")
def backend() -> RulesBackend:
    return RulesBackend(load_config())


def test_pdf_layout_sections_and_items() -> None:
    letter = load_letter(SYNTHETIC / "rules_pdf_layout.txt")
    seg = segment_letter(letter)
    text = letter.text
    assert seg.header is not None and "Case Number" in seg.header.text(text)
    assert seg.credentials is not None and "State(s) of Licensure" in seg.credentials.text(text)
    assert seg.summary is not None and seg.summary.text(text).startswith(
        "The injured worker is a 47"
    )
    assert [it.decision for it in seg.items] == [
        Decision.UPHELD,
        Decision.OVERTURNED,
        Decision.UPHELD,
        Decision.UPHELD,
        Decision.UPHELD,
    ]
    first = seg.items[0]
    assert first.claims_guideline is not None
    assert first.claims_guideline.text(text).startswith("Decision based on MTUS Low Back")
    assert first.maximus_guideline is not None
    assert first.maximus_guideline.text(text).endswith("Physical medicine treatment.")
    assert first.rationale is not None
    assert first.rationale.text(text).endswith("is not medically necessary.")
    # Item blocks tile the items section in order without overlapping.
    for a, b in zip(seg.items, seg.items[1:], strict=False):
        assert a.start < a.end <= b.start


def test_partial_certification_with_decision_on_next_line() -> None:
    letter = load_letter(SYNTHETIC / "rules_pdf_layout.txt")
    item = segment_letter(letter).items[1]
    assert item.request == "Chiropractic spinal manipulation times 6"
    assert item.original_request == "Chiropractic spinal manipulation times 12"
    assert item.decision is Decision.OVERTURNED
    span = item.decision_line.text(letter.text)
    assert span.startswith("Chiropractic spinal manipulation times 12 was the original request")
    assert span.endswith("Overturned")


def test_request_wrapped_over_two_lines() -> None:
    letter = load_letter(SYNTHETIC / "rules_pdf_layout.txt")
    item = segment_letter(letter).items[2]
    assert item.request == (
        "EMG (electromyography)/NCV (nerve conduction velocity) of the bilateral upper extremities"
    )


def test_seed_layout(backend: RulesBackend) -> None:
    letter = load_letter(SYNTHETIC / "rules_seed_layout.txt")
    seg = segment_letter(letter)
    assert seg.header is None
    record = backend.extract(letter)
    assert record.reviewer.specialties == ["Orthopedic Surgery"]
    assert record.reviewer.subspecialties == ["Hand Surgery"]
    assert record.reviewer.licensure_states == ["California"]
    assert record.patient.sex is Sex.MALE  # "Her pain" later does not override
    assert record.patient.occupation == "warehouse worker"
    assert [i.request for i in record.items] == [
        "Occupational therapy x 6 for the right wrist",
        "Ketoprofen 20% cream 120gm #1",
    ]
    assert record.items[1].quantity == 1


def test_letter_cut_off_before_items_raises() -> None:
    letter = load_letter(SYNTHETIC / "rules_cut_before_items.txt")
    with pytest.raises(TruncatedLetterError) as err:
        segment_letter(letter)
    assert err.value.letter == "rules_cut_before_items"
    assert err.value.exit_code == 2


def test_items_heading_without_any_decision_raises() -> None:
    text = (SYNTHETIC / "rules_cut_before_items.txt").read_text()
    text += "\nIMR ISSUES, DECISIONS AND RATIONALES\nThe Final Determination was based on decisions"
    with pytest.raises(TruncatedLetterError):
        segment_letter(letter_from_text(text, "cut"))


# --- the real seeds ------------------------------------------------------------
def test_seed_004_cut_off_mid_word_keeps_its_items(seeds_dir: Path, backend: RulesBackend) -> None:
    letter = load_letter(seed(seeds_dir, "004"))
    record = backend.extract(letter)
    assert [(i.request, i.decision) for i in record.items] == [
        ("Chronic pain psychology evaluation and six sessions of treatment", Decision.UPHELD),
        (
            "Chronic pain physical therapy evaluation and six visits of treatment",
            Decision.OVERTURNED,
        ),
    ]
    assert record.patient.occupation == "detailer"
    assert record.items[0].guideline_sources.claims_administrator == []


def test_seed_002_sex_as_stated_with_the_age(seeds_dir: Path, backend: RulesBackend) -> None:
    record = backend.extract(load_letter(seed(seeds_dir, "002")))
    assert record.patient.age == 52
    assert record.patient.sex is Sex.MALE
    item = record.items[0]
    assert (item.quantity, item.frequency_per_week, item.duration_weeks) == (12, 2, 6)


def test_seed_003_dos_and_cpt(seeds_dir: Path, backend: RulesBackend) -> None:
    record = backend.extract(load_letter(seed(seeds_dir, "003")))
    tpi = record.items[1]
    assert tpi.cpt_codes == ["20553"]
    assert tpi.retrospective is True
    assert str(tpi.date_of_service) == "2015-12-29"
    assert tpi.quantity == 6


def test_real_partial_certifications(letters_dir: Path, backend: RulesBackend) -> None:
    record = backend.extract(load_letter(letters_dir / "CM17-0014320.pdf"))
    assert [(i.request, i.original_request) for i in record.items] == [
        (
            "three physical therapy visits for the right shoulder",
            "Twelve physical therapy visits for the right shoulder",
        ),
        ("Twelve physical therapy visits for the Cervical Spine", None),
    ]
    assert record.items[0].quantity == 3


def test_real_decisions_on_the_next_line(letters_dir: Path, backend: RulesBackend) -> None:
    record = backend.extract(load_letter(letters_dir / "CM16-0230651.pdf"))
    partial = [i for i in record.items if i.original_request]
    assert [(i.request, i.original_request, i.decision) for i in partial] == [
        (
            "Physical therapy to the low back two sessions",
            "Physical therapy to the low back eight sessions",
            Decision.UPHELD,
        )
    ]
    assert partial[0].quantity == 2
    record = backend.extract(load_letter(letters_dir / "CM16-0237844.pdf"))
    first = record.items[0]
    assert first.request == (
        "Additional physical therapy two times four visits (8) for the lumbar and bilateral knees"
    )
    assert (first.quantity, first.decision) == (8, Decision.UPHELD)


def test_real_whole_original_request_left_eligible(
    letters_dir: Path, backend: RulesBackend
) -> None:
    # "… leaving the original request IMR eligible. The original request, X is: Overturned"
    item = backend.extract(load_letter(letters_dir / "CM16-0229336.pdf")).items[0]
    assert item.request.startswith("Acute inpatient rehabilitation physical therapy")
    assert item.original_request == item.request
    assert item.decision is Decision.OVERTURNED


def test_colon_inside_request_and_decision_with_period() -> None:
    text = (SYNTHETIC / "rules_cut_before_items.txt").read_text().rsplit("The current", 1)[0]
    text += (
        "\nIMR ISSUES, DECISIONS AND RATIONALES\n"
        "The Final Determination was based on decisions for the disputed items/services set forth below:\n"
        "Labs to include: EKG:\nOverturned.\n"
        "Claims Administrator guideline: Decision based on MTUS Chronic Pain Medical Treatment 2016.\n"
        "MAXIMUS guideline: Decision based on MTUS Chronic Pain Medical Treatment 2016.\n"
        "Decision rationale: An EKG is indicated before surgery. The request is medically necessary.\n"
    )
    (item,) = segment_letter(letter_from_text(text, "colon")).items
    assert item.request == "Labs to include: EKG"
    assert item.decision is Decision.OVERTURNED
