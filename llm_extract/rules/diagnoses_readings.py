"""The other readings a diagnosis list's text admits, from the list's structure alone.

The splitter (:mod:`.diagnoses`) makes one choice at every junction of the
summary's list -- split at " and ", ",", ";" or keep the words together --
and keeps every entry it cuts.  Where the text would read as well the other
way, the list has another reading:

- ``join``: two neighbouring entries the letter writes as "A and B" / "A, B",
  read as one entry, when the cut leaves a half that names no condition
  ("persistent left sided neck" | "shoulder pain"), when a bare condition
  beside a sited one may share its site ("right knee contusion" | "injury"),
  or when the first sits after a relation word whose object may be "X and Y"
  ("… affecting gastrointestinal disturbances" | "headaches");
- ``split``: one entry that joins, at a comma or "and" the letter writes, two
  parts that each name a condition of their own, neither of them a single
  bare word ("left shoulder labral tear, possible rotator cuff tear");
- ``drop`` / ``cut``: an entry shaped as an event or a procedure (RECORD.md:
  "status post fall", "… and repair on 10-22-16" are not diagnoses), read
  without it (and, when several are, without all of them), or cut where a
  later event starts when the entry opens with a condition.

An ICD-style name whose commas and "and" belong to the name (the splitter's
protected wordings) offers no junction.  Nothing here changes the list: the
number of other readings is a signal of how sure the reading can be
(:mod:`llm_extract.confidence`), and the readings themselves are what a
second reader is asked to choose between.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from ..vocab import ANATOMY, QUALIFIER
from .diagnoses import (
    CONDITION,
    PROTECT,
    RELATION,
    Doubt,
    diagnoses_and_bodies,
    diagnoses_verdict,
    diagnosis_doubts,
    join_as_written,
    site_only,
)
from .readings import Verdict

# An event or a procedure, not a condition (RECORD.md's Clarifications).
_EVENT = re.compile(
    r"\b(?:status\s+post|s/p|post[-\s]?(?:surgery|surgical|operative(?!\s+infection))|history\s+of"
    r"|h/o)\b|\b\w+(?:ectomy|otomy|ostomy|plasty|scopy|desis)\b"
    r"|\b(?:surgery|surgeries|repair|release|excision|resection|fixation|reconstruction"
    r"|decompression|injections?|implant\w*|placement)\b",
    re.I,
)
_SEPARATORS = re.compile(r",\s+(?:and\s+)?|\s+and\s+", re.I)


@dataclass(frozen=True)
class OtherReading:
    """The whole list read another way at one junction or entry."""

    kind: str  # "join" | "split" | "drop" | "cut"
    where: str  # the junction's words or the entry, as the letter writes them
    diagnoses: tuple[str, ...]


def _names_condition(part: str) -> bool:
    return bool(CONDITION.search(part)) and not site_only(part)


def _sited(part: str) -> bool:
    return bool(ANATOMY.search(part))


def _bare(part: str) -> bool:
    """A condition of at most two words without a site ("injury", "other synovitis")."""
    return len(part.split()) <= 2 and not _sited(part)


def _join_doubtful(a: str, sep: str, b: str) -> bool:
    """Whether "a <sep> b", cut in two by the splitter, may be one diagnosis.

    A comma between two conditions is the list's own separator; "and" also
    joins the heads or the objects of one name ("contusion and injury",
    "affecting disturbances and headaches")."""
    if not _names_condition(a) or not _names_condition(b):
        return True  # a half that names no condition
    if sep != " and ":
        return False
    if _sited(a) != _sited(b) and (_bare(a) or _bare(b)):
        return True  # a bare condition may share its neighbour's site
    return bool(RELATION.search(a))


def _split_points(entry: str) -> list[tuple[str, str, str]]:
    """(left, separator, right) at each comma or "and" of ``entry`` outside protected names."""
    masked = PROTECT.sub(lambda m: "\x00" * len(m.group(0)), entry)
    return [
        (entry[: m.start()], m.group(0), entry[m.end() :]) for m in _SEPARATORS.finditer(masked)
    ]


def _split_doubtful(left: str, right: str) -> bool:
    """Whether an entry joined at a separator may be two diagnoses.

    Not when a part is an ICD qualifier or a bare word completing the other,
    nor when the right part opens with a condition word: coordinated heads
    share the words before them ("wrist strain and sprain with …")."""
    parts = (left.strip(), right.strip())
    if any(QUALIFIER.match(p) or len(p.split()) < 2 for p in parts):
        return False
    if CONDITION.fullmatch(parts[1].split()[0]):
        return False
    return all(_names_condition(p) for p in parts)


def other_readings(diagnoses: list[str], bodies: list[str]) -> tuple[OtherReading, ...]:
    """The distinct other readings of ``diagnoses`` (split from ``bodies``), in list order."""
    out: dict[tuple[str, ...], OtherReading] = {}
    drops: list[int] = []
    here = tuple(diagnoses)

    def add(kind: str, where: str, alt: tuple[str, ...]) -> None:
        if alt != here and alt not in out:
            out[alt] = OtherReading(kind, where, alt)

    for n, (a, b) in enumerate(itertools.pairwise(diagnoses)):
        joined = join_as_written(a, b, bodies)
        if joined and _join_doubtful(a, joined[len(a) : len(joined) - len(b)], b):
            add("join", joined, (*diagnoses[:n], joined, *diagnoses[n + 2 :]))
    for n, entry in enumerate(diagnoses):
        for left, _sep, right in _split_points(entry):
            if _split_doubtful(left, right):
                add(
                    "split",
                    entry,
                    (*diagnoses[:n], left.strip(), right.strip(), *diagnoses[n + 1 :]),
                )
        events = list(_EVENT.finditer(entry))
        if not events:
            continue
        drops.append(n)
        add("drop", entry, (*diagnoses[:n], *diagnoses[n + 1 :]))
        # Cut where the event starts, after the condition the entry opens with.
        cut = next((m for m in events if m.start() > 0), None)
        head = entry[: cut.start()].strip(" ,;") if cut else ""
        if head and _names_condition(head) and not _EVENT.search(head):
            add("cut", entry, (*diagnoses[:n], head, *diagnoses[n + 1 :]))
    if len(drops) > 1:
        add(
            "drop",
            "; ".join(diagnoses[n] for n in drops),
            tuple(d for n, d in enumerate(diagnoses) if n not in drops),
        )
    return tuple(out.values())


@dataclass(frozen=True)
class DiagnosisList:
    """The summary's diagnoses as the parser reads them, how sure it is, its
    doubts, and the other readings the same text admits."""

    diagnoses: list[str]
    verdict: Verdict
    doubts: tuple[Doubt, ...]
    others: tuple[OtherReading, ...] = ()


def read_diagnoses(flat: str) -> DiagnosisList:
    """The diagnosis list of a case summary (``flat``: its text, cleaned)."""
    diagnoses, bodies = diagnoses_and_bodies(flat)
    return DiagnosisList(
        diagnoses,
        diagnoses_verdict(diagnoses, flat, bodies),
        diagnosis_doubts(diagnoses, bodies),
        other_readings(diagnoses, bodies),
    )
