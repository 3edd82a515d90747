"""The reviewer's credentials: specialties, subspecialties, licensure states.

Two layouts: the PDF block ("State(s) of Licensure: A, B" /
"Certification(s)/Specialty: X, Y") and the older sentence ("Board Certified
in X, has a subspecialty in Y, and is licensed to practice in California").
"""

from __future__ import annotations

import re

from ..document.text import clean
from ..models import Reviewer

# Any extractor's text: words may run together or be spaced out ("State (s)"),
# OCR may lose the colon or read an l as 1 ("Certification(s)/Specia1ty").
_STATES_LINE = re.compile(
    r"State\s*\(\s*s\s*\)\s*of\s*L[il1]censure\s*[:;.]?\s*(.+?)\s*(?=Certification|$)", re.I | re.S
)
_SPECIALTY_LINE = re.compile(
    r"Certification\s*\(\s*s\s*\)\s*/\s*Specia[l1I]ty\s*[:;.]?\s*(.+?)\s*(?=\n\s*\n|CLINICAL|$)",
    re.I | re.S,
)
_BOARD = re.compile(
    r"Board\s+Certified\s+in\s+(.+?)\s*(?:,\s*has\s+a\s+sub-?specialty|,?\s+and\s+is\s+licensed|\.|$)",
    re.I | re.S,
)
_SUBSPECIALTY = re.compile(
    r"has\s+a\s+sub-?specialty\s+in\s+(.+?)\s*(?:,?\s+and\s+is\s+licensed|\.|$)", re.I | re.S
)
_LICENSED = re.compile(r"licensed\s+to\s+practice\s+in\s+(.+?)\s*(?:\.|$)", re.I | re.S)

# RECORD.md: a chiropractor's specialty is "Chiropractic" (a specialty such as
# "Chiropractics" is kept as written).
_CHIRO = re.compile(r"^chiropractors?$", re.I)


def _split_list(value: str) -> list[str]:
    parts = [clean(p) for p in re.split(r"\s*,\s*", clean(value))]
    return [p for p in parts if p]


def _specialty(value: str) -> str:
    return "Chiropractic" if _CHIRO.match(value) else value


def _split_states(value: str) -> list[str]:
    # "California and Nevada" in the sentence layout; commas in the block.
    parts = re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+", clean(value))
    return [p for p in parts if p]


def parse_reviewer(text: str) -> Reviewer:
    """Parse the credentials section's text."""
    specialties: list[str] = []
    subspecialties: list[str] = []
    states: list[str] = []
    m = _STATES_LINE.search(text)
    if m:
        states = _split_states(m.group(1))
    m = _SPECIALTY_LINE.search(text)
    if m:
        specialties = [_specialty(s) for s in _split_list(m.group(1))]
    flat = clean(text)
    if not specialties:
        m = _BOARD.search(flat)
        if m:
            specialties = [_specialty(clean(m.group(1)))]
    m = _SUBSPECIALTY.search(flat)
    if m:
        subspecialties = [clean(m.group(1))]
    if not states:
        m = _LICENSED.search(flat)
        if m:
            states = _split_states(m.group(1))
    return Reviewer(specialties=specialties, subspecialties=subspecialties, licensure_states=states)
