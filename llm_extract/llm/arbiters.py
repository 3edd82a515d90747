"""How one askable field is arbitrated: where its value must stand, what makes it implausible.

Each row of the askable table (:mod:`.askable`) carries an :class:`Arbiter`
built from the validators here; :mod:`.crosscheck` runs the one procedure
over them.  A validator gets the value and the text it should stand in, and
says why the value is implausible (None: plausible).  What a well-formed
value of a field looks like (an age, a count's bounds, a drug name without a
strength or a count) is not repeated here: :mod:`llm_extract.shapes` decides
it for every field, and the arbitration applies it before the validator.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..evidence import Found, Locator, locate
from ..models import Category
from ..rules.categories import has_keyword_for
from ..rules.counts import blank_not_counts, words_to_digits
from ..shapes import ill_formed
from ..vocab import ANATOMY, names_the_patient

_TIME_UNIT_AFTER = re.compile(
    r"\s*-?\s*(?:days?|months?|years?|hours?|hrs?|minutes?|mins?)\b", re.I
)
_WEEKS_AFTER = re.compile(r"\s*-?\s*(?:weeks?|wks?)\b", re.I)
# The low end of a range of durations ("7-10 days", "2 to 4 weeks") is a duration too.
_RANGE_AFTER = re.compile(r"\s*(?:-|to|\u2013)\s*\d+", re.I)
_MODIFIER = re.compile(
    r"^(?:(?:ER|XR|SR|CR|DR|ODT|XL|HCL|HCl|DS|CD|LA|IR|\(.*\)|sodium|hydrochloride)\s*)+$"
)


@dataclass(frozen=True)
class Arbiter:
    """How one askable field is arbitrated (a column of :data:`.askable.ASKABLE`)."""

    where: str  # "summary" | "request" | "letter"
    # Why a value is implausible (None: plausible); gets the value and the text it should stand in.
    implausible: Callable[[Any, str], str | None] = lambda v, text: None
    same: Callable[[Any, Any], bool] = lambda a, b: a == b
    # Keep an ungrounded LLM value where the parser found none (flagged)?
    keep_ungrounded: bool = False
    # Two grounded readings whose difference does not matter (keep the parser's, no flag).
    immaterial: Callable[[Any, Any], bool] = lambda llm, rules: False
    # Locate a value (default: the evidence locator by type).
    find: Callable[[Locator, Any, list[tuple[int, int]]], Found | None] = locate
    # Arbitrated element by element (a list: llm/diagnosis_arbitration.py).
    elementwise: bool = False
    # Asked only of items of this category (a drug name only for a medication).
    only_for: Category | None = None
    # A heuristic reading whose disagreement is a review signal even where one
    # reader found nothing: the parser's count rules saw numbers and declined
    # (or picked one), so "a count" against "no count" is two readings.
    contested_when_one_is_missing: bool = False

    def fault(self, path: str, value: Any, text: str) -> str | None:
        """Why ``value`` cannot win for the field at ``path``: it lacks the field's
        shape (:func:`llm_extract.shapes.ill_formed`), or breaks this field's
        validator against ``text``; None: it may win."""
        return ill_formed(path, value) or self.implausible(value, text)


def fold(v: Any) -> Any:
    return " ".join(v.split()).casefold() if isinstance(v, str) else v


def same_text(a: Any, b: Any) -> bool:
    return fold(a) == fold(b)


def quantity_implausible(value: int, request: str) -> str | None:
    """A count must be written outside strengths, volumes, levels and dates, and not be a duration.

    Its bounds (a positive count) are its field's shape, checked before any
    validator (:func:`llm_extract.shapes.ill_formed`).
    """
    spelled = words_to_digits(request)
    blanked = blank_not_counts(spelled)

    def unit_after(pattern: re.Pattern[str], end: int) -> bool:
        rng = _RANGE_AFTER.match(blanked, end)
        return bool(pattern.match(blanked, end) or (rng and pattern.match(blanked, rng.end())))

    # Numbers of days, months, years or hours are durations, never factors of a count.
    nums = [
        int(m.group(0))
        for m in re.finditer(r"\d+", blanked)
        if not unit_after(_TIME_UNIT_AFTER, m.end())
    ]
    # A lone number of weeks is a duration too ("cold therapy for one week");
    # weeks count only as a factor (2 times a week for 6 weeks).
    alone = [
        int(m.group(0))
        for m in re.finditer(r"\d+", blanked)
        if (not unit_after(_TIME_UNIT_AFTER, m.end()) and not unit_after(_WEEKS_AFTER, m.end()))
        # "#60" is the count notation even where "day supply" follows it.
        or blanked[: m.start()].rstrip().endswith("#")
    ]
    if value in alone:
        return None
    if any(a * b == value for i, a in enumerate(nums) for b in nums[i + 1 :]):
        return None
    if any(int(m.group(0)) == value for m in re.finditer(r"\d+", spelled)):
        return "the number is a strength, volume, level, date or duration, not a count"
    return None  # not written at all: the grounding step decides


# Words a body region holds besides anatomy: sides, positions, joiners.
_REGION_WORDS = re.compile(
    r"\b(?:and|or|of|the|both|bilateral|bilat|right|left|sided|upper|lower|low|mid|middle"
    r"|medial|lateral|anterior|posterior|proximal|distal|region|regions|area|areas|level"
    r"|levels|muscles?|soft|tissues?|side|sides)\b",
    re.I,
)


def body_region_implausible(value: str, request: str) -> str | None:
    if not ANATOMY.search(value):
        return "names no anatomy (a device is not a body region)"
    # The request copied around a site ("chiropractic joint manipulation times
    # 12") is no body region: more than one word left
    # once anatomy, sides and positions are set aside.
    rest = re.findall(r"[^\W_]+", _REGION_WORDS.sub(" ", ANATOMY.sub(" ", value)))
    if len(rest) > 1:
        return f"holds words that are no body part ({' '.join(rest[:4])})"
    # A treatment word ("joint manipulation", "knee brace") is the request, not a site.
    treats = [c.value for c in Category if has_keyword_for(c, value)]
    if treats:
        return f"names a treatment ({treats[0]}), not a body part"
    return None


def shape_of(field: str) -> Callable[[Any, str], str | None]:
    """A validator that is its field's shape check (:func:`llm_extract.shapes.ill_formed`):
    where a field's only validator is its shape, the shape module serves."""
    return lambda value, text: ill_formed(field, value)


# An age a person can have; a drug name without a strength, a form or a count.
age_implausible = shape_of("patient.age")
medication_implausible = shape_of("medication.name")


def occupation_implausible(value: str, text: str) -> str | None:
    # The model may copy what the summary calls the patient ("injured worker"),
    # grounded but no job.
    return "a word for the patient, not a job" if names_the_patient(value) else None


def modifier_only(llm: Any, rules: Any) -> bool:
    """The model dropped what RECORD.md keeps in a drug name (release modifiers, salts)."""
    a, b = fold(llm), fold(rules)
    if not (isinstance(a, str) and isinstance(b, str)) or not b.startswith(a):
        return False
    rest = rules.strip()[len(llm.strip()) :].strip()
    return bool(rest) and bool(_MODIFIER.match(rest))


def same_diagnoses(a: Any, b: Any) -> bool:
    return {fold(x) for x in a} == {fold(x) for x in b}


def find_int_no_products(loc: Locator, value: Any, where: list[tuple[int, int]]) -> Found | None:
    for lo, hi in where:
        found = loc.find_int(value, lo, hi, products=False)
        if found:
            return found
    return None


def find_category(loc: Locator, value: Any, where: list[tuple[int, int]]) -> Found | None:
    # A category is grounded by the request it was derived from: one of the
    # category's own keywords occurs there.
    for lo, hi in where:
        if has_keyword_for(value, loc.text[lo:hi]):
            return Found(((lo, hi),), "exact")
    return None
