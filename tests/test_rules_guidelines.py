"""Guideline source mapping of RECORD.md."""

from __future__ import annotations

import pytest

from llm_extract.rules.guidelines import guideline_sources


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Claims Administrator did not cite any medical evidence for its decision.", []),
        # MAXIMUS's "Other Medical Treatment Guidelines" heading counts by what it names.
        (
            "Decision based on Non-MTUS Citation Official Disability Guidelines (ODG) Hips and "
            "Pelvis, MRI and Other Medical Treatment Guidelines ACOEM Hip and Groin Disorders.",
            ["acoem", "odg"],
        ),
        (
            "Decision based on Non-MTUS Citation Other Medical Treatment Guidelines AANEM "
            "Recommended Policy for Electrodiagnostic Medicine.",
            ["other"],
        ),
        ("The Expert Reviewer did not cite any medical evidence for its decision.", []),
        (
            "Decision based on MTUS Chronic Pain Medical Treatment 2016, Section(s): Physical medicine treatment.",
            ["mtus"],
        ),
        ("Decision based on MTUS Acupuncture Treatment 2007.", ["mtus"]),
        (
            "Decision based on MTUS Opioid Treatment 2016, Section(s): 4.1 Tapering Opioids.",
            ["mtus"],
        ),
        (
            "Decision based on MTUS Postsurgical Treatment 2009, Section(s): Forearm, Wrist, & Hand.",
            ["mtus"],
        ),
        (
            "Decision based on MTUS Low Back Complaints 2004, Section(s): Special Studies.",
            ["mtus", "acoem"],
        ),
        (
            "Decision based on MTUS General Approaches 2004, Section(s): Initial Approaches to Treatment.",
            ["mtus", "acoem"],
        ),
        (
            "Decision based on MTUS Stress-Related Conditions 2004, Section(s): General Approach.",
            ["mtus", "acoem"],
        ),
        (
            "Decision based on MTUS ACOEM Chapter 11 Forearm, Wrist, and Hand Complaints.",
            ["mtus", "acoem"],
        ),
        (
            "Decision based on MTUS Knee Complaints 2004. Decision based on Non-MTUS Citation "
            "Official Disability Guidelines (ODG), Knee and Leg.",
            ["mtus", "acoem", "odg"],
        ),
        (
            "The Claims Administrator based their decision on recommendation(s) outside of the MTUS "
            "Guidelines. Decision based on Non-MTUS Citation Official Disability Guidelines (ODG), Pain.",
            ["odg"],
        ),
        (
            "The Expert Reviewer based their decision on recommendation(s) outside of the MTUS Guidelines. "
            "Decision based on Non-MTUS Citation https://medicalinsider.example.com/rehab.",
            ["other"],
        ),
        (
            "Decision based on MTUS Forearm, Wrist, and Hand Complaints 2004, Section(s): Surgical "
            "Considerations. Decision based on Non-MTUS Citation Green's Operative Hand Surgery, 6th ed.",
            ["mtus", "acoem", "other"],
        ),
        (
            "The Expert Reviewer based their decision on recommendation(s) outside of the MTUS Guidelines. "
            "Decision based on Non-MTUS Citation Official Disability Guidelines (ODG) Carpal Tunnel "
            "Syndrome and Other Medical Treatment Guidelines AANEM Recommended Policy.",
            ["odg", "other"],
        ),
    ],
)
def test_guideline_families(text: str, expected: list[str]) -> None:
    assert sorted(g.value for g in guideline_sources(text)) == sorted(expected)
