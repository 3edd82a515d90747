"""Every count notation of RECORD.md, parsed from request text."""

from __future__ import annotations

import pytest

from llm_extract.rules.counts import parse_counts


@pytest.mark.parametrize(
    ("request_text", "quantity", "per_week", "weeks"),
    [
        ("Physical Therapy X8 visits", 8, None, None),
        ("Acupuncture x 8", 8, None, None),
        ("ADDITIONAL ACUPUNCTURE 2x6 LEFT WRIST", 12, 2, 6),
        ("additional physical therapy for the lumbar spine 3 x 4", 12, 3, 4),
        ("Physical exam 2 times 8", 16, 2, 8),
        ("Physical therapy 2-3 times a week for 6 weeks", 18, 3, 6),
        ("Electro acupuncture to the low back two times a week times six weeks", 12, 2, 6),
        ("Initial acupuncture, 1 to 2 times per week for 4 weeks, for the neck", 8, 2, 4),
        ("Twelve infrared acupuncture visits, 2 times weekly for 6 weeks", 12, 2, 6),
        ("Chronic pain psychology evaluation and six sessions of treatment", 6, None, None),
        ("Eight (8) physical therapy sessions", 8, None, None),
        ("physical therapy 2 times a week for 6 weeks (12 sessions) to the right elbow", 12, 2, 6),
        ("Physical therapy to the lumbar spine 2 times a week for 2 weeks (4)", 4, 2, 2),
        ("Four sessions of physical therapy two times a week times 2 weeks", 4, 2, 2),
        ("Ultram 50mg #30", 30, None, None),
        ("Norco 7.5-325mg #112", 112, None, None),
        ("Wound care nurse, 1-2 visits to evaluate right hip incision", 2, None, None),
        ("12-18 sessions of physical therapy", 18, None, None),
        ("Associated surgical service: Physical therapy, times 12", 12, None, None),
        ("MRI without dye to lumbar spine times 2", 2, None, None),
        ("Compound cream 420ml", None, None, None),
        ("Flurbiprofen 10%/Lidocaine 5%, 121gm #1", 1, None, None),
        ("1 knee scooter", 1, None, None),
        ("MRI of the lumbar spine", None, None, None),
        ("TPI 20553 X6 in the Right Lumbar Paraspinals DOS 12/29/15", 6, None, None),
        ("Right L4 transforaminal epidural steroid injection", None, None, None),
        ("purchase of a bedside 3 in 1 commode", None, None, None),
        ("Three phase bone scan to the left foot", None, None, None),
        ("Single photon emission CT of the brain", None, None, None),
        ("Associated surgical service: Cold compression therapy 30 day rental", None, None, None),
        ("Pantoprazole 40mg, one by mouth, twice a day #60 with one refill", 60, None, None),
        # RECORD.md Clarifications: refills do not multiply, before or after the count;
        # QTY: N is N; N visits per week for M weeks is N x M.
        ("Three refills of Voltaren 75mg #60", 60, None, None),
        ("Tramadol 50mg #60 with 2 refills", 60, None, None),
        ("2 refills of Naproxen 550mg #90", 90, None, None),
        ("Norco 10/325mg QTY: 90", 90, None, None),
        ("Omeprazole 20mg, qty 30", 30, None, None),
        ("Gabapentin 600mg Quantity: 120", 120, None, None),
        ("Physical therapy 3 visits per week for 4 weeks", 12, 3, 4),
        ("Chiropractic care 2 sessions per week for 6 weeks", 12, 2, 6),
        ("Acupuncture two visits a week for three weeks", 6, 2, 3),
        ("Tramadol (Ultram) 50mg take 1 tab orally every 4-6 hours as needed #30", 30, None, None),
        ("Post-op Percocet 5/325mg", None, None, None),
        ("Twelve manual acupuncture visits (15 mins), 2 times weekly for 6 weeks", 12, 2, 6),
        (
            "two physical therapy sessions for the lumbar spine and eight physical therapy "
            "sessions for the left wrist",
            10,
            None,
            None,
        ),
    ],
)
def test_count_notations(
    request_text: str, quantity: int | None, per_week: int | None, weeks: int | None
) -> None:
    counts = parse_counts(request_text)
    assert (counts.quantity, counts.frequency_per_week, counts.duration_weeks) == (
        quantity,
        per_week,
        weeks,
    )


def test_dosing_frequency_is_not_visits_per_week() -> None:
    counts = parse_counts("Lorzone 750mg one by mouth three times a day #45")
    assert counts.frequency_per_week is None
    assert counts.quantity == 45
