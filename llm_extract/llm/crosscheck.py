"""Arbitration: the parser's value or the LLM's, decided by evidence.

The hybrid asks the LLM only for fields the parser is not certain of
(its readings, :mod:`llm_extract.rules.readings`).  For each answered field the table
:data:`ARBITERS` says where the value must stand in the letter (the case
summary, the item's decision statement, the whole letter), how it is located
(:mod:`llm_extract.evidence`), what makes it implausible, and how two values
compare.  One procedure, :func:`arbitrate_field`, then decides, in order:

1. the LLM gave nothing -> the parser's value (a count the parser read by a
   heuristic is flagged: "a count" against "no count" is two readings);
2. agreement settles it (``reader="both"``);
3. a value that breaks its field's validator loses (a strength or a volume
   as a count, a device as a body region, a complaint as a diagnosis, a job
   word such as "injured worker" as an occupation) -- the parser's too, when
   the model's grounded value passes;
4. a grounded value beats an ungrounded one;
5. the parser found nothing: a grounded LLM value fills it (a count is
   flagged: the parser's count rules saw numbers and declined); an ungrounded one
   is dropped (a category, which gold always has, is kept and the record
   flagged) -- an ungrounded LLM value is never kept silently;
6. two grounded, plausible readings that disagree: the better-evidenced one
   is kept (the parser's on a tie), both go into ``checks`` and the record is
   flagged (``record.flag``) -- unless the difference is immaterial (the
   model dropped a release modifier from a drug name; a diagnosis list split
   differently into the same diagnoses, of the same number).  The flag names
   the field and both readings.  For diagnoses, the number compared counts the
   model's diagnoses that stand in a diagnosis sentence or are a part of one
   of the parser's; a different number is a splitting disagreement.

Decisions and the item list are never asked: they stay the parser's.

One module over ~400 lines on purpose: the table, its validators and the one
procedure are read together when a rule is added or questioned.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..evidence import Found, Locator, field_value, locate, make_evidence
from ..models import Category, Check, Evidence, Item, Medication, Record
from ..normalize import jsonable
from ..rules.categories import has_keyword_for
from ..rules.counts import blank_not_counts, words_to_digits
from ..rules.diagnoses import Doubt
from ..textsets import SAME_DIAGNOSIS, diagnosis_matches, jaccard, words
from ..vocab import ANATOMY, QUALIFIER, SITE, names_the_patient, plausible_age
from .doubts import matched, supported_alternative

_DIAGNOSIS_CUE = re.compile(r"diagnos|treat(?:ed|ment|ing)\s+for|impression|assessment|ICD", re.I)
_CUE_IN_VALUE = re.compile(r"\bdiagnos\w*|\bincludes?\b|\btreated\s+for\b", re.I)
_STRENGTH_IN_NAME = re.compile(r"\d\s*(?:mg|mcg|%|ml|g)(?![A-Za-z])", re.I)
_TIME_UNIT_AFTER = re.compile(
    r"\s*-?\s*(?:days?|months?|years?|hours?|hrs?|minutes?|mins?)\b", re.I
)
_WEEKS_AFTER = re.compile(r"\s*-?\s*(?:weeks?|wks?)\b", re.I)
# The low end of a range of durations ("7-10 days", "2 to 4 weeks") is a duration too.
_RANGE_AFTER = re.compile(r"\s*(?:-|to|\u2013)\s*\d+", re.I)
_MODIFIER = re.compile(
    r"^(?:(?:ER|XR|SR|CR|DR|ODT|XL|HCL|HCl|DS|CD|LA|IR|\(.*\)|sodium|hydrochloride)\s*)+$"
)

REASON_UNAVAILABLE = "LLM unavailable: {reason}"


@dataclass(frozen=True)
class LetterContext:
    """Where each kind of value should stand, as ``(start, end)`` ranges of the letter text."""

    text: str
    summary: tuple[int, int] | None
    lines: list[tuple[int, int]]  # each item's decision statement
    # The parser's doubts about its diagnosis list, each with the other reading.
    diagnosis_doubts: tuple[Doubt, ...] = ()

    def ranges(self, where: str, item: int | None) -> list[tuple[int, int]]:
        if where == "summary":
            return [self.summary] if self.summary else []
        if where == "letter":
            return [*([self.summary] if self.summary else []), (0, len(self.text))]
        if item is not None and item < len(self.lines):
            return [self.lines[item]]
        return []


@dataclass(frozen=True)
class Arbiter:
    """How one kind of field is arbitrated (one row of :data:`ARBITERS`)."""

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
    # A heuristic reading whose disagreement is a review signal even where one
    # reader found nothing: the parser's count rules saw numbers and declined
    # (or picked one), so "a count" against "no count" is two readings.
    contested_when_one_is_missing: bool = False


def _fold(v: Any) -> Any:
    return " ".join(v.split()).casefold() if isinstance(v, str) else v


def _same_text(a: Any, b: Any) -> bool:
    return _fold(a) == _fold(b)


def _quantity_implausible(value: int, request: str) -> str | None:
    """A count must be written outside strengths, volumes, levels and dates, and not be a duration."""
    if value <= 0:
        return "not a positive count"
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


def _body_region_implausible(value: str, request: str) -> str | None:
    if not ANATOMY.search(value):
        return "names no anatomy (a device is not a body region)"
    # The request copied around a site ("chiropractic joint manipulation times
    # 12", seen on a test letter) is no body region: more than one word left
    # once anatomy, sides and positions are set aside.
    rest = re.findall(r"[^\W_]+", _REGION_WORDS.sub(" ", ANATOMY.sub(" ", value)))
    if len(rest) > 1:
        return f"holds words that are no body part ({' '.join(rest[:4])})"
    # A treatment word ("joint manipulation", "knee brace") is the request, not a site.
    treats = [c.value for c in Category if has_keyword_for(c, value)]
    if treats:
        return f"names a treatment ({treats[0]}), not a body part"
    return None


def _occupation_implausible(value: str, text: str) -> str | None:
    # The model may copy what the summary calls the patient ("injured worker"),
    # grounded but no job.
    return "a word for the patient, not a job" if names_the_patient(value) else None


def _medication_implausible(value: str, request: str) -> str | None:
    return "holds a strength" if _STRENGTH_IN_NAME.search(value) else None


def _modifier_only(llm: Any, rules: Any) -> bool:
    """The model dropped what RECORD.md keeps in a drug name (release modifiers, salts)."""
    a, b = _fold(llm), _fold(rules)
    if not (isinstance(a, str) and isinstance(b, str)) or not b.startswith(a):
        return False
    rest = rules.strip()[len(llm.strip()) :].strip()
    return bool(rest) and bool(_MODIFIER.match(rest))


def _age_implausible(value: int, text: str) -> str | None:
    return None if plausible_age(value) else "not an age"


def _same_diagnoses(a: Any, b: Any) -> bool:
    return {_fold(x) for x in a} == {_fold(x) for x in b}


def _diagnoses_match(llm: list[str], rules: list[str]) -> bool:
    """The same diagnoses, written differently: every one matched as the scorer matches them."""
    return len(llm) == len(rules) and len(diagnosis_matches(rules, llm)) == len(llm)


def _find_int_no_products(loc: Locator, value: Any, where: list[tuple[int, int]]) -> Found | None:
    for lo, hi in where:
        found = loc.find_int(value, lo, hi, products=False)
        if found:
            return found
    return None


def _find_category(loc: Locator, value: Any, where: list[tuple[int, int]]) -> Found | None:
    # A category is grounded by the request it was derived from: one of the
    # category's own keywords occurs there.
    for lo, hi in where:
        if has_keyword_for(value, loc.text[lo:hi]):
            return Found(((lo, hi),), "exact")
    return None


ARBITERS: dict[str, Arbiter] = {
    "age": Arbiter("summary", _age_implausible, find=_find_int_no_products),
    "sex": Arbiter("summary"),
    "occupation": Arbiter(
        "letter", _occupation_implausible, _same_text, immaterial=lambda a, b: False
    ),
    "date_of_injury": Arbiter("summary"),
    "category": Arbiter("request", keep_ungrounded=True, find=_find_category),
    "body_region": Arbiter("request", _body_region_implausible, _same_text),
    "medication_name": Arbiter(
        "request", _medication_implausible, _same_text, immaterial=_modifier_only
    ),
    "quantity": Arbiter("request", _quantity_implausible, contested_when_one_is_missing=True),
}
# The record path of each answer key ({i}: the item's index).
PATHS = {
    "age": "patient.age",
    "sex": "patient.sex",
    "occupation": "patient.occupation",
    "date_of_injury": "date_of_injury",
    "diagnoses": "diagnoses",
    "category": "items[{i}].category",
    "body_region": "items[{i}].body_region",
    "medication_name": "items[{i}].medication.name",
    "quantity": "items[{i}].quantity",
}


@dataclass
class _Arbitration:
    record: Record
    ctx: LetterContext
    loc: Locator

    def check(
        self, path: str, llm: Any, rules: Any, kept: str, reason: str, *, resolved: bool
    ) -> None:
        self.record.checks = [
            *self.record.checks,
            Check(
                field=path,
                llm_value=jsonable(llm),
                rules_value=jsonable(rules),
                kept=kept,
                reason=reason,
                resolved=resolved,
            ),
        ]

    def set_evidence(self, ev: Evidence) -> None:
        self.record.evidence = [e if e.field != ev.field else ev for e in self.record.evidence] + (
            [] if any(e.field == ev.field for e in self.record.evidence) else [ev]
        )


def _llm_evidence(path: str, found: Found | None) -> Evidence:
    return make_evidence(
        path,
        found.to_spans() if found else [],
        reader="llm",
        rule="llm",
        certainty="heuristic",
        grounded=found is not None,
    )


def _set(record: Record, path: str, value: Any) -> None:
    m = re.fullmatch(r"items\[(\d+)\]\.(.+)", path)
    if m is None:
        if path.startswith("patient."):
            setattr(record.patient, path.split(".", 1)[1], value)
        else:
            setattr(record, path, value)
        return
    item: Item = record.items[int(m.group(1))]
    leaf = m.group(2)
    if leaf == "medication.name":
        if value is None:
            return
        if item.medication is None:
            item.medication = Medication(name=value)
        else:
            item.medication.name = value
    else:
        setattr(item, leaf, value)


def arbitrate_field(a: _Arbitration, key: str, path: str, llm: Any, item: int | None) -> None:
    """One field by :data:`ARBITERS`; see the module docstring for the order of the rules."""
    arb = ARBITERS[key]
    rec = a.record
    rules = field_value(rec, path)
    rules_ev = rec.evidence_for(path)
    heuristic = rules_ev is not None and rules_ev.certainty != "exact"
    if llm is None:
        if rules is not None and heuristic and arb.contested_when_one_is_missing:
            a.check(path, None, rules, "rules", "the model reads none", resolved=False)
            rec.flag(f"{path}: the parser reads {_show(rules)}, the model reads none")
        return
    if arb.same(llm, rules):
        if rules_ev is not None:
            a.set_evidence(rules_ev.model_copy(update={"reader": "both"}))
        return
    where = a.ctx.ranges(arb.where, item)
    text = " ".join(a.loc.text[lo:hi] for lo, hi in where)
    found = arb.find(a.loc, llm, where)
    bad = arb.implausible(llm, text)
    if bad:
        a.check(path, llm, rules, "rules", f"the model's value {bad}", resolved=True)
        return
    rules_grounded = rules is not None and (rules_ev is None or rules_ev.grounded)
    if found is None:
        if rules is None and arb.keep_ungrounded:
            _set(rec, path, llm)
            a.set_evidence(_llm_evidence(path, None))
            a.check(
                path,
                llm,
                None,
                "llm",
                "the parser has no rule for it; the model's reading only",
                resolved=False,
            )
            rec.flag(f"{path} is the model's reading only (not grounded in the request)")
            return
        a.check(
            path, llm, rules, "rules", "the model's value is not in the letter text", resolved=True
        )
        return
    rules_bad = arb.implausible(rules, text) if rules is not None else None
    if rules is None or not rules_grounded or rules_bad:
        # The parser found nothing (a grounded fill), found a value the text does
        # not hold, or one that breaks the validator the model's value passes.
        _set(rec, path, llm)
        a.set_evidence(_llm_evidence(path, found))
        if rules is None and arb.contested_when_one_is_missing:
            a.check(path, llm, None, "llm", "the parser's rules read no value", resolved=False)
            rec.flag(f"{path}: the model reads {_show(llm)}, the parser's rules none")
        elif rules_bad:
            a.check(path, llm, rules, "llm", f"the parser's value {rules_bad}", resolved=True)
        elif rules is not None:
            a.check(
                path,
                llm,
                rules,
                "llm",
                "the model's value is in the letter text, the parser's is not",
                resolved=True,
            )
        return
    if arb.immaterial(llm, rules):
        a.check(
            path,
            llm,
            rules,
            "rules",
            "the parser keeps what RECORD.md keeps (modifiers, salts)",
            resolved=True,
        )
        return
    # Two grounded, plausible readings.  The better-evidenced one is kept: the
    # parser's value is cut verbatim by a rule, the model's is a reading of
    # the same text, so the parser's wins the tie; a person decides.
    a.check(path, llm, rules, "rules", "two readings, both in the letter text", resolved=False)
    rec.flag(f"{path}: the parser reads {_show(rules)}, the model {_show(llm)}")


def _show(value: Any) -> str:
    v = jsonable(value)
    return repr(v) if isinstance(v, str) else str(v)


def arbitrate_diagnoses(a: _Arbitration, llm: list[str]) -> None:
    """Diagnoses element-wise: grounded, in a diagnosis sentence, not a complaint."""
    rec = a.record
    path = "diagnoses"
    rules = list(rec.diagnoses)
    rules_ev = rec.evidence_for(path)
    if not llm or _same_diagnoses(llm, rules):
        if llm and rules_ev is not None:
            a.set_evidence(rules_ev.model_copy(update={"reader": "both"}))
        return
    where = a.ctx.ranges("summary", None)
    if _settle_doubt(a, llm, rules, where):
        return
    kept: list[str] = []
    spans: list[Found] = []
    dropped: list[str] = []
    # The model's diagnoses the letter attests: kept ones, and those that are
    # a part of one of the parser's (it split "back and left shoulder pain"
    # into "back pain" and "left shoulder pain", which is not written as such).
    # Their number against the parser's is the splitting disagreement.
    attested = 0
    for d in llm:
        found = locate(a.loc, d, where)
        if found is None and not _not_a_diagnosis(d):
            attested += any(words(d) <= words(r) for r in rules)
        sentence = _sentence_around(a.loc.text, found) if found else ""
        # A complaint ("complains of neck pain") is no diagnosis: a kept one
        # stands in a sentence with a diagnosis cue.
        if found is None or _not_a_diagnosis(d) or not _DIAGNOSIS_CUE.search(sentence):
            dropped.append(d)
        else:
            kept.append(d)
            spans.append(found)
            attested += 1
    heuristic = rules_ev is None or rules_ev.certainty != "exact"
    if dropped:
        a.check(
            path,
            dropped,
            rules,
            "rules",
            "not in a diagnosis sentence of the summary (a complaint, or not in the text)",
            resolved=True,
        )
    if not kept:
        if rules and heuristic and attested > 1 and attested != len(rules):
            _flag_diagnoses(a, llm, rules)
        return
    rules_bad = [d for d in rules if _not_a_diagnosis(d)]
    if (
        not rules_bad
        and attested == len(kept) < len(rules)
        and matched(kept, rules) == len(kept)
        and not any(_covers_two(k, rules) for k in kept)
    ):
        # Every diagnosis the model read is one of the parser's, one to one:
        # the model left some out.  An omission is no evidence against a
        # diagnosis the parser cut from a cue sentence (a doubt about one is
        # flagged by the parser itself).
        a.check(
            path,
            kept,
            rules,
            "rules",
            "the model's list leaves out diagnoses the parser read after the cue",
            resolved=True,
        )
        return
    merged = Found(tuple(s for f in spans for s in f.spans), "exact")
    # The parser's list loses when it holds a non-diagnosis and the model's
    # list, all grounded, still covers every plausible diagnosis the parser had.
    covers = all(
        any(words(d) <= words(k) or jaccard(d, k) >= SAME_DIAGNOSIS for k in kept)
        for d in rules
        if d not in rules_bad
    )
    if not rules or (rules_bad and not dropped and covers):
        rec.diagnoses = kept
        a.set_evidence(_llm_evidence(path, merged))
        if rules:
            a.check(
                path,
                kept,
                rules,
                "llm",
                "the parser's list holds a non-diagnosis (a cue word, or a body part alone)",
                resolved=True,
            )
        return
    if _diagnoses_match(kept, rules) and (attested == len(rules) or not heuristic):
        a.check(
            path, kept, rules, "rules", "the same diagnoses, written differently", resolved=True
        )
        return
    _flag_diagnoses(a, llm if attested != len(kept) else kept, rules)


def _covers_two(value: str, rules: list[str]) -> bool:
    """Does ``value`` hold most words of two of the parser's diagnoses (a merge, not one)?"""
    w = words(value)
    return sum(len(words(r) & w) * 2 >= len(words(r)) for r in rules) >= 2


def _settle_doubt(
    a: _Arbitration, llm: list[str], rules: list[str], where: list[tuple[int, int]]
) -> bool:
    """The parser's other reading of a doubted list, where the model's list supports it.

    Both readings are cut from the letter by the parser; the model decides
    between them (llm/doubts.py).  The letter keeps its doubt flag.
    """
    doubt = supported_alternative(llm, rules, a.ctx.diagnosis_doubts)
    if doubt is None or doubt.alternative is None:
        return False
    other = list(doubt.alternative)
    found = [locate(a.loc, d, where) for d in other]
    if any(f is None for f in found):
        return False  # a reading the text does not hold is never kept
    a.record.diagnoses = other
    a.set_evidence(
        make_evidence(
            "diagnoses",
            [s for f in found if f for s in f.to_spans()],
            reader="both",
            rule=f"summary: the parser's other reading ({doubt.kind}), which the model's supports",
            certainty="heuristic",
            grounded=True,
        )
    )
    a.check(
        "diagnoses",
        llm,
        rules,
        "rules",
        f"{doubt.reason}; the model reads it the other way",
        resolved=True,
    )
    return True


def _flag_diagnoses(a: _Arbitration, llm: list[str], rules: list[str]) -> None:
    """Two readings of the list (a different number, or a diagnosis the other lacks): flag."""
    a.check(
        "diagnoses",
        llm,
        rules,
        "rules",
        "two readings of the diagnosis list, both in the summary",
        resolved=False,
    )
    a.record.flag(
        f"diagnoses: the parser reads {len(rules)} ({'; '.join(rules)}), "
        f"the model {len(llm)} ({'; '.join(llm)})"
    )


def _not_a_diagnosis(value: str) -> bool:
    """A cue word kept inside the value, or a body part alone ("right wrist")."""
    v = value.strip()
    # An ICD qualifier alone ("initial encounter", "unspecified") only
    # qualifies the diagnosis before it.
    return bool(_CUE_IN_VALUE.search(v)) or bool(SITE.fullmatch(v)) or bool(QUALIFIER.match(v))


def _sentence_around(text: str, found: Found) -> str:
    s = found.spans[0][0]
    e = found.spans[-1][1]
    lo = max(text.rfind(". ", 0, s), text.rfind("\n\n", 0, s)) + 1
    hi = text.find(". ", e)
    return text[lo : len(text) if hi == -1 else hi]


def arbitrate(
    rules: Record,
    answers: list[tuple[str, int | None, Any]],
    ctx: LetterContext,
    locator: Locator | None = None,
) -> Record:
    """The hybrid record: ``rules`` with each ``(key, item index, LLM value)`` arbitrated.

    ``locator``: the caller's locator over ``ctx.text``, whose cached section
    views are then reused (the hybrid backend builds one per letter).
    """
    a = _Arbitration(rules.model_copy(deep=True), ctx, locator or Locator(ctx.text))
    for key, item, value in answers:
        if key == "diagnoses":
            arbitrate_diagnoses(a, value)
            continue
        path = PATHS[key].format(i=item)
        if (
            key == "medication_name"
            and a.record.items[item or 0].category is not Category.MEDICATION
        ):
            continue
        arbitrate_field(a, key, path, value, item)
    for i, it in enumerate(a.record.items):
        if it.category is None:
            a.record.flag(f"items[{i}].category: neither reader could decide it")
    return a.record
