"""An ill-formed value never wins the hybrid's arbitration (llm/crosscheck.py, shapes.py).

The issue's case: the parser's "3 months coverage of Viagra" against the
model's "Viagra", both in the letter text -- the well-formed reading wins,
whichever reader gave it, and the ``checks`` log says which lost and why.
"""

from __future__ import annotations

import dataclasses

from conftest import SYNTHETIC

from llm_extract.assess import assess
from llm_extract.consistency import truth_violations
from llm_extract.evidence import Locator
from llm_extract.llm.arbiters import age_implausible, medication_implausible
from llm_extract.llm.crosscheck import LetterContext, arbitrate
from llm_extract.loading import load_letter
from llm_extract.models import Record
from llm_extract.review_flags import ReviewCode
from llm_extract.rules.backend import parse_letter
from llm_extract.shapes import ill_formed, value_doubts

PATH = "items[3].medication.name"
ILL = "3 months coverage of Viagra"


def _setup() -> tuple[Record, LetterContext, str]:
    """The synthetic letter whose fourth request is ``3 months coverage of Viagra``,
    the parser reading the whole request as the drug name (grounded, heuristic)."""
    letter = load_letter(SYNTHETIC / "rules_pdf_layout.txt")
    old = "Oxycodone HCL ER 20mg #60 day supply: 30: Upheld"
    assert old in letter.text
    letter = dataclasses.replace(letter, text=letter.text.replace(old, f"{ILL}: Upheld"))
    parsed = parse_letter(letter)
    summary = parsed.segments.summary
    assert summary is not None
    # The context the hybrid builds from the parser's reading (llm/hybrid.py).
    ctx = LetterContext(letter.text, (summary.start, summary.end), parsed.places.request_ranges)
    rules = parsed.record
    med = rules.items[3].medication
    assert med is not None
    med.name = ILL
    found = Locator(letter.text).find_text(ILL)
    assert found is not None
    rules.evidence = [
        e if e.field != PATH else e.model_copy(update={"spans": found.to_spans()})
        for e in rules.evidence
    ]
    return rules, ctx, letter.text


def _name(record: Record) -> str | None:
    med = record.items[3].medication
    return med.name if med else None


def test_the_parsers_ill_formed_value_loses_to_the_models_well_formed_one() -> None:
    rules, ctx, text = _setup()
    record = arbitrate(rules, [("medication_name", 3, "Viagra")], ctx)
    assert _name(record) == "Viagra"
    (check,) = [c for c in record.checks if c.field == PATH]
    assert (check.kept, check.llm_value, check.rules_value) == ("llm", "Viagra", ILL)
    assert check.reason.startswith("the parser's value is ill-formed")
    assert "holds a strength, form or count" in check.reason
    ev = record.evidence_for(PATH)
    assert ev is not None and ev.reader == "llm" and ev.grounded
    assert not record.flags_of(ReviewCode.ILL_FORMED_VALUE)
    assert truth_violations(assess(record), text) == []


def test_the_models_ill_formed_value_loses_to_the_parsers_well_formed_one() -> None:
    rules, ctx, _ = _setup()
    med = rules.items[3].medication
    assert med is not None
    med.name = "Viagra"
    record = arbitrate(rules, [("medication_name", 3, ILL)], ctx)
    assert _name(record) == "Viagra"
    (check,) = [c for c in record.checks if c.field == PATH]
    assert (check.kept, check.llm_value) == ("rules", ILL)
    assert check.reason.startswith("the model's value is ill-formed")


def test_the_only_reading_ill_formed_is_kept_and_flagged_once_on_its_field() -> None:
    rules, ctx, text = _setup()
    record = arbitrate(rules, [("medication_name", 3, None)], ctx)
    assert _name(record) == ILL
    assert [f.path for f in record.flags_of(ReviewCode.ILL_FORMED_VALUE)] == [PATH]
    # The record's general checks raise the same flag: it stays one.
    assess(record)
    assert [f.path for f in record.flags_of(ReviewCode.ILL_FORMED_VALUE)] == [PATH]
    assert truth_violations(record, text) == []


def test_both_ill_formed_the_parsers_is_kept_and_flagged() -> None:
    rules, ctx, _ = _setup()
    other = "Viagra 3 months supply"
    record = arbitrate(rules, [("medication_name", 3, other)], ctx)
    assert _name(record) == ILL
    (check,) = [c for c in record.checks if c.field == PATH]
    assert check.kept == "rules" and check.reason.startswith("the model's value is ill-formed")
    assert [f.path for f in record.flags_of(ReviewCode.ILL_FORMED_VALUE)] == [PATH]


def test_an_ill_formed_count_of_the_model_loses_with_its_reason() -> None:
    rules, ctx, _ = _setup()
    record = arbitrate(rules, [("quantity", 0, 0)], ctx)
    assert record.items[0].quantity == rules.items[0].quantity
    (check,) = record.checks
    assert check.kept == "rules" and check.reason == (
        "the model's value is ill-formed (0 is outside (1, 1000))"
    )


def test_the_validators_that_are_shapes_are_the_shape_module() -> None:
    # One place decides what a drug name and an age look like.
    for name in (ILL, "Oxycodone 20mg", "Viagra", "Norco"):
        assert medication_implausible(name, "") == ill_formed("medication.name", name)
        assert (medication_implausible(name, "") is None) == (
            value_doubts("medication.name", name) == []
        )
    for age in (0, 54, 150):
        assert age_implausible(age, "") == ill_formed("patient.age", age)
