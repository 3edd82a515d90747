"""Item fields decided by keywords: category, body region, medication, dates of service."""

from __future__ import annotations

import datetime as dt

import pytest

from llm_extract.document.text import first_date
from llm_extract.models import Category
from llm_extract.rules.body_region import body_region_of
from llm_extract.rules.categories import category_of
from llm_extract.rules.items import cpt_codes
from llm_extract.rules.medication import parse_medication


@pytest.mark.parametrize(
    ("request_text", "category"),
    [
        ("Ultram 50mg #30", Category.MEDICATION),
        ("Etodolac", Category.MEDICATION),
        ("Lidocaine patch", Category.MEDICATION),
        ("Post-op Zofran", Category.MEDICATION),
        ("Physical therapy 2x6 for the lumbar spine", Category.PHYSICAL_THERAPY),
        ("Associated surgical service: Physical therapy, times 12", Category.PHYSICAL_THERAPY),
        ("Electrical stimulation 1 times 8", Category.PHYSICAL_THERAPY),
        ("Chiropractic spinal manipulation times 6", Category.CHIROPRACTIC),
        (
            "Twelve acupuncture visits with Capsaicin patch, 2 times weekly for 6 weeks",
            Category.ACUPUNCTURE,
        ),
        ("TPI 20553 X6 in the Right Lumbar Paraspinals", Category.INJECTION),
        ("Right L4 transforaminal epidural steroid injection", Category.INJECTION),
        ("MRI of the lumbar spine", Category.IMAGING),
        ("Pre-op chest x-ray", Category.IMAGING),
        ("EMG/NCV of the bilateral upper extremities", Category.DIAGNOSTIC_TEST),
        ("Pre-op labs: PT/PTT", Category.DIAGNOSTIC_TEST),
        ("Urine drug testing", Category.DIAGNOSTIC_TEST),
        ("Functional capacity evaluation", Category.DIAGNOSTIC_TEST),
        ("Left shoulder arthroscopy with Bankart repair", Category.SURGERY),
        ("TENS unit", Category.DURABLE_MEDICAL_EQUIPMENT),
        (
            "Associated surgical service: Cold therapy for one week",
            Category.DURABLE_MEDICAL_EQUIPMENT,
        ),
        ("Comprehensive psychological testing", Category.PSYCHOLOGICAL),
        (
            "Consult with hip replacement specialist to evaluation for a total hip arthroplasty",
            Category.EVALUATION_CONSULTATION,
        ),
        ("Pre-op Clearance", Category.EVALUATION_CONSULTATION),
        ("Home aide 6 hours per day, 5 times a week for 4 weeks", Category.HOME_HEALTH),
        ("Partial Hospitalization day treatment", Category.PROGRAM),
        ("Transportation to/from all medical appointments", Category.TRANSPORTATION),
        # An evaluation alone is a consultation; "X evaluation and treatment" is X.
        (
            "Chiropractic evaluation, lumbar spine, left hip and knee",
            Category.EVALUATION_CONSULTATION,
        ),
        (
            "Re-exam with chiropractor for the lumbar spine flare-up",
            Category.EVALUATION_CONSULTATION,
        ),
        (
            "Physical therapy evaluation and treatment 3 times a week for 4 weeks",
            Category.PHYSICAL_THERAPY,
        ),
        # Shockwave therapy is physical therapy (RECORD.md Clarifications).
        ("Extracorporeal shockwave therapy (ESWT)", Category.PHYSICAL_THERAPY),
        # Not decidable by rules: left null, never guessed.
        ("Acute Rehabilitation Unit", None),
    ],
)
def test_category(request_text: str, category: Category | None) -> None:
    assert category_of(request_text) is category


@pytest.mark.parametrize(
    ("request_text", "region"),
    [
        ("MRI of the lumbar spine", "lumbar spine"),
        ("ADDITIONAL ACUPUNCTURE 2x6 LEFT WRIST", "LEFT WRIST"),
        (
            "Acupuncture 3 times a week for 2 weeks, neck, right hand and head",
            "neck, right hand and head",
        ),
        ("EMG/NCV of the bilateral upper extremities", "bilateral upper extremities"),
        # A capital there only because the site starts the request is dropped.
        ("Chest X-ray", "chest"),
        ("Hip pad", "hip"),
        ("Left shoulder arthroscopy with Bankart repair", "left shoulder"),
        ("Associated surgical service: Shoulder sling", "shoulder"),
        ("MRI Cervical Spine", "Cervical Spine"),
        ("Chiropractic spinal manipulation times 6", "spinal"),
        ("with open carpal tunnel release", "carpal tunnel"),
        ("1 knee scooter", "knee"),
        ("TPI 20553 X6 in the Right Lumbar Paraspinals", "Right Lumbar Paraspinals"),
        ("MRI of the fingers of the right hand without contrast", "fingers of the right hand"),
        ("Lumbar MRI", "lumbar"),
        ("TENS unit", None),
        ("Urine drug testing", None),
        ("TOC to ortho spine surgeon eval and treatment", None),
    ],
)
def test_body_region(request_text: str, region: str | None) -> None:
    assert body_region_of(request_text) == region


@pytest.mark.parametrize(
    ("request_text", "name", "strength", "days"),
    [
        ("Oxycodone HCL ER 20mg #60 day supply: 30", "Oxycodone HCL ER", "20mg", 30),
        ("Ultram (tramadol) 50mg #60", "Ultram (tramadol)", "50mg", None),
        ("Flector 1.3% transdermal patch", "Flector", "1.3%", None),
        ("Anecream cream 4% #30", "Anecream", "4%", None),
        # A word written before the drug stays in the name (RECORD.md Clarifications).
        ("Post-op Percocet 5/325mg", "Post-op Percocet", "5/325mg", None),
        ("Norco 7.5-325mg #112", "Norco", "7.5-325mg", None),
        ("Two refills of Ibuprofen 600mg #90", "Ibuprofen", "600mg", None),
        ("Lidocaine ointment 5% #1", "Lidocaine", "5%", None),
        ("Ketorolac 25mg/ml oral suspension", "Ketorolac", "25mg/ml", None),
        ("Gabapentin 300mg capsule for 14 days", "Gabapentin", "300mg", 14),
        ("Fioricet #120", "Fioricet", None, None),
        ("Etodolac", "Etodolac", None, None),
        (
            "Flurbiprofen 10%/Dextromethorphan 5%/Lidocaine 5%, 120grams #1",
            "Flurbiprofen, Dextromethorphan, Lidocaine",
            "10%, 5%, 5%",
            None,
        ),
        (
            "One container of Flurbiprofen 10%, Cyclobenzaprine 3%, Gabapentin 6%, Lidocaine 5%/Dextromethorphan",
            "Flurbiprofen, Cyclobenzaprine, Gabapentin, Lidocaine, Dextromethorphan",
            "10%, 3%, 6%, 5%",
            None,
        ),
        ("Diclofenac sodium 3% 300mg/g #1", "Diclofenac sodium", "3% 300mg/g", None),
    ],
)
def test_medication(request_text: str, name: str, strength: str | None, days: int | None) -> None:
    med = parse_medication(request_text)
    assert med is not None
    assert (med.name, med.strength, med.days_supply) == (name, strength, days)


def test_date_of_service_and_cpt() -> None:
    text = "TPI 20553 X6 in the Right Lumbar Paraspinals DOS 12/29/15"
    assert first_date(text) == dt.date(2015, 12, 29)
    assert cpt_codes(text) == ["20553"]
    assert first_date("Physical therapy per 12/07/2016 order") == dt.date(2016, 12, 7)
    assert cpt_codes("MRI of the lumbar spine (DOS 12/29/2016)") == []
