"""Letters in a layout the parser does not know (issue 11, "What to build" 3).

Such a letter is split at its own headings (``document/headings.py``) and read
whole by the LLM (``llm/whole_letter.py``): against the scripted fake endpoint
(real HTTP on 127.0.0.1) it yields items with decisions, always flagged, and an
invented request or value is never kept silently.  The letters in
``tests/letters/layouts/unknown_*.txt`` are made up, in layouts no known
letter has; the corpus letters check that the splitter agrees with the parser
on the known layout.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SYNTHETIC
from fake_support import fake_config

from llm_extract.config import Config
from llm_extract.consistency import truth_violations
from llm_extract.devtools.fake_openai import FakeOpenAI, Reply
from llm_extract.document.headings import classify, split_at_headings
from llm_extract.document.segment import segment_letter
from llm_extract.errors import NotIMRLetterError
from llm_extract.llm.backend import LLMBackend
from llm_extract.llm.client import LazyClient
from llm_extract.llm.hybrid import HybridBackend
from llm_extract.llm.whole_letter import WholeLetterReader
from llm_extract.loading import letter_from_text, load_letter
from llm_extract.models import Category, Decision, Record

LAYOUTS = SYNTHETIC / "layouts"
APPEAL = LAYOUTS / "unknown_ur_appeal.txt"
OCR_REPORT = LAYOUTS / "unknown_ocr_report.txt"
UNKNOWN_REASON = "unknown letter layout (unknown): every value is the LLM's reading"


def _roles(path: Path) -> list[tuple[str, str | None]]:
    parts = split_at_headings(load_letter(path).text)
    return [(s.role, s.heading) for s in parts.sections]


# -- headings.py ---------------------------------------------------------------
def test_an_appeal_style_letter_splits_at_its_labels() -> None:
    assert _roles(APPEAL) == [
        ("header", None),
        ("summary", "Patient Background"),
        ("decision", "Requested Services"),
        ("rationale", "Findings"),
        ("decision", "Determination"),
        ("guideline", "Guidelines Applied"),
        ("reviewer", "Reviewer Credentials"),
    ]
    letter = load_letter(APPEAL)
    parts = split_at_headings(letter.text)
    # The two title lines are the header's, and so are the labelled fields.
    header = parts.clean_body(parts.sections[0])
    assert header.startswith("INDEPENDENT MEDICAL REVIEW UTILIZATION REVIEW APPEAL DETERMINATION")
    assert "IMR Case No.: CM15-0101234" in header
    # A body starts after its heading.
    (determination,) = [s for s in parts.sections if s.heading == "Determination"]
    assert determination.body(letter.text).lstrip().startswith("The request for Lumbar")


def test_an_ocr_style_letter_drops_page_furniture_and_reads_misread_headings() -> None:
    letter = load_letter(OCR_REPORT)
    parts = split_at_headings(letter.text)
    assert [(s.role, s.heading) for s in parts.sections] == [
        ("header", None),
        ("summary", "CLINICAL HlSTORY"),  # OCR: l for I
        ("decision", "ITEMS IN DISPUTE AND DECISI0NS"),  # OCR: 0 for O
        ("reviewer", "REVIEWER"),
    ]
    furniture = [letter.text[s:e] for s, e in parts.furniture]
    assert furniture == [
        "MAXIMUS Federal Services   IMR Report   Page 1 of 2",
        "Case CM16-0207788",
        "MAXIMUS Federal Services   IMR Report   Page 2 of 2",
        "Case CM16-0207788",
    ]
    summary = parts.clean_body(parts.sections[1])
    # The footer between the pages is gone; a word broken at a line end is joined.
    assert "Page 1" not in summary and "temporary relief" in summary
    assert "relief only. He continues" in summary
    assert "Page 2" not in parts.clean_body(parts.sections[3])


def test_a_table_letter_and_wrapped_headings() -> None:
    assert _roles(LAYOUTS / "unknown_imr_layout.txt") == [
        ("header", None),
        ("decision", "Service Outcome"),
    ]
    # A heading in capitals wrapped over two lines is one heading.
    roles = _roles(LAYOUTS / "medical_professional_review.txt")
    assert (
        "guideline",
        "MEDICAL TREATMENT GUIDELINE(S) RELIED UPON BY PROFESSIONAL REVIEWER AND WHY",
    ) in roles
    assert [r for r, _ in roles] == [
        "header",
        "decision",
        "summary",
        "documents",
        "guideline",
        "rationale",
        "reviewer",
    ]


@pytest.mark.parametrize(
    ("heading", "role"),
    [
        ("CLINICAL CASE SUMMARY", "summary"),
        ("History of Present Illness", "summary"),
        ("Case Summary", "summary"),
        ("IMR ISSUES, DECISIONS AND RATIONALES", "decision"),
        ("ISSUE AT DISPUTE", "decision"),
        ("Final Determination", "decision"),
        ("SUMMARY OF OUTCOME", "decision"),
        ("Requested Treatment", "decision"),
        ("Basis for the Decision", "decision"),
        (
            "RATIONALE FOR WHY THE REQUESTED TREATMENT/SERVICE IS/WAS NOT MEDICALLY NECESSARY",
            "rationale",
        ),
        ("Findings", "rationale"),
        (
            "MEDICAL TREATMENT GUIDELINE(S) RELIED UPON BY PROFESSIONAL REVIEWER AND WHY",
            "guideline",
        ),
        ("Criteria Used", "guideline"),
        ("Medical Qualifications of the Expert Reviewer", "reviewer"),
        ("HOW THE IMR FINAL DETERMINATION WAS MADE", "reviewer"),
        ("REVIEWER QUAL1FICATIONS", "reviewer"),
        ("DOCUMENTS REVIEWED FOR DETERMINATION", "documents"),
        ("Records Reviewed", "documents"),
        ("APPEAL RIGHTS", "other"),
    ],
)
def test_classify(heading: str, role: str) -> None:
    assert classify(heading) == role


def test_item_lines_and_header_fields_are_not_headings() -> None:
    text = (
        "MAXIMUS Federal Services\nIndependent Medical Review\n\n"
        "Case Number: CM99-0000001\nDate of Injury: 01/02/2015\n\n"
        "Case Summary:\nThe patient is a 40 year old man.\n\n"
        "Decisions:\nLUMBAR MRI: UPHELD\nNORCO 10/325MG #60\n"
        "Physical Therapy\nfor the knee is not medically necessary.\n"
    )
    parts = split_at_headings(text)
    assert [(s.role, s.heading) for s in parts.sections] == [
        ("header", None),
        ("summary", "Case Summary"),
        ("decision", "Decisions"),
    ]


def test_corpus_letters_split_as_the_parser_segments_them(letter_paths: list[Path]) -> None:
    """On the known layout the splitter finds exactly the parser's sections, and
    every item decision line lies in its decision section (the parser's own
    segmentation is not changed by any of this)."""
    for path in letter_paths:
        letter = load_letter(path)
        assert letter.layout.known
        parts = split_at_headings(letter.text)
        assert [s.role for s in parts.sections] == ["header", "reviewer", "summary", "decision"], (
            path.name
        )
        seg = segment_letter(letter)
        (decision,) = parts.of_role("decision")
        assert seg.summary is not None and parts.of_role("summary")[0].end <= seg.items[0].start
        for item in seg.items:
            assert decision.body_start <= item.decision_line.start < decision.end


def test_corpus_requests_are_located_and_their_outcome_words_read(
    letter_paths: list[Path], seed_paths: list[Path]
) -> None:
    """Given the parser's requests, the whole-letter reader finds each one where
    decisions are written, and its statement's outcome words give the parser's
    decision: the rule that overrides a model's inverted decision."""
    from llm_extract.evidence import Locator
    from llm_extract.llm import whole_letter_items as whole_letter
    from llm_extract.llm.grounding import Reading
    from llm_extract.rules.backend import parse_letter

    reader = WholeLetterReader.__new__(WholeLetterReader)  # no LLM: only its locating
    count = 0
    for path in [*letter_paths, *seed_paths]:
        letter = load_letter(path)
        reading = Reading(
            letter=letter, parts=split_at_headings(letter.text), loc=Locator(letter.text)
        )
        ranges = reading.ranges("decision", "rationale")
        for i, item in enumerate(parse_letter(letter).record.items):
            found = reader._locate_request(reading, item.request, None, ranges)
            assert found is not None, (path.name, item.request)
            assert whole_letter._decided(letter.text, found, ranges)
            assert reader._decision(reading, i, found, None) is item.decision, (path.name, i)
            count += 1
    assert count > 250


@pytest.mark.parametrize("route", ["pdftotext", "pdftotext-layout"])
def test_corpus_letters_split_the_same_from_pdftotext(letter_paths: list[Path], route: str) -> None:
    from llm_extract.textroutes import route_available

    missing = route_available(route)
    if missing:
        pytest.skip(f"text route {route} skipped: {missing}")
    for path in letter_paths[:10]:
        parts = split_at_headings(load_letter(path, text_from=route).text)
        assert [s.role for s in parts.sections] == ["header", "reviewer", "summary", "decision"]


# -- the whole-letter reader against the fake endpoint ---------------------------
@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _config(fake: FakeOpenAI) -> Config:
    return fake_config(fake)


HEADER_KEYS = (
    "case_number",
    "date_assigned",
    "date_of_injury",
    "decision_date",
    "ur_denial_date",
    "application_received",
    "priority",
)


def _item_facts(**values: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "request": "x",
        "original_request": None,
        "decision": "upheld",
        "category": None,
        "quantity": None,
        "frequency_per_week": None,
        "duration_weeks": None,
        "body_region": None,
        "retrospective": False,
        "date_of_service": None,
        "cpt_codes": [],
        "medication_name": None,
        "medication_strength": None,
        "days_supply": None,
        "claims_administrator_sources": [],
        "maximus_sources": [],
        "maximus_guideline": None,
    }
    facts.update(values)
    return facts


def _appeal_script() -> list[Reply]:
    return [
        Reply.json(
            {
                "case_number": "CM15-0101234",
                "date_assigned": None,
                "date_of_injury": "04/02/2012",
                "decision_date": "07/14/2015",
                "ur_denial_date": "05/28/2015",
                "application_received": None,
                "priority": "standard",
                "specialties": ["Physical Medicine and Rehabilitation", "Neurosurgery"],
                "subspecialties": [],
                "licensure_states": ["California"],
            }
        ),
        Reply.json(
            {
                "age": 52,
                "sex": "female",
                "occupation": "cook",
                "date_of_injury": "04/02/2012",
                "diagnoses": ["lumbar disc herniation at L4-5"],
            }
        ),
        Reply.json(
            {
                "items": [
                    {
                        "request": "Lumbar epidural steroid injection at L4-5",
                        "decision": "overturned",
                    },
                    # Invented: stated nowhere in the letter.
                    {"request": "Hyperbaric oxygen therapy x10", "decision": "overturned"},
                    {"request": "Tramadol ER 100mg #30", "decision": "upheld"},
                ]
            }
        ),
        Reply.json(
            _item_facts(
                decision="overturned", category="injection", body_region="L4-5", quantity=None
            )
        ),
        Reply.json(
            _item_facts(
                decision="upheld",
                category="medication",
                quantity=30,
                medication_name="Tramadol ER",
                medication_strength="100mg",
                body_region="left knee",  # invented
                maximus_sources=["mtus"],
                maximus_guideline="ODG Pain Chapter, Opioids",  # invented
            )
        ),
    ]


def _extract(backend: HybridBackend | LLMBackend, path: Path) -> Record:
    letter = load_letter(path)
    try:
        record = backend.extract(letter)
    finally:
        backend.close()
    # Whatever the model answered, the record's values, evidence and checks agree.
    assert truth_violations(record, letter.text) == []
    return record


def test_an_unknown_layout_letter_yields_items_with_decisions_flagged(fake: FakeOpenAI) -> None:
    fake.push(*_appeal_script())
    record = _extract(HybridBackend(_config(fake)), APPEAL)
    assert len(fake.completions) == 5  # header, summary, discovery, one per item
    assert [(i.request, i.decision) for i in record.items] == [
        ("Lumbar epidural steroid injection at L4-5", Decision.OVERTURNED),
        ("Tramadol ER 100mg #30", Decision.UPHELD),
    ]
    inj, tramadol = record.items
    assert (inj.category, inj.body_region) == (Category.INJECTION, "L4-5")
    assert tramadol.quantity == 30 and tramadol.medication is not None
    assert (tramadol.medication.name, tramadol.medication.strength) == ("Tramadol ER", "100mg")
    assert [s.value for s in tramadol.guideline_sources.maximus] == ["mtus"]
    # Header and summary values, each found in the letter.
    assert record.case_number == "CM15-0101234"
    assert record.decision_date is not None and record.decision_date.isoformat() == "2015-07-14"
    assert (record.patient.age, record.patient.occupation) == (52, "cook")
    assert record.reviewer.licensure_states == ["California"]
    # Always flagged, first with why.
    assert record.needs_review and record.review_reasons[0] == UNKNOWN_REASON
    assert record.provenance is not None
    assert record.provenance.layout == "unknown" and record.provenance.backend == "hybrid"
    assert not record.provenance.fallback and record.provenance.usage.attempts >= 5
    # Every value is the model's; a decision the statement's outcome words also state
    # is both readers'.
    readers = {e.field: e.reader for e in record.evidence}
    assert readers.pop("items[0].decision") == readers.pop("items[1].decision") == "both"
    assert set(readers.values()) == {"llm"}
    # Each item's span is its decision statement, in the letter text.
    text = load_letter(APPEAL).text
    assert inj.span is not None
    statement = text[inj.span.start : inj.span.end]
    assert (
        "Lumbar epidural steroid injection at L4-5" in statement
        and "medically necessary" in statement
    )
    ev = record.evidence_for("items[1].decision")
    assert ev is not None and ev.grounded
    assert "not medically necessary" in text[ev.spans[0].start : ev.spans[0].end]


def test_invented_requests_and_values_are_not_kept_silently(fake: FakeOpenAI) -> None:
    fake.push(*_appeal_script())
    record = _extract(HybridBackend(_config(fake)), APPEAL)
    dumped = json.dumps(
        record.model_dump(mode="json", exclude={"checks", "review_reasons", "review_flags"})
    )
    for invented in ("Hyperbaric", "left knee", "ODG Pain Chapter", "Neurosurgery"):
        assert invented not in dumped
    # The invented request is dropped and the record says so; dropped values are in checks.
    assert any("Hyperbaric oxygen therapy x10" in r for r in record.review_reasons)
    dropped = {c.field: c.llm_value for c in record.checks if c.kept == "rules"}
    assert dropped["items[1].body_region"] == "left knee"
    assert dropped["items[1].maximus_guideline"] == "ODG Pain Chapter, Opioids"
    assert dropped["reviewer.specialties"] == ["Neurosurgery"]
    assert any(c.llm_value == "Hyperbaric oxygen therapy x10" for c in record.checks)
    # No ungrounded LLM value is in the record unflagged.
    for ev in record.evidence:
        if ev.certainty != "undecided" and not ev.grounded:
            assert any(ev.field in r for r in record.review_reasons), ev.field


def test_a_null_stated_by_every_layout_is_flagged_and_calls_are_budgeted(
    fake: FakeOpenAI,
) -> None:
    # The header call finds nothing; a budget of 4 calls leaves the second item
    # with its request and decision only (its decision from its outcome words).
    fake.push(
        Reply.json(
            {
                "case_number": None,
                "date_assigned": None,
                "date_of_injury": None,
                "decision_date": None,
                "ur_denial_date": None,
                "application_received": None,
                "priority": None,
                "specialties": [],
                "subspecialties": [],
                "licensure_states": [],
            }
        ),
        Reply.json(
            {"age": 61, "sex": "male", "occupation": None, "date_of_injury": None, "diagnoses": []}
        ),
        Reply.json(
            {
                "items": [
                    {
                        "request": "Right shoulder arthroscopic rotator cuff repair",
                        "decision": None,
                    },
                    {"request": "Post-operative cold therapy unit purchase", "decision": "upheld"},
                    {"request": "night pain", "decision": None},
                ]
            }
        ),
        Reply.json(
            _item_facts(decision="overturned", category="surgery", body_region="Right shoulder")
        ),
    )
    config = _config(fake)
    llm = LazyClient(config)
    try:
        record, usage = WholeLetterReader(llm, max_calls=4).read(load_letter(OCR_REPORT))
    finally:
        llm.close()
    assert len(fake.completions) == 4 and usage.attempts == 4
    assert [(i.request, i.decision) for i in record.items] == [
        ("Right shoulder arthroscopic rotator cuff repair", Decision.OVERTURNED),
        ("Post-operative cold therapy unit purchase", Decision.UPHELD),
    ]
    assert record.items[0].body_region == "Right shoulder"
    assert record.items[1].category is None
    reasons = record.review_reasons
    assert reasons[0] == UNKNOWN_REASON
    assert "no case number was found in the letter" in reasons
    assert "no decision date was found in the letter" in reasons
    assert any(r.startswith("items[1]: only its request and decision were read") for r in reasons)
    # "night pain" stands in the history, which decides nothing: not an item.
    assert any("does not decide ('night pain')" in r for r in reasons)
    # Furniture never reaches a prompt.
    prompts = " ".join(json.dumps(c.messages) for c in fake.completions)
    assert "Page 1 of 2" not in prompts


def test_llm_unavailable_keeps_the_flagged_parser_record(fake: FakeOpenAI) -> None:
    fake.push(Reply.json({"case_number": "CM15-0101234"}))  # invalid: fields missing
    fake.default = Reply.error(500)
    record = _extract(HybridBackend(_config(fake)), APPEAL)
    assert record.provenance is not None and record.provenance.fallback
    assert record.provenance.backend == "hybrid" and record.provenance.layout == "unknown"
    assert record.items == [] and record.needs_review
    assert any(r.startswith("LLM unavailable: ") for r in record.review_reasons)
    assert any("the LLM could not read it" in r for r in record.review_reasons)


def test_a_letter_that_is_no_determination_is_still_rejected(fake: FakeOpenAI) -> None:
    # A UR denial letter names MAXIMUS and IMR (how to apply for one) but states
    # no outcome: not read whole, rejected as before, without a call.
    for backend in (HybridBackend(_config(fake)), LLMBackend(_config(fake))):
        with pytest.raises(NotIMRLetterError):
            _extract(backend, SYNTHETIC / "rules_ur_denial.txt")
    assert fake.completions == []


def test_the_statement_s_outcome_words_decide_over_the_model(fake: FakeOpenAI) -> None:
    # The embedded model once read "is medically necessary" as "upheld": where the
    # request's statement states one outcome, its words decide, the model's
    # reading is a resolved check.
    script = _appeal_script()
    script[2] = Reply.json(
        {
            "items": [
                {"request": "Lumbar epidural steroid injection at L4-5", "decision": "upheld"},
                # Worded a little differently: kept as the letter writes it.
                {"request": "Tramadol ER 100 mg #30", "decision": "overturned"},
                {"request": "home exercise", "decision": "upheld"},
            ]
        }
    )
    fake.push(*script[:4], Reply.json(_item_facts(decision="overturned")))
    record = _extract(HybridBackend(_config(fake)), APPEAL)
    assert [(i.request, i.decision) for i in record.items] == [
        ("Lumbar epidural steroid injection at L4-5", Decision.OVERTURNED),
        ("Tramadol ER 100mg #30", Decision.UPHELD),
    ]
    fixed = [c for c in record.checks if c.field.endswith(".decision")]
    assert [(c.field, c.llm_value, c.kept) for c in fixed] == [
        ("items[0].decision", "upheld", "rules"),
        ("items[1].decision", "overturned", "rules"),
    ]
    ev = record.evidence_for("items[0].decision")
    assert ev is not None and (ev.reader, ev.certainty, ev.grounded) == ("rules", "exact", True)
    # "home exercise" is in the case history, which decides nothing: not an item.
    assert (
        "the model named a request that the letter does not decide ('home exercise'); "
        "it was dropped" in record.review_reasons
    )


def test_a_decision_without_outcome_words_is_the_model_s_flagged(fake: FakeOpenAI) -> None:
    text = (
        "INDEPENDENT MEDICAL REVIEW\nFinal Determination\n\n"
        "Case Number: CM99-0000002\nDecision Date: 01/05/2017\n\n"
        "Determination:\nThe request for Ibuprofen 800mg #90 is certified. Physical therapy "
        "for the wrist was also reviewed.\n\n"
        "Reviewer:\nThe expert reviewer for MAXIMUS Federal Services is board certified "
        "in Family Medicine.\n"
    )
    letter = letter_from_text(text, letter_id="no-outcome-words")
    assert not letter.layout.known and letter.layout.is_imr
    fake.push(
        Reply.json(
            {
                **dict.fromkeys(HEADER_KEYS),
                **{key: [] for key in ("specialties", "subspecialties", "licensure_states")},
                "case_number": "CM99-0000002",
                "decision_date": "01/05/2017",
            }
        ),
        Reply.json(
            {
                "items": [
                    {"request": "Ibuprofen 800mg #90", "decision": "overturned"},
                    {"request": "Physical therapy for the wrist", "decision": None},
                ]
            }
        ),
    )
    llm = LazyClient(_config(fake))
    try:
        # Two calls: the header and the discovery (no summary section, no age).
        record, _ = WholeLetterReader(llm, max_calls=2).read(letter)
    finally:
        llm.close()
    assert len(fake.completions) == 2
    assert [(i.request, i.decision) for i in record.items] == [
        ("Ibuprofen 800mg #90", Decision.OVERTURNED)
    ]
    reasons = record.review_reasons
    assert (
        "items[0].decision is the model's reading only (no outcome words near the request)"
        in reasons
    )
    ev = record.evidence_for("items[0].decision")
    assert ev is not None and not ev.grounded and ev.reader == "llm"
    # A request with no decision read at all is not kept, and the record says so.
    assert (
        "no decision was read for the request 'Physical therapy for the wrist'; it was not kept"
        in reasons
    )


def test_the_llm_backend_reads_an_unknown_layout_whole(fake: FakeOpenAI) -> None:
    fake.push(*_appeal_script())
    record = _extract(LLMBackend(_config(fake)), APPEAL)
    assert len(fake.completions) == 5
    assert record.provenance is not None and record.provenance.backend == "llm"
    assert [i.decision for i in record.items] == [Decision.OVERTURNED, Decision.UPHELD]
    assert record.review_reasons[0] == UNKNOWN_REASON
