"""Layout detection and the older layouts (synthetic letters written from the known facts).

The facts (section headings, decision sentences, run-together words) come from
the public crawler talhaabacus/IMRCrawler's parser and the issue; see
``llm_extract/layout.py``.  Each letter gives a correct record or a
``needs_review`` record that says why; none a silent half-empty one.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from llm_extract import extract
from llm_extract.errors import NotIMRLetterError
from llm_extract.layout import detect_layout
from llm_extract.loading import load_letter
from llm_extract.models import Decision, Record, Sex

LETTERS = Path(__file__).parent / "letters"
LAYOUTS = LETTERS / "layouts"


def _rules(name: str) -> Record:
    return extract(LAYOUTS / name, backend="rules")


@pytest.mark.parametrize(
    ("name", "layout"),
    [
        ("notice_2013.txt", "notice-2013"),
        ("notice_2013_runtogether.txt", "notice-2013"),
        ("maximus_imr_2014.txt", "maximus-imr-2014"),
        ("medical_professional_review.txt", "medical-professional-review"),
        ("medical_professional_review_no_decision.txt", "medical-professional-review"),
        ("unknown_imr_layout.txt", "unknown"),
    ],
)
def test_detect_layout(name: str, layout: str) -> None:
    found = detect_layout((LAYOUTS / name).read_text())
    assert found.name == layout
    assert found.is_imr
    assert found.known == (layout != "unknown")


def test_corpus_layouts(corpus: Path) -> None:
    seeds = sorted((corpus / "seeds").glob("*.txt"))
    pdfs = sorted((corpus / "letters").glob("*.pdf"))[:10]
    assert {load_letter(p).layout.name for p in seeds} == {"seed-text"}
    assert {load_letter(p).layout.name for p in pdfs} == {"maximus-2016"}
    record = extract(pdfs[0], backend="rules")
    assert record.provenance is not None
    assert (record.provenance.layout, record.provenance.text_source) == ("maximus-2016", "pdfium")


def test_not_imr_still_rejected() -> None:
    with pytest.raises(NotIMRLetterError):
        extract(LETTERS / "rules_not_imr.txt", backend="rules")
    with pytest.raises(NotIMRLetterError):
        extract(LETTERS / "rules_ur_denial.txt", backend="rules")


def test_notice_2013() -> None:
    r = _rules("notice_2013.txt")
    assert not r.needs_review, r.review_reasons
    assert r.provenance is not None and r.provenance.layout == "notice-2013"
    assert r.case_number == "CM13-0012345"
    assert r.decision_date == dt.date(2013, 10, 15)
    assert r.application_received == dt.date(2013, 8, 20)
    assert r.date_of_injury == dt.date(2011, 3, 2)
    assert [(i.request, i.decision) for i in r.items] == [
        ("physical therapy 2x6 for the lumbar spine", Decision.UPHELD),
        ("Norco 10/325mg #60", Decision.OVERTURNED),
    ]
    assert r.items[0].quantity == 12 and r.items[1].quantity == 60
    assert r.reviewer.specialties == ["Physical Medicine and Rehabilitation"]
    assert r.reviewer.licensure_states == ["California"]
    assert (r.patient.age, r.patient.sex) == (45, Sex.FEMALE)
    assert r.diagnoses == ["lumbar strain"]
    # The item's span is its decision sentence.
    text = load_letter(LAYOUTS / "notice_2013.txt").text
    span = r.items[0].span
    assert span is not None and text[span.start : span.end].startswith("has determined")


def test_notice_2013_run_together_words_and_missing_header() -> None:
    r = _rules("notice_2013_runtogether.txt")
    assert [(i.request, i.decision) for i in r.items] == [("lumbar MRI", Decision.UPHELD)]
    assert r.reviewer.specialties == ["Orthopedic Surgery"]
    assert (r.patient.age, r.patient.sex) == (52, Sex.MALE)
    # No case number and no decision date in this letter: flagged, never silent.
    assert r.needs_review
    assert "no case number was found in the letter" in r.review_reasons
    assert "no decision date was found in the letter" in r.review_reasons


def test_maximus_imr_2014() -> None:
    r = _rules("maximus_imr_2014.txt")
    assert not r.needs_review, r.review_reasons
    assert r.case_number == "CM14-0023456"
    assert r.decision_date == dt.date(2014, 2, 14)
    assert r.ur_denial_date == dt.date(2013, 12, 20)
    assert r.date_assigned is None  # this layout has no Date Assigned
    assert [(i.request, i.decision) for i in r.items] == [
        ("Right shoulder MRI", Decision.UPHELD),
        ("Naproxen 550mg #60", Decision.OVERTURNED),
    ]
    assert r.reviewer.specialties == ["Orthopedic Surgery"]
    assert r.diagnoses == ["right shoulder impingement syndrome"]


def test_medical_professional_review() -> None:
    r = _rules("medical_professional_review.txt")
    assert not r.needs_review, r.review_reasons
    assert r.case_number == "CM13-0054321"
    assert [(i.request, i.decision) for i in r.items] == [
        ("Acupuncture 2 times a week for 4 weeks for the cervical spine", Decision.UPHELD)
    ]
    item = r.items[0]
    assert (item.quantity, item.frequency_per_week, item.duration_weeks) == (8, 2, 4)
    assert item.maximus_guideline is not None and "Acupuncture" in item.maximus_guideline
    assert r.reviewer.specialties == ["Anesthesiology"]
    assert r.reviewer.subspecialties == ["Pain Medicine"]
    assert (r.patient.age, r.patient.sex) == (38, Sex.MALE)


def test_medical_professional_review_without_a_decision_says_why() -> None:
    r = _rules("medical_professional_review_no_decision.txt")
    assert r.items == []
    assert r.needs_review
    assert any("states no decision" in reason for reason in r.review_reasons)
    assert r.case_number == "CM13-0054399"


def test_unknown_imr_layout_is_flagged_not_lost() -> None:
    r = _rules("unknown_imr_layout.txt")
    assert r.provenance is not None and r.provenance.layout == "unknown"
    assert r.needs_review
    assert any("layout is not one the parser knows" in reason for reason in r.review_reasons)
