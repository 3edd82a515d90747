"""RECORD.md "Clarifications": each one as a general rule of the parser, on
small synthetic requests, plus the readings (rule id, certainty, spans) of the
values they change."""

from __future__ import annotations

import pytest
from conftest import SYNTHETIC

from llm_extract.config import load_config
from llm_extract.loading import letter_from_text
from llm_extract.models import Category, GuidelineSource
from llm_extract.rules.backend import RulesBackend, parse_letter
from llm_extract.rules.categories import (
    SEVERAL_CATEGORIES,
    category_of,
    category_verdict,
    keyword_categories,
)
from llm_extract.rules.counts import parse_counts, quantity_verdict
from llm_extract.rules.guidelines import guideline_sources
from llm_extract.rules.medication import parse_medication

MTUS, ACOEM, ODG, OTHER = (
    GuidelineSource.MTUS,
    GuidelineSource.ACOEM,
    GuidelineSource.ODG,
    GuidelineSource.OTHER,
)


# --- Quantity -----------------------------------------------------------------


# The count notations themselves are cases of tests/test_rules_counts.py.
@pytest.mark.parametrize(
    "request_text",
    [
        "Tramadol 50mg #60 with 2 refills",
        "Three refills of Voltaren 75mg #60",
        "Norco 10/325mg QTY: 90",
        "Physical therapy 3 visits per week for 4 weeks",
    ],
)
def test_clarified_counts_are_exact_readings(request_text: str) -> None:
    """Each is a plain notation the count rules read literally."""
    value = parse_counts(request_text).quantity
    assert value is not None
    assert quantity_verdict(value, request_text).certainty == "exact"


# --- Medication ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_text", "name", "strength"),
    [
        # A word written before the drug stays in the name as written.
        ("Compound Ketoprofen 20% cream 120gm", "Compound Ketoprofen", "20%"),
        ("Post-op Norco 5/325mg #60", "Post-op Norco", "5/325mg"),
        ("Post-op Zofran", "Post-op Zofran", None),
        # ... but not count or coverage phrases, nor "(unknown quantity)".
        ("Three months coverage of Lidoderm 5% patch #90", "Lidoderm", "5%"),
        ("one month supply of Trezix capsule 30.5/30/16mg", "Trezix", "30.5/30/16mg"),
        ("Norco 10/325mg (unknown quantity)", "Norco", "10/325mg"),
        ("Terocin patches (unknown quantity)", "Terocin", None),
        # A compound: ingredient names in order, comma-separated, without base;
        # strengths in the same order.
        (
            "Flurbiprofen 20%/Baclofen 2%/Lidocaine 5% in cream base 180gm",
            "Flurbiprofen, Baclofen, Lidocaine",
            "20%, 2%, 5%",
        ),
        (
            "Ketoprofen 10%, Gabapentin 6% and Lidocaine 5% in a lipoderm base",
            "Ketoprofen, Gabapentin, Lidocaine",
            "10%, 6%, 5%",
        ),
        # A dosage form in parentheses goes with them; the strength stays.
        ("Synapryn (10mg/1ml oral suspension)", "Synapryn", "10mg/1ml"),
        ("Tabradol (1mg/ml oral suspension) #250", "Tabradol", "1mg/ml"),
        # Other parentheses are kept as written.
        ("Ultram (tramadol) 50mg #60", "Ultram (tramadol)", "50mg"),
    ],
)
def test_medication_clarifications(request_text: str, name: str, strength: str | None) -> None:
    med = parse_medication(request_text)
    assert med is not None
    assert (med.name, med.strength) == (name, strength)


# --- Guideline sources --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "families"),
    [
        ("Decision based on Non-MTUS Citation ACOEM Practice Guidelines, Hip and Groin.", [ACOEM]),
        ("Decision based on Non-MTUS Citation Low Back (Hyperstimulation analgesia).", [OTHER]),
        ("Decision based on Non-MTUS Citation Official Disability Guidelines (ODG).", [ODG]),
        # Postsurgical: MTUS only, whatever body part it names ...
        ("Decision based on MTUS Postsurgical Treatment 2009, Section(s): Shoulder.", [MTUS]),
        ("Decision based on MTUS Postsurgical Treatment Guidelines, Eye.", [MTUS]),
        # ... while an ACOEM chapter cited beside it still counts.
        (
            "Decision based on MTUS Postsurgical Treatment Guidelines, Knee; ACOEM Knee Complaints.",
            [MTUS, ACOEM],
        ),
    ],
)
def test_guideline_clarifications(text: str, families: list[GuidelineSource]) -> None:
    assert guideline_sources(text) == families


# --- Category rows ------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_text", "category"),
    [
        ("Large gloves", Category.DURABLE_MEDICAL_EQUIPMENT),
        ("Hygiene wipes", Category.DURABLE_MEDICAL_EQUIPMENT),
        ("TENS unit electrodes", Category.DURABLE_MEDICAL_EQUIPMENT),
        ("Replacement batteries", Category.DURABLE_MEDICAL_EQUIPMENT),
        ("Wound dressings", Category.DURABLE_MEDICAL_EQUIPMENT),
        ("Home H-wave device", Category.DURABLE_MEDICAL_EQUIPMENT),
        ("Interferential unit rental", Category.DURABLE_MEDICAL_EQUIPMENT),
        ("Spinal cord stimulator trial", Category.SURGERY),
        ("Trial of a dorsal column stimulator", Category.SURGERY),
        ("Implantable neurostimulator", Category.SURGERY),
        ("Extracorporeal shockwave therapy (ESWT)", Category.PHYSICAL_THERAPY),
        ("Shock wave therapy for the left heel", Category.PHYSICAL_THERAPY),
        ("Jamar grip test", Category.DIAGNOSTIC_TEST),
        ("Grip strength testing", Category.DIAGNOSTIC_TEST),
        ("Range of motion of test", Category.DIAGNOSTIC_TEST),
        ("Physical therapy evaluation", Category.PHYSICAL_THERAPY),
        ("PT eval for the right knee", Category.PHYSICAL_THERAPY),
        # Rows the Clarifications do not move.
        ("Psychological evaluation prior to spinal cord stimulator trial", Category.PSYCHOLOGICAL),
        ("Chiropractic evaluation, lumbar spine", Category.EVALUATION_CONSULTATION),
    ],
)
def test_category_rows(request_text: str, category: Category) -> None:
    assert category_of(request_text) is category


# --- Doubt signal: keyword rules of several categories -----------------------


@pytest.mark.parametrize(
    ("request_text", "several"),
    [
        ("Spine surgery consultation", (Category.EVALUATION_CONSULTATION, Category.SURGERY)),
        (
            "Functional capacity evaluation",
            (Category.DIAGNOSTIC_TEST, Category.EVALUATION_CONSULTATION),
        ),
        (
            "Pulsed ultrasound 2 times a week for 4 weeks",
            (Category.PHYSICAL_THERAPY, Category.IMAGING),
        ),
    ],
)
def test_several_categories_make_the_category_a_heuristic(
    request_text: str, several: tuple[Category, ...]
) -> None:
    assert keyword_categories(request_text) == several
    verdict = category_verdict(request_text)
    assert verdict.certainty == "heuristic"
    assert SEVERAL_CATEGORIES in verdict.rule
    assert all(c.value in verdict.rule for c in several)
    assert category_of(request_text) is several[0]  # the table's order still decides


@pytest.mark.parametrize(
    "request_text", ["MRI of the lumbar spine", "Large gloves", "Left shoulder arthroscopy"]
)
def test_one_category_stays_exact(request_text: str) -> None:
    assert len(keyword_categories(request_text)) == 1
    assert category_verdict(request_text) == ("exact", "category: keyword rule")


# --- Readings of the changed values ------------------------------------------

_LINE = "Physical therapy for the lumbar spine 2-3 times a week for 6 weeks: Upheld"


def _parsed_with(request: str):  # type: ignore[no-untyped-def]
    text = (SYNTHETIC / "rules_pdf_layout.txt").read_text(encoding="utf-8")
    assert _LINE in text
    text = text.replace(_LINE, f"{request}: Upheld")
    return parse_letter(letter_from_text(text, letter_id="clarified")), text


def test_compound_readings_point_at_each_ingredient() -> None:
    request = "Flurbiprofen 20%/Baclofen 2%/Lidocaine 5% in cream base 180gm"
    parsed, text = _parsed_with(request)
    name = parsed.reading("items[0].medication.name")
    strength = parsed.reading("items[0].medication.strength")
    assert name is not None and strength is not None
    assert name.value == "Flurbiprofen, Baclofen, Lidocaine"
    assert name.grounded and name.certainty == "heuristic" and name.rule
    assert [text[s:e] for s, e in name.spans] == ["Flurbiprofen", "Baclofen", "Lidocaine"]
    assert [text[s:e] for s, e in strength.spans] == ["20%", "2%", "5%"]


def test_refill_quantity_reading_is_the_pill_count() -> None:
    parsed, text = _parsed_with("Three refills of Voltaren 75mg #60")
    r = parsed.reading("items[0].quantity")
    assert r is not None and r.value == 60
    assert (r.certainty, r.rule) == ("exact", "counts: #N")
    assert r.grounded and text[r.spans[0][0] : r.spans[-1][1]].endswith("60")


def test_several_categories_reach_the_record_evidence() -> None:
    parsed, _ = _parsed_with("Spine surgery consultation")
    ev = next(e for e in parsed.record.evidence if e.field == "items[0].category")
    assert ev.certainty == "heuristic" and SEVERAL_CATEGORIES in (ev.rule or "")
    record = RulesBackend(load_config()).extract(
        letter_from_text(
            (SYNTHETIC / "rules_pdf_layout.txt").read_text(encoding="utf-8"), letter_id="plain"
        )
    )
    assert record.provenance is not None and record.provenance.backend_version == "rules-1.3"
