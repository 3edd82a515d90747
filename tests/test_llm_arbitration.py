"""Evidence (locator), parser certainty and the hybrid's arbitration, without a model."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from conftest import SYNTHETIC

from llm_extract.document.segment import segment_letter
from llm_extract.evidence import FUZZY_MIN_RATIO, Locator
from llm_extract.field_paths import get_path as field_value
from llm_extract.field_paths import split_item_path
from llm_extract.llm.askable import row, row_for_path
from llm_extract.llm.crosscheck import LetterContext, arbitrate
from llm_extract.llm.doubts import diagnosis_choices
from llm_extract.llm.hybrid import uncertain_fields
from llm_extract.loading import load_letter
from llm_extract.models import Category, Record, Sex
from llm_extract.review_flags import ReviewCode
from llm_extract.rules.backend import parse_letter
from llm_extract.rules.body_region import body_region_verdict
from llm_extract.rules.categories import category_verdict
from llm_extract.rules.counts import quantity_verdict
from llm_extract.rules.summary import parse_summary


# -- the locator -----------------------------------------------------------------
def test_locator_levels_exact_normalised_loose_fuzzy() -> None:
    text = "The injured worker has lumbar radicul-\nopathy and Right-Sided  carpal tunnel, L4-5."
    loc = Locator(text)
    found = loc.find_text("lumbar")
    assert found and found.level == "exact" and text[slice(*found.spans[0])] == "lumbar"
    found = loc.find_text("lumbar radiculopathy")  # line-break hyphen undone
    assert found and found.level == "normalised"
    found = loc.find_text("right-sided carpal tunnel")  # case and spacing
    assert found and found.level == "normalised"
    assert text[slice(*found.spans[0])] == "Right-Sided  carpal tunnel"
    found = loc.find_text("L4 5")
    assert found and found.level == "loose"
    found = loc.find_text("right sided carpel tunnel")  # one letter off: within the bound
    assert found and found.level == "fuzzy"
    assert loc.find_text("left knee meniscus tear") is None
    assert loc.find_text("knee") is None
    assert 0.85 <= FUZZY_MIN_RATIO < 1


def test_locator_words_respect_word_boundaries() -> None:
    loc = Locator("Then the patient said the other thing.")
    assert loc.find_enum("male") is None  # "he" in "the"/"Then" is no pronoun
    loc = Locator("Then he said.")
    found = loc.find_enum("male")
    assert found and loc.text[slice(*found.spans[0])] == "he"


@pytest.mark.parametrize("written", ["10/18/2016", "10-18-16", "October 18, 2016", "Oct. 18 2016"])
def test_locator_finds_a_date_in_the_letters_formats(written: str) -> None:
    text = f"injured on {written} while lifting"
    found = Locator(text).find_date(dt.date(2016, 10, 18))
    assert found and text[slice(*found.spans[0])].startswith(written.split()[0])


@pytest.mark.parametrize(
    ("value", "text", "spans"),
    [
        (60, "Norco 10/325mg #60", ["60"]),
        (12, "Physical therapy 2x6 lumbar", ["2", "6"]),
        (12, "Acupuncture two times a week for six weeks", ["two", "six"]),
        (6, "Chiropractic times six", ["six"]),
    ],
)
def test_locator_finds_counts_as_digits_words_and_products(
    value: int, text: str, spans: list[str]
) -> None:
    found = Locator(text).find_int(value)
    assert found is not None
    assert [text[s:e].lower() for s, e in found.spans] == spans


def test_field_value_walks_item_paths() -> None:
    rules = parse_letter(load_letter(SYNTHETIC / "rules_pdf_layout.txt")).record
    assert field_value(rules, "items[3].medication.name") == "Oxycodone HCL ER"
    assert field_value(rules, "items[0].medication.name") is None
    assert field_value(rules, "items[99].quantity") is None


# -- the parser's certainty and evidence --------------------------------------------
def test_rules_record_carries_evidence_for_every_field() -> None:
    letter = load_letter(SYNTHETIC / "rules_pdf_layout.txt")
    rules = parse_letter(letter).record
    fields = {e.field for e in rules.evidence}
    for name in (
        "case_number",
        "date_of_injury",
        "patient.age",
        "diagnoses",
        "reviewer.specialties",
    ):
        assert name in fields
    for i in range(len(rules.items)):
        for leaf in ("request", "decision", "category", "quantity", "medication.name"):
            assert f"items[{i}].{leaf}" in fields
    # Every value the parser found is grounded at spans that hold it.
    for ev in rules.evidence:
        value = field_value(rules, ev.field)
        if value in (None, [], False):
            assert not ev.grounded and ev.spans == [], ev.field
            continue
        assert ev.grounded, ev.field
        assert all(0 <= s.start < s.end <= len(letter.text) for s in ev.spans)
        assert ev.reader == "rules"
    count = rules.evidence_for("items[3].quantity")
    assert count is not None and letter.text[count.spans[0].start : count.spans[0].end] == "60"
    assert (count.certainty, count.rule) == ("exact", "counts: #N")


@pytest.mark.parametrize(
    ("request_text", "quantity", "expected"),
    [
        ("Flexeril 10mg #60", 60, "exact"),
        ("Physical therapy 2x6 for the lumbar spine", 12, "exact"),
        ("MRI of the lumbar spine", None, "exact"),
        ("Tramadol 50mg", None, "exact"),  # the only number is a strength
        ("Acute rehabilitation 7-10 days", None, "undecided"),
        ("1 knee scooter", 1, "heuristic"),
    ],
)
def test_count_certainty(request_text: str, quantity: int | None, expected: str) -> None:
    assert quantity_verdict(quantity, request_text)[0] == expected


def test_certainty_of_summary_fields() -> None:
    one = "The injured worker is a 47 year old female, injured on 03-14-2015, diagnosed with lumbar strain."
    two = (
        "The injured worker is a 47 year old female, diagnosed with lumbar strain and knee sprain."
    )
    assert _summary_verdict("patient.age", 47, one)[0] == "exact"
    assert _summary_verdict("diagnoses", ["lumbar strain"], one)[0] == "exact"
    assert _summary_verdict("diagnoses", ["lumbar strain", "knee sprain"], two)[0] == "heuristic"
    complaints_only = "She reports neck pain."
    assert _summary_verdict("diagnoses", [], complaints_only)[0] == "exact"
    assert _summary_verdict("diagnoses", [], "Her diagnoses: see above.")[0] == "undecided"
    assert category_verdict("MRI of the lumbar spine")[0] == "exact"
    assert category_verdict("Acute Rehabilitation Unit")[0] == "undecided"
    assert body_region_verdict(None, "Purchase of a wheelchair")[0] == "exact"


def _summary_verdict(path: str, value: object, summary: str) -> tuple[str, str]:
    """The parser's reading of ``path`` in ``summary`` (which must read ``value``)."""
    read = next(r for r in parse_summary(summary).readings if r.field == path)
    assert read.value == value
    return read.certainty, read.rule


# -- arbitration ---------------------------------------------------------------------
def _setup(
    name: str = "rules_pdf_layout.txt", edit: tuple[str, str] | None = None
) -> tuple[Record, LetterContext]:
    """A synthetic letter (``edit``: one replacement in its text), its parser record and context."""
    import dataclasses

    letter = load_letter(SYNTHETIC / name)
    if edit is not None:
        assert edit[0] in letter.text
        letter = dataclasses.replace(letter, text=letter.text.replace(*edit))
    seg = segment_letter(letter)
    assert seg.summary is not None
    ctx = LetterContext(
        text=letter.text,
        summary=(seg.summary.start, seg.summary.end),
        lines=[(b.decision_line.start, b.decision_line.end) for b in seg.items],
        diagnosis_doubts=parse_summary(seg.summary.text(letter.text)).doubts,
    )
    return parse_letter(letter).record, ctx


def _undecide(rules: Record, path: str, value: Any = None) -> None:
    """Make the parser undecided on ``path`` (as if its rules had found nothing)."""
    from llm_extract.field_paths import set_path as _set

    if path.endswith("medication.name"):
        rules.items[int(path[6])].medication = None
    else:
        _set(rules, path, value)
    ev = rules.evidence_for(path)
    assert ev is not None
    rules.evidence = [
        e
        if e.field != path
        else e.model_copy(update={"certainty": "undecided", "grounded": False, "spans": []})
        for e in rules.evidence
    ]


def test_agreement_settles_and_names_both_readers() -> None:
    rules, ctx = _setup()
    record = arbitrate(rules, [("quantity", 0, rules.items[0].quantity)], ctx)
    ev = record.evidence_for("items[0].quantity")
    assert ev is not None and ev.reader == "both"
    assert record.checks == [] and not record.needs_review


def test_a_made_up_value_is_never_kept() -> None:
    rules, ctx = _setup()
    _undecide(rules, "items[2].body_region")
    _undecide(rules, "patient.occupation")
    record = arbitrate(
        rules,
        [("body_region", 2, "left ankle"), ("occupation", None, "astronaut"), ("quantity", 0, 977)],
        ctx,
    )
    assert record.items[2].body_region is None
    assert record.patient.occupation is None
    assert record.items[0].quantity == rules.items[0].quantity
    reasons = {c.field: c.reason for c in record.checks}
    assert set(reasons) == {"items[2].body_region", "patient.occupation", "items[0].quantity"}
    assert all("not in the letter text" in r for r in reasons.values())
    assert all(c.kept == "rules" for c in record.checks)


def test_a_grounded_value_fills_what_the_parser_left_undecided() -> None:
    rules, ctx = _setup()
    _undecide(rules, "items[0].body_region")
    record = arbitrate(rules, [("body_region", 0, "lumbar spine")], ctx)
    assert record.items[0].body_region == "lumbar spine"
    ev = record.evidence_for("items[0].body_region")
    assert ev is not None and ev.reader == "llm" and ev.grounded and ev.spans
    assert not record.needs_review


@pytest.mark.parametrize(
    ("key", "item", "value", "path"),
    [
        ("quantity", 3, 20, "items[3].quantity"),  # "20mg": a strength, not a count
        ("body_region", 4, "TENS unit", "items[4].body_region"),  # a device
        ("body_region", 0, "lumbar spine therapy", "items[0].body_region"),  # a treatment word
        # The request copied around a site word (seen on a test letter).
        (
            "body_region",
            0,
            "Physical therapy for the lumbar spine 2-3 times",
            "items[0].body_region",
        ),
        (
            "occupation",
            None,
            "injured worker",
            "patient.occupation",
        ),  # what letters call the patient
        ("medication_name", 3, "Oxycodone HCL ER 20mg", "items[3].medication.name"),
    ],
)
def test_a_value_that_breaks_a_validator_loses(
    key: str, item: int | None, value: Any, path: str
) -> None:
    rules, ctx = _setup()
    _undecide(rules, path)
    before = field_value(rules, path)
    record = arbitrate(rules, [(key, item, value)], ctx)
    assert field_value(record, path) == before
    (check,) = record.checks
    assert check.field == path and check.kept == "rules" and "the model's value" in check.reason


def test_a_complaint_is_not_a_diagnosis() -> None:
    rules, ctx = _setup("injected_summary.txt")
    rules.diagnoses = []
    record = arbitrate(
        rules, [("diagnoses", None, ["lumbar radiculopathy", "physical therapy"])], ctx
    )
    assert record.diagnoses == ["lumbar radiculopathy"]
    assert any(
        c.field == "diagnoses" and c.llm_value == ["physical therapy"] for c in record.checks
    )


def test_two_grounded_readings_keep_the_parsers_record_both_and_flag() -> None:
    rules, ctx = _setup()
    record = arbitrate(rules, [("quantity", 0, 6)], ctx)  # "... for 6 weeks": 6 is written
    assert record.items[0].quantity == rules.items[0].quantity
    (check,) = record.checks
    assert (check.llm_value, check.rules_value, check.kept, check.resolved) == (
        6,
        18,
        "rules",
        False,
    )
    assert record.needs_review and record.review_reasons


def test_a_dropped_release_modifier_is_immaterial() -> None:
    rules, ctx = _setup()
    record = arbitrate(rules, [("medication_name", 3, "Oxycodone")], ctx)
    assert record.items[3].medication is not None
    assert record.items[3].medication.name == "Oxycodone HCL ER"
    assert not record.needs_review


def test_an_undecided_category_takes_the_model_reading_and_flags_it_when_ungrounded() -> None:
    rules, ctx = _setup()
    _undecide(rules, "items[2].category")
    record = arbitrate(rules, [("category", 2, Category.SURGERY)], ctx)  # EMG/NCV: no surgery word
    assert record.items[2].category is Category.SURGERY
    assert record.needs_review
    ev = record.evidence_for("items[2].category")
    assert ev is not None and ev.reader == "llm" and not ev.grounded
    rules, ctx = _setup()
    _undecide(rules, "items[2].category")
    record = arbitrate(rules, [("category", 2, Category.DIAGNOSTIC_TEST)], ctx)  # EMG: grounded
    assert record.items[2].category is Category.DIAGNOSTIC_TEST and not record.needs_review


def test_sex_is_grounded_by_its_source_words() -> None:
    rules, ctx = _setup("injected_summary.txt")
    _undecide(rules, "patient.sex")
    record = arbitrate(rules, [("sex", None, Sex.FEMALE)], ctx)
    assert record.patient.sex is Sex.FEMALE


def test_only_uncertain_askable_fields_are_asked() -> None:
    rules, _ = _setup()
    letter_fields, item_fields = uncertain_fields(rules)
    # The answer keys asked, as the record paths they map back to (askable table).
    asked = {row(k).record_path() for k in letter_fields} | {
        row(k).record_path(i) for i, ks in item_fields for k in ks
    }
    askable = {ev.field for ev in rules.evidence if _askable(ev.field)}
    assert asked and asked <= askable
    assert any(p.startswith("items[") for p in asked)  # item fields are asked too
    for ev in rules.evidence:
        if ev.certainty == "exact":
            assert ev.field not in asked
        elif ev.field in askable and ev.field != "diagnoses":
            assert ev.field in asked, ev.field  # every uncertain askable field is asked
    # A list split on "and" is heuristic, but with no doubt about it it is not asked ...
    ev = rules.evidence_for("diagnoses")
    assert ev is not None and ev.certainty == "heuristic"
    assert "diagnoses" not in letter_fields
    # ... nor is a doubted one: the model picks between the parser's readings of it.
    doubted, ctx = _doubted("Diagnoses include lumbar strain, status post being hit by a door.")
    assert "diagnoses" not in uncertain_fields(doubted)[0]
    questions = diagnosis_choices(doubted.diagnoses, (), ctx.diagnosis_doubts)
    assert ("lumbar strain",) in [c.reading for c in questions]


def _askable(path: str) -> bool:
    item, rest = split_item_path(path)
    return row_for_path("letter" if item is None else "item", rest) is not None


def test_a_body_part_alone_in_the_parsers_diagnoses_yields_to_the_models_list() -> None:
    # Seen on a holdout letter: "right wrist and right hand sprain" split in two.
    rules, ctx = _setup("injected_summary.txt")
    rules.diagnoses = ["lumbar radiculopathy", "left shoulder", "impingement"]
    record = arbitrate(
        rules, [("diagnoses", None, ["lumbar radiculopathy", "left shoulder impingement"])], ctx
    )
    assert record.diagnoses == ["lumbar radiculopathy", "left shoulder impingement"]
    ev = record.evidence_for("diagnoses")
    assert ev is not None and ev.reader == "llm" and ev.grounded
    assert not record.needs_review


def test_two_diagnosis_lists_that_differ_are_flagged() -> None:
    rules, ctx = _setup("injected_summary.txt")
    # The model reads the two as one: a different split of the same words.
    record = arbitrate(
        rules, [("diagnoses", None, ["lumbar radiculopathy and left shoulder impingement"])], ctx
    )
    assert record.diagnoses == rules.diagnoses
    assert record.needs_review and "diagnoses" in record.review_reasons[0]


def test_a_diagnosis_the_model_leaves_out_is_no_evidence_against_the_parser() -> None:
    rules, ctx = _setup("injected_summary.txt")
    record = arbitrate(rules, [("diagnoses", None, ["lumbar radiculopathy"])], ctx)
    assert record.diagnoses == rules.diagnoses
    assert not record.needs_review
    assert record.checks[-1].resolved and "leaves out" in record.checks[-1].reason


def test_an_icd_qualifier_alone_is_not_a_diagnosis() -> None:
    rules, ctx = _setup("injected_summary.txt")
    record = arbitrate(
        rules,
        [
            (
                "diagnoses",
                None,
                ["lumbar radiculopathy", "initial encounter", "left shoulder impingement"],
            )
        ],
        ctx,
    )
    assert record.diagnoses == rules.diagnoses
    assert not record.needs_review


def _doubted(sentence: str) -> tuple[Record, LetterContext]:
    """The synthetic letter with its diagnosis sentence replaced, and the parser's doubts."""
    return _setup(edit=("Diagnoses include lumbar strain and right knee contusion.", sentence))


def test_a_narrative_in_the_diagnosis_list_is_flagged_and_the_model_can_drop_it() -> None:
    rules, ctx = _doubted(
        "The patient is being treated for facial contusion, status post being hit by a door."
    )
    assert rules.diagnoses == ["facial contusion", "status post being hit by a door"]
    assert rules.needs_review and "narrative" in rules.review_reasons[0]
    # The model's list supports the parser's other reading: it is kept, still flagged.
    record = arbitrate(rules, [("diagnoses", None, ["facial contusion"])], ctx)
    assert record.diagnoses == ["facial contusion"]
    ev = record.evidence_for("diagnoses")
    assert ev is not None and ev.grounded and ev.reader == "both"
    assert record.needs_review
    # A model that reads it as the parser does leaves the parser's list.
    record = arbitrate(rules, [("diagnoses", None, list(rules.diagnoses))], ctx)
    assert record.diagnoses == rules.diagnoses


def test_an_entry_of_a_semicolon_list_that_lists_several_is_doubted() -> None:
    rules, ctx = _doubted(
        "Diagnoses are left knee sprain, possible meniscus tear and knee effusion; lumbar strain."
    )
    assert rules.diagnoses == [
        "left knee sprain, possible meniscus tear",
        "knee effusion",
        "lumbar strain",
    ]
    assert rules.needs_review
    model = ["left knee sprain", "possible meniscus tear", "knee effusion", "lumbar strain"]
    record = arbitrate(rules, [("diagnoses", None, model)], ctx)
    assert record.diagnoses == model


def test_an_and_after_a_relation_may_join_one_diagnosis() -> None:
    rules, ctx = _doubted(
        "Diagnoses include anxiety, and stress reaction affecting sleep and appetite."
    )
    assert rules.diagnoses == ["anxiety", "stress reaction affecting sleep", "appetite"]
    assert rules.needs_review
    model = ["anxiety", "stress reaction affecting sleep and appetite"]
    record = arbitrate(rules, [("diagnoses", None, model)], ctx)
    assert record.diagnoses == model
    # A made-up reading is never taken for the parser's other one.
    record = arbitrate(rules, [("diagnoses", None, ["anxiety", "insomnia"])], ctx)
    assert record.diagnoses == rules.diagnoses


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("Oxycodone HCL ER 20mg", True),
        ("flurbiprofen 10%/dextromethorphan 5%/lidocaine 5%", True),  # a compound's strengths
        ("Flurbiprofen/Dextromethorphan/Lidocaine", False),
        ("Norco", False),
    ],
)
def test_a_drug_name_holding_a_strength_is_implausible(name: str, bad: bool) -> None:

    assert (row("medication_name").arbiter.implausible(name, "") is not None) is bad


@pytest.mark.parametrize(
    ("count", "request_text", "bad"),
    [
        (1, "Associated surgical service: Cold therapy for one week", True),  # a duration
        (3, "standard wheelchair for a 3 month rental", True),
        (20, "Oxycodone HCL ER 20mg #60", True),  # a strength
        (12, "Acupuncture two times a week for six weeks", False),  # weeks as a factor
        (60, "Norco 10/325mg #60", False),
        (60, "Oxycodone HCL ER 20mg #60 day supply: 30", False),  # "#": the count notation
    ],
)
def test_a_count_validator(count: int, request_text: str, bad: bool) -> None:

    assert (row("quantity").arbiter.implausible(count, request_text) is not None) is bad


# -- disagreement as the review signal ---------------------------------------------
def _heuristic(rules: Record, path: str) -> None:
    """Make the parser's value on ``path`` a heuristic reading (as its count rules' guesses are)."""
    rules.evidence = [
        e if e.field != path else e.model_copy(update={"certainty": "heuristic"})
        for e in rules.evidence
    ]


@pytest.mark.parametrize(
    ("count", "request_text"),
    [
        (7, "Inpatient rehabilitation physical therapy 7-10 days for a foot fracture"),
        (2, "Home health aide 2 to 4 weeks"),
    ],
)
def test_the_low_end_of_a_range_of_durations_is_no_count(count: int, request_text: str) -> None:

    assert row("quantity").arbiter.implausible(count, request_text) is not None


def test_a_count_the_parser_could_not_read_is_kept_from_the_model_and_flagged() -> None:
    rules, ctx = _setup()
    _undecide(rules, "items[0].quantity")
    record = arbitrate(rules, [("quantity", 0, 18)], ctx)  # 2-3 x a week for 6 weeks
    assert record.items[0].quantity == 18
    (check,) = record.checks
    assert (check.kept, check.resolved, check.rules_value) == ("llm", False, None)
    assert record.needs_review and "items[0].quantity" in record.review_reasons[0]
    assert "18" in record.review_reasons[0]
    flag = record.review_flags[0]
    assert (flag.code, flag.path) == (ReviewCode.ONE_READER_ONLY, "items[0].quantity")
    assert record.flagged_paths() == ["items[0].quantity"]


def test_a_heuristic_count_the_model_does_not_see_is_flagged() -> None:
    rules, ctx = _setup()
    _heuristic(rules, "items[3].quantity")
    record = arbitrate(rules, [("quantity", 3, None)], ctx)
    assert record.items[3].quantity == 60  # the parser's reading is kept
    assert record.needs_review and "reads 60, the model reads none" in record.review_reasons[0]
    assert "items[3].quantity" in record.flagged_paths()
    # An exact count is not contested by a model that reads none.
    rules, ctx = _setup()
    record = arbitrate(rules, [("quantity", 3, None)], ctx)
    assert not record.needs_review and record.checks == []


def test_the_parsers_value_that_breaks_a_validator_yields_to_the_models() -> None:
    rules, ctx = _setup("injected_summary.txt")
    _heuristic(rules, "items[0].quantity")
    rules.items[0].quantity = 50  # "Tramadol 50mg #60": a strength read as a count
    record = arbitrate(rules, [("quantity", 0, 60)], ctx)  # "#60": grounded, plausible
    assert record.items[0].quantity == 60
    (check,) = record.checks
    assert check.kept == "llm" and check.resolved and "the parser's value" in check.reason
    assert not record.needs_review
    ev = record.evidence_for("items[0].quantity")
    assert ev is not None and ev.reader == "llm" and ev.grounded


def test_a_different_number_of_diagnoses_is_flagged_with_both_readings() -> None:
    # The model splits the parser's one diagnosis into two parts the letter
    # never writes as such: the same words, a different number of diagnoses.
    rules, ctx = _setup("injected_summary.txt")
    rules.diagnoses = ["lumbar radiculopathy and left shoulder impingement"]
    record = arbitrate(
        rules,
        [("diagnoses", None, ["lumbar radiculopathy", "left shoulder radiculopathy"])],
        ctx,
    )
    assert record.diagnoses == rules.diagnoses
    assert record.needs_review
    (reason,) = record.review_reasons
    assert reason.startswith("diagnoses: the parser reads 1") and "the model 2" in reason


def test_the_same_diagnoses_written_differently_are_not_flagged() -> None:
    rules, ctx = _setup("injected_summary.txt")
    record = arbitrate(
        rules, [("diagnoses", None, ["Lumbar Radiculopathy", "left shoulder impingement"])], ctx
    )
    assert record.diagnoses == rules.diagnoses and not record.needs_review
