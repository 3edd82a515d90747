"""Arbitration: the parser's value or the LLM's, decided by evidence.

The hybrid asks the LLM only for fields the parser is not certain of
(its readings, :mod:`llm_extract.rules.readings`).  For each answered field its row's
arbiter (:data:`llm_extract.llm.askable.ASKABLE`) says where the value must stand in the letter (the case
summary, the item's decision statement, the whole letter), how it is located
(:mod:`llm_extract.evidence`), what makes it implausible, and how two values
compare.  One procedure, :func:`arbitrate_field`, then decides, in order:

1. the LLM gave nothing -> the parser's value (a count the parser read by a
   heuristic is flagged: "a count" against "no count" is two readings);
2. agreement settles it (``reader="both"``);
3. a value without its field's shape (:mod:`llm_extract.shapes`: "3 months
   coverage of Viagra" as a drug name, a count of 0, an age of 150) or that
   breaks its field's validator (a strength or a volume as a count, a device
   as a body region, a complaint as a diagnosis, a job word such as "injured
   worker" as an occupation) loses -- the parser's too, when the model's
   grounded value passes; ``checks`` says which reading lost and why;
4. a grounded value beats an ungrounded one;
5. the parser found nothing: a grounded LLM value fills it (a count is
   flagged: the parser's count rules saw numbers and declined); an ungrounded one
   is dropped (a category, which gold always has, is kept and the record
   flagged) -- an ungrounded LLM value is never kept silently;
6. two grounded, plausible readings that disagree: the better-evidenced one
   is kept (the parser's on a tie), both go into ``checks`` and the record is
   flagged (``record.flag``, code ``readers_disagree`` on the field's path) -- unless the difference is immaterial (the
   model dropped a release modifier from a drug name; a diagnosis list split
   differently into the same diagnoses, of the same number).  The flag names
   the field and both readings.  For diagnoses, the number compared counts the
   model's diagnoses that stand in a diagnosis sentence or are a part of one
   of the parser's; a different number is a splitting disagreement.

Whatever the outcome, a kept value without its field's shape (the only
reading, or both readers agreeing on it) is flagged on its own field
(``ill_formed_value``, worded as the record's general checks word it, so the
flag is raised once).  Decisions and the item list are never asked: they stay
the parser's.

Which fields are asked and how each is arbitrated is one table
(:data:`llm_extract.llm.askable.ASKABLE`); the validators are in
:mod:`.arbiters`; the diagnosis list has its own procedure
(:mod:`.diagnosis_arbitration`).
"""

from __future__ import annotations

from typing import Any

from ..evidence import Locator
from ..field_paths import get_path, item_path, set_path
from ..models import Record
from ..review_flags import ReviewCode
from .arbiters import Arbiter
from .arbitration import Arbitration, LetterContext, llm_evidence, show
from .askable import row
from .diagnosis_arbitration import arbitrate_diagnoses

REASON_UNAVAILABLE = "LLM unavailable: {reason}"


def arbitrate_field(a: Arbitration, arb: Arbiter, path: str, llm: Any, item: int | None) -> None:
    """One field by its row's arbiter; see the module docstring for the order of the rules."""
    rec = a.record
    rules = get_path(rec, path)
    rules_ev = rec.evidence_for(path)
    heuristic = rules_ev is not None and rules_ev.certainty != "exact"
    if llm is None:
        if rules is not None and heuristic and arb.contested_when_one_is_missing:
            a.check(path, None, rules, "rules", "the model reads none", resolved=False)
            a.flag(
                ReviewCode.ONE_READER_ONLY,
                path,
                f"{path}: the parser reads {show(rules)}, the model reads none",
            )
        return
    if arb.same(llm, rules):
        if rules_ev is not None:
            a.set_evidence(rules_ev.model_copy(update={"reader": "both"}))
        return
    where = a.ctx.ranges(arb.where, item)
    text = " ".join(a.loc.text[lo:hi] for lo, hi in where)
    found = arb.find(a.loc, llm, where)
    bad = arb.fault(path, llm, text)
    if bad:
        a.check(path, llm, rules, "rules", f"the model's value {bad}", resolved=True)
        return
    rules_grounded = rules is not None and (rules_ev is None or rules_ev.grounded)
    if found is None:
        if rules is None and arb.keep_ungrounded:
            set_path(rec, path, llm)
            a.set_evidence(llm_evidence(path, None))
            a.check(
                path,
                llm,
                None,
                "llm",
                "the parser has no rule for it; the model's reading only",
                resolved=False,
            )
            a.flag(
                ReviewCode.UNGROUNDED,
                path,
                f"{path} is the model's reading only (not grounded in the request)",
            )
            return
        a.check(
            path, llm, rules, "rules", "the model's value is not in the letter text", resolved=True
        )
        return
    rules_bad = arb.fault(path, rules, text) if rules is not None else None
    if rules is None or not rules_grounded or rules_bad:
        # The parser found nothing (a grounded fill), found a value the text does
        # not hold, or one that breaks the validator the model's value passes.
        set_path(rec, path, llm)
        a.set_evidence(llm_evidence(path, found))
        if rules is None and arb.contested_when_one_is_missing:
            a.check(path, llm, None, "llm", "the parser's rules read no value", resolved=False)
            a.flag(
                ReviewCode.ONE_READER_ONLY,
                path,
                f"{path}: the model reads {show(llm)}, the parser's rules none",
            )
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
    a.flag(
        ReviewCode.READERS_DISAGREE,
        path,
        f"{path}: the parser reads {show(rules)}, the model {show(llm)}",
    )


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
    a = Arbitration(rules.model_copy(deep=True), ctx, locator or Locator(ctx.text))
    for key, item, value in answers:
        asked = row(key)
        path = asked.record_path(item)
        if asked.arbiter.elementwise:
            arbitrate_diagnoses(a, path, value)
            a.flag_ill_formed(path)
            continue
        only_for = asked.arbiter.only_for
        if only_for is not None and a.record.items[item or 0].category is not only_for:
            continue
        arbitrate_field(a, asked.arbiter, path, value, item)
        a.flag_ill_formed(path)
    for i, it in enumerate(a.record.items):
        if it.category is None:
            path = item_path(i, "category")
            a.flag(ReviewCode.UNDECIDED, path, f"{path}: neither reader could decide it")
    return a.record
