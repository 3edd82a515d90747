"""Merge the LLM's answer into the parser's record, recording every disagreement.

Who wins, and why (docs/llm-backends.md has the table):

- **held to the parser** — item list, decisions, dates, counts, age, sex: the
  parser reads them from fixed places (the decision word after the colon, the
  header labels, "a 52 year old male"); the LLM's value is only a check.
- **filled by the LLM** — what the parser leaves null because its rules do not
  cover it: an unfamiliar request's category, a body region or drug name the
  keyword lists miss, diagnoses and occupation in unusual phrasing.  A copied
  value is used only when it occurs in the text it was copied from.

Each disagreement becomes a :class:`~llm_extract.models.Check`.  It is
*resolved* when the rule that picked a side is certain (the decision word is
literal text; the header's date of injury wins by RECORD.md; the parser's
count is written in the request); otherwise — two readings of a count, an
age or a date with no rule to choose — it is unresolved and the record is
marked ``needs_review``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from ..document.text import find_dates
from ..models import Category, Check, Item, Medication, Record
from .excerpts import grounded
from .schemas import HybridAnswer, ItemLabel

# A body region the model proposes must name anatomy. Being copied from the
# request is not enough: on the holdout letters the model answered the device
# itself ("wheelchair", "commode", "bath/shower chair") where the request names
# no site. This list is deliberately wider than the parser's site words, so the
# model can still add sites the parser does not know.
_ANATOMY = re.compile(
    r"\b(?:spin|cervic|thorac|lumb|sacr|cocc|neck|head|fac(?:e|ial)|jaw|tmj|temporomandib"
    r"|chest|rib|abdom|pelv|groin|butt|glute|hip|thigh|leg|knee|ankle|foot|feet|toe|heel"
    r"|shoulder|arm|elbow|wrist|hand|finger|thumb|digit|extremit|trapez|paraspin|carpal"
    r"|cubital|tarsal|scalp|skull|cran|clavic|scapul|calf|shin|hamstring|quadricep|achilles"
    r"|plantar|menisc|rotator|bicep|tricep|lung|heart|kidney|bladder|prostat|breast|skin"
    r"|teeth|tooth|dental|back|torso|trunk|joint)\w*"
    r"|\b(?:eyes?|ears?|nose|mouth|[CTLS]\d(?:\s*-\s*[CTLS]?\d)?)\b",
    re.I,
)

# What letters call the patient is not an occupation.  On a holdout letter the
# model answered occupation "injured worker" (copied from the summary, so
# grounded) for a patient whose job is never stated.
_NOT_AN_OCCUPATION = re.compile(
    r"^(?:the\s+|an?\s+)?(?:injured\s+)?(?:worker|employee|patient|claimant|applicant"
    r"|individual|person|man|woman|male|female|ip|iw)s?$",
    re.I,
)

HELD_DECISION = "decisions are held to the parser's reading of the decision word"
HELD_ITEMS = "the item list is held to the parser's segmentation of the decision lines"


@dataclass
class LetterContext:
    """The text each LLM value was drawn from, for grounding and tie-breaks."""

    summary: str
    requests: list[str]
    header_has_injury_date: bool = False


@dataclass
class _Merger:
    record: Record
    checks: list[Check] = field(default_factory=list)

    def check(
        self, name: str, llm: Any, rules: Any, kept: str, reason: str, *, resolved: bool
    ) -> None:
        self.checks.append(
            Check(
                field=name,
                llm_value=_plain(llm),
                rules_value=_plain(rules),
                kept=kept,
                reason=reason,
                resolved=resolved,
            )
        )


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "value"):  # enums
        return value.value
    return value


def merge(rules: Record, answer: HybridAnswer, ctx: LetterContext) -> Record:
    """The hybrid record: ``rules`` with the LLM's fills, checks and ``needs_review``."""
    m = _Merger(rules.model_copy(deep=True))
    _merge_letter(m, answer, ctx)
    _merge_items(m, answer.items, ctx)
    m.record.checks = [*rules.checks, *m.checks]
    m.record.needs_review = rules.needs_review or any(not c.resolved for c in m.record.checks)
    return m.record


def _merge_letter(m: _Merger, a: HybridAnswer, ctx: LetterContext) -> None:
    rec = m.record
    # Date of injury: held to the parser; filled only with a date the summary states.
    if a.date_of_injury is not None:
        if rec.date_of_injury is None:
            if a.date_of_injury in {d for d, _, _ in find_dates(ctx.summary)}:
                rec.date_of_injury = a.date_of_injury
        elif rec.date_of_injury != a.date_of_injury:
            if ctx.header_has_injury_date:
                m.check(
                    "date_of_injury",
                    a.date_of_injury,
                    rec.date_of_injury,
                    "rules",
                    "the header's date of injury wins over the summary's (RECORD.md)",
                    resolved=True,
                )
            else:
                m.check(
                    "date_of_injury",
                    a.date_of_injury,
                    rec.date_of_injury,
                    "rules",
                    "two readings of the date of injury; the parser's is kept",
                    resolved=False,
                )
    # Age and sex: stated together ("a 52 year old male"); held to the parser.
    p = rec.patient
    if a.age is not None:
        if p.age is None:
            if str(a.age) in ctx.summary:
                p.age = a.age
        elif p.age != a.age:
            m.check(
                "patient.age",
                a.age,
                p.age,
                "rules",
                "two readings of the age; the parser's is kept",
                resolved=False,
            )
    if a.sex is not None:
        if p.sex is None:
            if a.sex.value in ctx.summary.lower():
                p.sex = a.sex
        elif p.sex != a.sex:
            m.check(
                "patient.sex",
                a.sex,
                p.sex,
                "rules",
                "the sex stated with the age is kept (the parser's reading)",
                resolved=False,
            )
    # Occupation and diagnoses: the parser knows the usual phrasings only.
    if (
        a.occupation is not None
        and grounded(a.occupation, ctx.summary)
        and not _NOT_AN_OCCUPATION.match(a.occupation.strip())
    ):
        if p.occupation is None:
            p.occupation = a.occupation
        elif p.occupation.casefold() != a.occupation.casefold():
            m.check(
                "patient.occupation",
                a.occupation,
                p.occupation,
                "rules",
                "the parser matched the stated-occupation phrase",
                resolved=True,
            )
    llm_dx = [d for d in a.diagnoses if grounded(d, ctx.summary)]
    if llm_dx:
        if not rec.diagnoses:
            rec.diagnoses = llm_dx
        elif {d.casefold() for d in llm_dx} != {d.casefold() for d in rec.diagnoses}:
            m.check(
                "diagnoses",
                llm_dx,
                rec.diagnoses,
                "rules",
                "the parser split the summary's diagnosis list",
                resolved=True,
            )


def _merge_items(m: _Merger, labels: list[ItemLabel], ctx: LetterContext) -> None:
    items = m.record.items
    by_n: dict[int, ItemLabel] = {}
    for answered in labels:
        by_n.setdefault(answered.n, answered)
    if sorted(by_n) != list(range(1, len(items) + 1)) or len(labels) != len(items):
        m.check("items", len(labels), len(items), "rules", HELD_ITEMS, resolved=True)
    for i, item in enumerate(items):
        label = by_n.get(i + 1)
        if label is not None:
            request = ctx.requests[i] if i < len(ctx.requests) else item.request
            _merge_item(m, i, item, label, request)


_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve".split()  # noqa: SIM905
    )
}
_NUMBER = re.compile(r"\d+|[a-z]+", re.I)


def count_is_written(count: int, request: str) -> bool:
    """True when ``count`` is a number in ``request``, or the product of two of them.

    Then the parser's count is read off the text (``#60``, ``2x6`` -> 12,
    ``two times a week for six weeks`` -> 12) and a different LLM count is
    the model's misreading, not a question for a person.
    """
    numbers = []
    for tok in _NUMBER.findall(request):
        if tok.isdigit():
            numbers.append(int(tok))
        elif tok.lower() in _NUMBER_WORDS:
            numbers.append(_NUMBER_WORDS[tok.lower()])
    if count in numbers:
        return True
    return any(a * b == count for i, a in enumerate(numbers) for b in numbers[i + 1 :])


def _merge_item(m: _Merger, i: int, item: Item, label: ItemLabel, request: str) -> None:
    where = f"items[{i}]"
    if label.decision is not None and label.decision != item.decision:
        m.check(
            f"{where}.decision",
            label.decision,
            item.decision,
            "rules",
            HELD_DECISION,
            resolved=True,
        )
    # Counts: the parser applies RECORD.md's counting rules (2x6 -> 12, a
    # range's upper bound, no count for a volume); two different numbers
    # need a person.  A count the parser did not find is not filled.
    if label.quantity is not None and label.quantity != item.quantity:
        if item.quantity is None:
            m.check(
                f"{where}.quantity",
                label.quantity,
                None,
                "rules",
                "the parser found no count in the request",
                resolved=True,
            )
        elif count_is_written(item.quantity, request):
            m.check(
                f"{where}.quantity",
                label.quantity,
                item.quantity,
                "rules",
                "the parser's count is written in the request (a number, or visits x weeks)",
                resolved=True,
            )
        else:
            m.check(
                f"{where}.quantity",
                label.quantity,
                item.quantity,
                "rules",
                "two readings of the count; the parser's is kept",
                resolved=False,
            )
    if label.category is not None:
        if item.category is None:
            item.category = label.category
        elif label.category != item.category:
            m.check(
                f"{where}.category",
                label.category,
                item.category,
                "rules",
                "the parser's category rule matched this request",
                resolved=True,
            )
    if (
        label.body_region is not None
        and grounded(label.body_region, request)
        and _ANATOMY.search(label.body_region)
    ):
        if item.body_region is None:
            item.body_region = label.body_region
        elif item.body_region.casefold() != label.body_region.casefold():
            m.check(
                f"{where}.body_region",
                label.body_region,
                item.body_region,
                "rules",
                "the parser matched the body region in the request",
                resolved=True,
            )
    name = label.medication_name
    if item.category is Category.MEDICATION and name is not None and grounded(name, request):
        if item.medication is None:
            item.medication = Medication(name=name)
        elif item.medication.name.casefold() != name.casefold():
            m.check(
                f"{where}.medication.name",
                name,
                item.medication.name,
                "rules",
                "the parser cut the drug name from the request",
                resolved=True,
            )
