"""The clinical case summary: patient age/sex/occupation, date of injury, diagnoses."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from ..models import Patient, Sex
from .text import DATE_PATTERN, clean, first_date

_SEX_WORDS = {
    "male": Sex.MALE,
    "man": Sex.MALE,
    "gentleman": Sex.MALE,
    "female": Sex.FEMALE,
    "woman": Sex.FEMALE,
    "lady": Sex.FEMALE,
}
_SEX = r"(?P<sex>male|female|man|woman|gentleman|lady)"
# "a 52 year old male", "a now 36-year-old female", "This 45-year-old woman"
_AGE_SEX = re.compile(
    rf"\b(?P<age>\d{{1,3}})\s*-?\s*(?:year|yr)s?\s*-?\s*old\s*,?\s+(?:(?:right|left)[- ]handed\s+)?{_SEX}\b"
    r"(?P<after>[^.]{0,60})",
    re.I,
)
_AGE_ONLY = re.compile(r"\b(?P<age>\d{1,3})\s*-?\s*(?:year|yr)s?\s*-?\s*old\b", re.I)
# "The injured worker is a female who …": sex stated without an age.
_SEX_ONLY = re.compile(rf"\b(?:is|was)\s+an?\s+{_SEX}\b", re.I)

# The words after "52 year old male" that start a clause: what lies between is
# an occupation ("male detailer injured …"), anything else is not.
_CLAUSE_START = {
    "who", "whose", "that", "with", "injured", "sustained", "was", "is", "has", "had",
    "reported", "reports", "developed", "fell", "presents", "presented", "complains",
    "complained", "suffered", "claims", "filed", "from", "on", "in", "at", "and",
}
_NOT_OCCUPATION = {"injured", "worker", "patient", "claimant", "employee", "applicant", "individual"}
_EMPLOYED_AS = re.compile(
    r"\b(?:employed|works|worked|working)\s+as\s+(?:an?\s+)?(?P<occ>[a-z][a-z /-]{2,40}?)(?=[,.;]|\s+(?:for|at|who|when|with)\b)",
    re.I,
)

_INJURY = re.compile(
    r"(?:date\s+of\s+injury|injury\s+date|injured|industrial(?:-work)?\s+injury|work[- ]related\s+injury"
    r"|occupational\s+claim|injury)(?:\s+(?:of|on|from|was|dated|is))*\s*:?\s*(?P<date>"
    + DATE_PATTERN
    + ")",
    re.I,
)

# Where a summary lists diagnoses (RECORD.md), longest alternatives first.
_DIAGNOSIS_INTRO = re.compile(
    r"(?:diagnosed\s+as\s+having|diagnosed\s+with|diagnos[ie]s\s+that\s+include"
    r"|(?:current\s+|working\s+)?diagnos[ie]s\s+(?:(?:are|is|were|was)\s+)?(?:documented\s+(?:as|is)\s+|documented\s+)"
    r"|(?:current\s+|working\s+)?diagnos[ie]s\s+(?:included|includes|include|are|is|were|was)\s+"
    r"|\bdiagnos[ie]s\s+of\b|a\s+diagnosis\s+of|diagnos[ie]s\s*:"
    r"|(?:being|been|is|was)\s+treated\s+for(?:\s+the\s+diagnosis\s+of)?"
    r"|undergoing\s+treatment\s+for)\s*(?P<body>[^.]+?(?:\.(?=\d)[^.]*?)*)(?:\.(?!\d)|$)",
    re.I,
)
_PAREN = re.compile(r"\s*\([^)]*\)")
_LEADING = re.compile(r"^(?:and\s+|a\s+|an\s+|the\s+|with\s+)+", re.I)
# Fragments that qualify the diagnosis before them (ICD wording) rather than
# naming a new one: "disc displacement, lumbosacral region".
_QUALIFIER = re.compile(
    r"^(?:(?:initial|subsequent)\s+encounter|[a-z ]*\bregion|[a-z ]*\blevel|[a-z ]*\blimb"
    r"|unspecified|right|left|bilateral)$",
    re.I,
)
_MUSCLE_FASCIA = re.compile(r"(muscles?),\s+(fascia),?\s+and\s+(tendons?)", re.I)


@dataclass(frozen=True)
class Summary:
    patient: Patient
    date_of_injury: dt.date | None = None
    diagnoses: list[str] = field(default_factory=list)


def _occupation(after: str) -> str | None:
    words = re.findall(r"[A-Za-z][A-Za-z/-]*|[,;:]", after)
    occ: list[str] = []
    for w in words:
        if w.lower() in _CLAUSE_START or w in ",;:":
            break
        occ.append(w)
    if not occ or len(occ) > 3:
        return None
    if any(w.lower() in _NOT_OCCUPATION for w in occ):
        return None
    if len(words) == len(occ):  # the phrase never reached a clause: not decidable
        return None
    return " ".join(occ)


def parse_patient(text: str) -> Patient:
    flat = clean(text)
    m = _AGE_SEX.search(flat)
    if m:
        age = int(m.group("age"))
        sex = _SEX_WORDS[m.group("sex").lower()]
        occupation = _occupation(m.group("after"))
        if occupation is None:
            e = _EMPLOYED_AS.search(flat)
            occupation = clean(e.group("occ")) if e else None
        return Patient(age=age if 0 < age < 120 else None, sex=sex, occupation=occupation)
    age_m = _AGE_ONLY.search(flat)
    sex_m = _SEX_ONLY.search(flat)
    e = _EMPLOYED_AS.search(flat)
    return Patient(
        age=int(age_m.group("age")) if age_m else None,
        sex=_SEX_WORDS[sex_m.group("sex").lower()] if sex_m else None,
        occupation=clean(e.group("occ")) if e else None,
    )


def parse_date_of_injury(text: str) -> dt.date | None:
    m = _INJURY.search(clean(text))
    return first_date(m.group("date")) if m else None


def _split_diagnoses(body: str) -> list[str]:
    body = _PAREN.sub("", body)
    body = _MUSCLE_FASCIA.sub(r"\1 \2 and \3", body)
    if ";" in body:
        parts = re.split(r"\s*;\s*", body)
    else:
        parts = []
        for chunk in re.split(r"\s*,\s*", body):
            chunk = _LEADING.sub("", chunk.strip())
            if parts and _QUALIFIER.match(chunk):
                parts[-1] = f"{parts[-1]}, {chunk}"
                continue
            # "X and Y": split only when both sides name something (2+ words);
            # "sprain and strain", "right and left elbow" stay whole.
            pieces = chunk.split(" and ")
            if len(pieces) == 2 and all(len(p.split()) >= 2 for p in pieces):
                parts.extend(pieces)
            else:
                parts.append(chunk)
    out: list[str] = []
    for p in parts:
        p = _LEADING.sub("", clean(p)).strip(" ,;:\"'")
        if p and p.lower() not in (x.lower() for x in out):
            out.append(p)
    return out


def parse_diagnoses(text: str) -> list[str]:
    flat = clean(text)
    out: list[str] = []
    for m in _DIAGNOSIS_INTRO.finditer(flat):
        for d in _split_diagnoses(m.group("body")):
            if d.lower() not in (x.lower() for x in out):
                out.append(d)
    return out


def parse_summary(text: str) -> Summary:
    return Summary(
        patient=parse_patient(text),
        date_of_injury=parse_date_of_injury(text),
        diagnoses=parse_diagnoses(text),
    )
