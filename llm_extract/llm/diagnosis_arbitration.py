"""The diagnosis list, arbitrated element by element.

A list is not one value: the model's list and the parser's may hold the same
diagnoses split differently, one may keep a complaint or a cue word, and the
parser may have two readings of its own (a doubt, :mod:`.doubts`).  Each of
the model's diagnoses is kept only if it stands in a diagnosis sentence of
the case summary; the order of the rules is in :func:`arbitrate_diagnoses`.
"""

from __future__ import annotations

import re

from ..evidence import Found, locate, make_evidence
from ..review_flags import ReviewCode
from ..shapes import value_doubts
from ..textsets import SAME_DIAGNOSIS, diagnosis_matches, jaccard, words
from ..vocab import QUALIFIER, SITE
from .arbiters import same_diagnoses
from .arbitration import Arbitration, llm_evidence
from .doubts import matched, supported_alternative

_DIAGNOSIS_CUE = re.compile(r"diagnos|treat(?:ed|ment|ing)\s+for|impression|assessment|ICD", re.I)
_CUE_IN_VALUE = re.compile(r"\bdiagnos\w*|\bincludes?\b|\btreated\s+for\b", re.I)


def arbitrate_diagnoses(a: Arbitration, path: str, llm: list[str]) -> None:
    """Diagnoses element-wise: grounded, in a diagnosis sentence, not a complaint."""
    rec = a.record
    rules = list(rec.diagnoses)
    rules_ev = rec.evidence_for(path)
    if not llm or same_diagnoses(llm, rules):
        if llm and rules_ev is not None:
            a.set_evidence(rules_ev.model_copy(update={"reader": "both"}))
        return
    where = a.ctx.ranges("summary", None)
    if _settle_doubt(a, path, llm, rules, where):
        return
    kept: list[str] = []
    spans: list[Found] = []
    dropped: list[str] = []
    why_dropped: list[str] = []
    # The model's diagnoses the letter attests: kept ones, and those that are
    # a part of one of the parser's (it split "back and left shoulder pain"
    # into "back pain" and "left shoulder pain", which is not written as such).
    # Their number against the parser's is the splitting disagreement.
    attested = 0
    for d in llm:
        found = locate(a.loc, d, where)
        not_one = _not_a_diagnosis(d)
        if found is None and not not_one:
            attested += any(words(d) <= words(r) for r in rules)
        sentence = _sentence_around(a.loc.text, found) if found else ""
        # A complaint ("complains of neck pain") is no diagnosis: a kept one
        # stands in a sentence with a diagnosis cue.
        if found is None or not_one or not _DIAGNOSIS_CUE.search(sentence):
            dropped.append(d)
            why_dropped.append(
                not_one
                or (f"{d!r} is not in the summary" if found is None else f"{d!r} is a complaint")
            )
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
            "not in a diagnosis sentence of the summary: " + "; ".join(why_dropped),
            resolved=True,
        )
    if not kept:
        if rules and heuristic and attested > 1 and attested != len(rules):
            _flag_diagnoses(a, path, llm, rules)
        return
    rules_bad = [why for d in rules if (why := _not_a_diagnosis(d))]
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
        if not _not_a_diagnosis(d)
    )
    if not rules or (rules_bad and not dropped and covers):
        rec.diagnoses = kept
        a.set_evidence(llm_evidence(path, merged))
        if rules:
            a.check(
                path,
                kept,
                rules,
                "llm",
                f"the parser's list holds a non-diagnosis: {'; '.join(rules_bad)}",
                resolved=True,
            )
        return
    if _diagnoses_match(kept, rules) and (attested == len(rules) or not heuristic):
        a.check(
            path, kept, rules, "rules", "the same diagnoses, written differently", resolved=True
        )
        return
    _flag_diagnoses(a, path, llm if attested != len(kept) else kept, rules)


def _covers_two(value: str, rules: list[str]) -> bool:
    """Does ``value`` hold most words of two of the parser's diagnoses (a merge, not one)?"""
    w = words(value)
    return sum(len(words(r) & w) * 2 >= len(words(r)) for r in rules) >= 2


def _settle_doubt(
    a: Arbitration, path: str, llm: list[str], rules: list[str], where: list[tuple[int, int]]
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
            path,
            [s for f in found if f for s in f.to_spans()],
            reader="both",
            rule=f"summary: the parser's other reading ({doubt.kind}), which the model's supports",
            certainty="heuristic",
            grounded=True,
        )
    )
    # The record holds the parser's other reading: that is the parser's
    # reading the check names as kept, and the reason names the one replaced.
    a.check(
        path,
        llm,
        other,
        "rules",
        f"{doubt.reason}; the model reads it the other way, so the parser's other "
        f"reading replaces {'; '.join(rules)}",
        resolved=True,
    )
    return True


def _flag_diagnoses(a: Arbitration, path: str, llm: list[str], rules: list[str]) -> None:
    """Two readings of the list (a different number, or a diagnosis the other lacks): flag."""
    a.check(
        path,
        llm,
        rules,
        "rules",
        "two readings of the diagnosis list, both in the summary",
        resolved=False,
    )
    a.flag(
        ReviewCode.READERS_DISAGREE,
        path,
        f"diagnoses: the parser reads {len(rules)} ({'; '.join(rules)}), "
        f"the model {len(llm)} ({'; '.join(llm)})",
    )


def _not_a_diagnosis(value: str) -> str | None:
    """Why ``value`` is no diagnosis: it lacks a diagnosis's shape (:mod:`llm_extract.shapes`),
    keeps a cue word inside it, or is a body part alone ("right wrist"); None: it may be one."""
    v = value.strip()
    shape = value_doubts("diagnoses", [v])
    if shape:
        return "; ".join(shape)
    if _CUE_IN_VALUE.search(v):
        return f"{v!r} keeps a cue word"
    if SITE.fullmatch(v):
        return f"{v!r} is a body part alone"
    # An ICD qualifier alone ("initial encounter", "unspecified") only
    # qualifies the diagnosis before it.
    return f"{v!r} is a qualifier alone" if QUALIFIER.match(v) else None


def _sentence_around(text: str, found: Found) -> str:
    s = found.spans[0][0]
    e = found.spans[-1][1]
    lo = max(text.rfind(". ", 0, s), text.rfind("\n\n", 0, s)) + 1
    hi = text.find(". ", e)
    return text[lo : len(text) if hi == -1 else hi]


def _diagnoses_match(llm: list[str], rules: list[str]) -> bool:
    """The same diagnoses, written differently: every one matched as the scorer matches them."""
    return len(llm) == len(rules) and len(diagnosis_matches(rules, llm)) == len(llm)
