"""The clinical case summary: patient age/sex/occupation, date of injury, diagnoses.

The diagnosis list is read by :mod:`.diagnoses`, the occupation by
:mod:`.occupation`; this module reads the age, the sex and the date of
injury and hands over what the summary says as readings.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from ..document.text import DATE_PATTERN, clean, first_date
from ..models import Patient, Sex
from ..vocab import plausible_age
from .diagnoses import Doubt
from .diagnoses_readings import read_diagnoses
from .occupation import occupation_after_sex, parse_occupation
from .readings import EXACT, HEURISTIC, UNDECIDED, Reading, Verdict, reading

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
# An age stated in any way ("45 yrs", "aged 45"): an age may be stated.
_AGE_CUE = re.compile(r"\d+\s*-?\s*(?:year|yr)s?\b|\bage[d]?\s+\d+", re.I)

# "date of injury 04/17/2009", "injured on 5/31/2012", "injured his low back on
# 5/27/11", "an industrial injury of October 14, 2016", "occupational claim from
# 10/10/ 2016" — but not "the injured worker … on <a visit date>".
_INJURY = re.compile(
    r"(?:\bdate\s+of\s+injury|\binjury\s+date|\binjur(?:y|ed|ies)\b(?!\s+worker)|occupational\s+claim)"
    r"[^.]{0,60}?(?P<date>" + DATE_PATTERN + ")",
    re.I,
)


@dataclass(frozen=True)
class CaseSummary:
    """What the parser reads from the case summary (the LLM's answer is llm.schemas.SummaryFacts)."""

    patient: Patient
    date_of_injury: dt.date | None = None
    diagnoses: list[str] = field(default_factory=list)
    # Why the diagnosis list may be split wrongly (review reasons; see
    # :func:`diagnosis_doubts`): a structure no splitting rule reads for sure.
    doubts: tuple[Doubt, ...] = ()

    # How sure the rules are of each value (patient.age, patient.sex, diagnoses).
    readings: tuple[Reading, ...] = ()
    # The summary states "<age> year old <sex>" (an occupation after it is read there).
    states_age_sex: bool = False
    flat: str = ""


def parse_patient(text: str) -> Patient:
    flat = clean(text)
    return _patient(flat, _AGE_SEX.search(flat))


def _patient(flat: str, m: re.Match[str] | None) -> Patient:
    """The patient stated in ``flat``; ``m``: its "<age> year old <sex>" match."""
    if m:
        age = int(m.group("age"))
        sex = _SEX_WORDS[m.group("sex").lower()]
        occupation = occupation_after_sex(m.group("after")) or parse_occupation(flat)
        return Patient(age=age if plausible_age(age) else None, sex=sex, occupation=occupation)
    age_m = _AGE_ONLY.search(flat)
    sex_m = _SEX_ONLY.search(flat)
    return Patient(
        age=int(age_m.group("age")) if age_m else None,
        sex=_SEX_WORDS[sex_m.group("sex").lower()] if sex_m else None,
        occupation=parse_occupation(flat),
    )


def parse_date_of_injury(text: str) -> dt.date | None:
    return _date_of_injury(clean(text))


def _date_of_injury(flat: str) -> dt.date | None:
    m = _INJURY.search(flat)
    return first_date(m.group("date")) if m else None


def age_sex_verdict(field: str, value: object, flat: str, states_age_sex: bool) -> Verdict:
    """How sure the rules are of ``patient.age`` / ``patient.sex`` read from ``flat``."""
    if states_age_sex and value is not None:
        return Verdict(EXACT, "summary: '<age> year old <sex>'")
    if value is not None:
        rule = "an age without a sex word" if field == "patient.age" else "'is a <sex>'"
        return Verdict(HEURISTIC, f"summary: {rule}")
    if field == "patient.age" and not _AGE_CUE.search(flat) and not _AGE_ONLY.search(flat):
        return Verdict(EXACT, "summary: no age stated")
    return Verdict(UNDECIDED, "summary: no age/sex phrase matched")


def no_summary_readings() -> tuple[Reading, ...]:
    """The readings of a letter without a case summary: nothing there to read."""
    verdict = Verdict(EXACT, "no case summary")
    return tuple(reading(f, None, verdict) for f in ("patient.age", "patient.sex"))


def parse_summary(text: str) -> CaseSummary:
    flat = clean(text)
    listed = read_diagnoses(flat)
    age_sex = _AGE_SEX.search(flat)
    states_age_sex = age_sex is not None
    patient = _patient(flat, age_sex)
    return CaseSummary(
        patient=patient,
        date_of_injury=_date_of_injury(flat),
        diagnoses=listed.diagnoses,
        doubts=listed.doubts,
        readings=(
            *(
                reading(f, v, age_sex_verdict(f, v, flat, states_age_sex))
                for f, v in (("patient.age", patient.age), ("patient.sex", patient.sex))
            ),
            reading(
                "diagnoses",
                [clean(d) for d in listed.diagnoses],
                listed.verdict,
                tuple([clean(d) for d in o.diagnoses] for o in listed.others),
            ),
        ),
        states_age_sex=states_age_sex,
        flat=flat,
    )
