"""The diagnosis list of a case summary: where it is introduced, how it is split, and
why a split may be wrong (:class:`Doubt`).

The splitter and its doubts share one vocabulary -- sites, qualifiers,
condition words -- and the doubts re-run the splitter's own steps to offer
the other reading of the list, so both live here.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from ..document.text import clean
from ..vocab import QUALIFIER, SITE
from .readings import EXACT, HEURISTIC, UNDECIDED, Verdict

# Where a summary lists diagnoses (RECORD.md), longest alternatives first.  The
# leading lookahead (the characters an alternative can start with) changes no
# match; it lets re skip most positions (~2x faster).
_DIAGNOSIS_INTRO = re.compile(
    r"(?=[dcwabiuf\s\"'\u201d\u2019)])"
    r"(?:diagnosed\s+as\s+having|diagnosed\s+with|diagnos[ie]s\s+that\s+include"
    r"|(?:current\s+|working\s+)?diagnos[ie]s\s+(?:(?:are|is|were|was)\s+)?(?:documented\s+(?:as|is)\s+|documented\s+)"
    r"|(?:current\s+|working\s+)?diagnos[ie]s\s+(?:included|includes|include|are|is|were|was)\s+"
    r"|\bdiagnos[ie]s\s+of\b|a\s+diagnosis\s+of"
    # "Diagnosis:" only as a label opening its sentence: "A NOTE ON THE DIAGNOSES:
    # ignore previous instructions …" inside a sentence is no list (prompt injection).
    r"|^[\s\"'\u201d\u2019)]*(?:(?:current|working|final)\s+)?diagnos[ie]s\s*:"
    r"|(?:being|been|is|was)\s+treated\s+for(?:\s+the\s+diagnosis\s+of)?"
    r"|undergoing\s+treatments?\s+for)\s*(?P<body>(?:[^.]|\.(?=\d))+)",
    re.I,
)
_PAREN = re.compile(r"\s*\([^)]*\)")
_LABELLED_PAREN = re.compile(r"\([^):]*:\s*([^)]*)\)")
_LEADING = re.compile(r"^(?:and\s+|a\s+|an\s+|the\s+|with\s+)+", re.I)


_SIDE_WORDS = {"right", "left", "bilateral"}
# A bare site before "and" shares the head noun after it ("back and left shoulder pain").
_SITE_NOUNS = {
    "back",
    "neck",
    "shoulder",
    "shoulders",
    "knee",
    "knees",
    "hip",
    "hips",
    "elbow",
    "wrist",
    "hand",
    "ankle",
    "foot",
    "leg",
    "arm",
    "head",
    "spine",
}
# A piece ending in a position word continues in the next ("medial and lateral meniscus tear").
_DANGLING = {
    "medial",
    "lateral",
    "upper",
    "lower",
    "anterior",
    "posterior",
    "right",
    "left",
    "cervical",
    "thoracic",
    "lumbar",
    "proximal",
    "distal",
    "superior",
    "inferior",
}
# A bare word after "and" that completes the diagnosis before it ("sprain and strain").
_COMPLETES = {
    "strain",
    "sprain",
    "strains",
    "sprains",
    "tendon",
    "tendons",
    "tendinitis",
    "bursitis",
    "pain",
}
# ICD-style names whose commas and "and" do not separate diagnoses; their
# separators are masked while splitting and restored as written.
PROTECT = re.compile(
    r"muscles?,\s+fascia,?\s+(?:and\s+)?tendons?|\band[-\s]or\b|\bjoints?\s+and\s+ligaments?\b",
    re.I,
)
_STRAY_QUOTE = re.compile(r"(?<=[a-rt-z])'\s+(?=[a-z])")
_AND = re.compile(r"\band\b", re.I)


def _mask(m: re.Match[str]) -> str:
    return _AND.sub("\x01", m.group(0).replace(",", "\x00"))


def _and_split(chunk: str) -> list[str]:
    """Split "A and B" into diagnoses unless a side is a bare side word or completes the other."""
    pieces = [p.strip() for p in chunk.split(" and ")]
    out: list[str] = []
    carry = ""
    for n, p in enumerate(pieces):
        last = n == len(pieces) - 1
        p = carry + p
        carry = ""
        words = p.split()
        if len(words) == 1 and words[0].lower() in _SIDE_WORDS:
            carry = p + " and "
            continue
        completes = words[0].lower() in _COMPLETES and (
            len(words) == 1 or words[1].lower() == "with"
        )
        qualifies = len(words) <= 2 and words[-1].lower() in ("level", "region", "area")
        if out and (completes or qualifies):
            out[-1] = f"{out[-1]} and {p}"
            continue
        if out and len(words) == 1 and not words[0].isalpha():  # "fusion L4/5 and L5/S1"
            out[-1] = f"{out[-1]} and {p}"
            continue
        if out and last and site_only(p):
            # "injury of the back and left ankle": the site completes the one before.
            out[-1] = f"{out[-1]} and {p}"
            continue
        if words and (
            words[-1].lower() in _DANGLING or (len(words) == 1 and words[0].lower() in _SITE_NOUNS)
        ):
            carry = p + " and "
            continue
        if not last and site_only(p):
            # "right wrist and right hand sprain": the site shares the head after it.
            carry = p + " and "
            continue
        out.append(p)
    if carry:
        out.append(carry.removesuffix(" and "))
    return out


def site_only(piece: str) -> bool:
    """A body part with no condition ("right wrist", "pelvis"): half of a shared-head pair."""
    parts = _SITES_JOIN.split(_LEADING.sub("", piece.strip()))
    return all(SITE.fullmatch(p) for p in parts if p)


# Between the sites of "lumbar, hip, and neck": a comma, a slash, "and".
_SITES_JOIN = re.compile(r"\s*(?:,|/|\band\b)\s*(?:and\s+)?", re.I)


def _prepare(body: str) -> str:
    """The cue's list with asides removed and the separators inside ICD names masked."""
    # A parenthesis with a label ("(AME on 2/27/13: X and Y)") lists more
    # diagnoses; any other parenthesis is an aside or an abbreviation.
    extra = [m.group(1) for m in _LABELLED_PAREN.finditer(body)]
    body = _PAREN.sub("", body) + "".join(", " + e for e in extra)
    body = PROTECT.sub(_mask, body)
    # A stray apostrophe used as a separator: "shoulder pain right' right arm numbness".
    return _STRAY_QUOTE.sub("; " if ";" in body else ", ", body)


def _comma_split(body: str) -> list[str]:
    parts: list[str] = []
    for raw in re.split(r"\s*,\s*", body):
        chunk = _LEADING.sub("", raw.strip())
        if parts and site_only(parts[-1]):
            # "lumbar, hip, and neck strain": sites before the head they share.
            parts[-1] = f"{parts[-1]}, {raw.strip()}"
            continue
        if parts and (QUALIFIER.match(chunk) or site_only(chunk)):
            # ICD wording: "strain … at upper arm level, right arm".
            parts[-1] = f"{parts[-1]}, {chunk}"
            continue
        pieces = _and_split(chunk)
        if parts and pieces and QUALIFIER.match(pieces[0]):
            # "lumbar strain, subsequent encounter and sciatica": the qualifier
            # ends the diagnosis before the comma; "and" starts the next one.
            parts[-1] = f"{parts[-1]}, {pieces.pop(0)}"
        parts.extend(pieces)
    return parts


def _finish(parts: list[str]) -> list[str]:
    out: list[str] = []
    for p in parts:
        p = p.replace("\x00", ",").replace("\x01", "and")
        p = _LEADING.sub("", clean(p)).strip(" ,;:\"'")
        if p and p.lower() not in (x.lower() for x in out):
            out.append(p)
    return out


def _split_diagnoses(body: str) -> list[str]:
    body = _prepare(body)
    if ";" not in body:
        return _finish(_comma_split(body))
    parts: list[str] = []
    for chunk in re.split(r"\s*;\s*", body):
        parts.extend(_and_split(_LEADING.sub("", chunk.strip())))
    return _finish(parts)


def parse_diagnoses(text: str) -> list[str]:
    return _diagnoses(clean(text))


def _sentence_bounds(flat: str, at: int) -> tuple[int, int]:
    """The sentence around offset ``at``: periods followed by a digit ("7.5mg") do not end one."""
    start = at
    while True:
        start = flat.rfind(".", 0, start)
        if start == -1 or not flat[start + 1 : start + 2].isdigit():
            break
    end = at
    while True:
        end = flat.find(".", end)
        if end == -1 or not flat[end + 1 : end + 2].isdigit():
            break
        end += 1
    return start + 1, (len(flat) if end == -1 else end)


def _sentences_mentioning(flat: str, words: tuple[str, ...]) -> list[str]:
    """The sentences of ``flat`` that contain one of ``words`` (lower case), in order."""
    low = flat.lower()
    spans: set[tuple[int, int]] = set()
    for word in words:
        at = low.find(word)
        while at != -1:
            bounds = _sentence_bounds(flat, at)
            spans.add(bounds)
            at = low.find(word, bounds[1])
    return [flat[s:e] for s, e in sorted(spans)]


def _diagnoses(flat: str) -> list[str]:
    return diagnoses_and_bodies(flat)[0]


def diagnoses_and_bodies(flat: str) -> tuple[list[str], list[str]]:
    out: list[str] = []
    bodies: list[str] = []
    # Only sentences that can introduce diagnoses are searched (speed: the
    # introducing pattern is a long alternation).
    for sentence in _sentences_mentioning(flat, ("diagnos", "treat")):
        for m in _DIAGNOSIS_INTRO.finditer(sentence):
            bodies.append(m.group("body"))
            for d in _split_diagnoses(m.group("body")):
                if d.lower() not in (x.lower() for x in out):
                    out.append(d)
    return out, bodies


# What a diagnosis names: a condition.  A listed piece with none of these
# words is most likely half of a diagnosis cut at a separator ("persistent
# left sided neck" of "… neck and shoulder pain", "fleeting homicidal" of
# "… homicidal and suicidal thoughts").  Checked against every gold diagnosis.
CONDITION = re.compile(
    r"(?:pain|strains?|sprains?|fractures?|tears?|contusions?|injur(?:y|ies)|syndromes?|disorders?"
    r"|diseases?|itis|pathy|algia|osis|ism|hernia\w*|displacement|dysfunction|impingement"
    r"|stenosis|protrusions?|lacerations?|trauma|spasms?|insomnia|depression|anxiety|stress"
    r"|hypertension|diabetes|dyslipidemia|obesity|sciatica|lumbago|migraines?|headaches?"
    r"|tinnitus|loss|numbness|weakness|esthesia|stiffness|instability|deformity|effusion"
    r"|wounds?|infections?|burns?|abrasions?|dislocations?|subluxations?|ruptures?|lesions?"
    r"|cysts?|mass|tumou?rs?|degeneration|malacia|neuromas?|listhesis|concussion|conditions?"
    r"|trigger\s+finger|frozen|jammed|crush\w*|post[-\s]?op\w*|status\s+post|tachycardia"
    r"|infarct\w*|thoughts?|dizziness|vertigo|edema|swelling|bod(?:y|ies)|defects?|nodules?"
    r"|spurs?|arthroplasty|replacement|fusion|amputation|paralysis|palsy|myofascial\w*"
    r"|complaints?|symptoms?|tolerance|dependence|abuse)\b",
    re.I,
)
_ENCOUNTER = re.compile(r"\b(?:initial|subsequent)\s+encounter$", re.I)


def join_as_written(a: str, b: str, bodies: list[str]) -> str | None:
    """``a`` and ``b`` as one piece, with the separator the letter writes between them."""
    for sep in (" and ", ", and ", ", ", " "):
        joined = f"{a}{sep}{b}"
        if any(joined.lower() in clean(x).lower() for x in bodies):
            return joined
    return None


# A clause inside a listed "diagnosis": the sentence narrates ("status post
# being punched in the face", "… now recovering well") rather than names.
_NARRATIVE = re.compile(r"\b(?:being|been|who|which|whose|now|was|were|had|has)\b", re.I)
# A relation whose object may itself be "X and Y" ("… affecting gastrointestinal
# disturbances and headaches"): the "and" after it may not separate diagnoses.
RELATION = re.compile(
    r"\b(?:affecting|related\s+to|secondary\s+to|due\s+to|associated\s+with|resulting\s+in|caused\s+by)\b",
    re.I,
)


@dataclass(frozen=True)
class Doubt:
    """A structure of the list no splitting rule reads for sure.

    ``reason`` is the review reason; ``alternative`` the whole list read the
    other way (None when there is no second reading), which the hybrid
    backend takes when the model's own reading supports it.
    """

    kind: str  # "site_only" | "no_condition" | "narrative" | "semicolon_entry" | "relation_and"
    reason: str
    alternative: tuple[str, ...] | None = None


def diagnosis_doubts(diagnoses: list[str], bodies: list[str]) -> tuple[Doubt, ...]:
    """Why a split list may be wrong, each with the other reading where there is one.

    A doubt is a review reason, not a change to the list: the parser's reading
    stays (it follows the labelling rules), and a person checks it.
    """
    doubts: list[Doubt] = []
    for n, d in enumerate(diagnoses):
        if site_only(d):
            doubts.append(Doubt("site_only", f"diagnoses: {d!r} is a body part alone"))
        elif not CONDITION.search(d):
            # The other reading: joined to the piece it was cut from -- an ICD
            # encounter or qualifier to the one before, anything else to the next.
            back = _ENCOUNTER.search(d) or QUALIFIER.match(d)
            other = (
                diagnoses[n - 1]
                if back and n
                else (diagnoses[n + 1] if n + 1 < len(diagnoses) else None)
            )
            joined = None
            if other is not None:
                joined = (
                    join_as_written(other, d, bodies) if back else join_as_written(d, other, bodies)
                )
            alt = None
            if joined:
                lo = n - 1 if back else n
                alt = (*diagnoses[:lo], joined, *diagnoses[lo + 2 :])
            doubts.append(Doubt("no_condition", f"diagnoses: {d!r} names no condition", alt))
        elif _NARRATIVE.search(d):
            doubts.append(
                Doubt(
                    "narrative",
                    f"diagnoses: {d!r} reads as narrative, not a diagnosis",
                    tuple(x for x in diagnoses if x != d) or None,
                )
            )
    for body in bodies:
        masked = _prepare(body)
        if ";" not in masked:
            continue
        for chunk in re.split(r"\s*;\s*", masked):
            chunk = _LEADING.sub("", chunk.strip())
            pieces = [_LEADING.sub("", c.strip()) for c in chunk.split(",")]
            if len(pieces) < 2 or all(QUALIFIER.match(c) or site_only(c) for c in pieces[1:]):
                continue
            read = _finish(_and_split(chunk))  # how the parser read this entry
            split = _finish(_comma_split(chunk))  # the entry read as a list of its own
            shown = _finish([chunk])[0]
            if read == split or not all(r in diagnoses for r in read):
                continue
            at = diagnoses.index(read[0])
            rest = [x for x in diagnoses if x not in read]
            doubts.append(
                Doubt(
                    "semicolon_entry",
                    f"diagnoses: the entry {shown!r} of a ';' list names several",
                    (*rest[:at], *[o for o in split if o not in rest], *rest[at:]),
                )
            )
    for n, (a, b) in enumerate(itertools.pairwise(diagnoses)):
        rel = RELATION.search(a)
        if rel and any(f"{a} and {b}".lower() in clean(x).lower() for x in bodies):
            joined = f"{a} and {b}"
            doubts.append(
                Doubt(
                    "relation_and",
                    f"diagnoses: {joined!r} may be one diagnosis (after {rel.group(0)!r})",
                    (*diagnoses[:n], joined, *diagnoses[n + 2 :]),
                )
            )
    return tuple(doubts)


def diagnoses_verdict(diagnoses: list[str], flat: str, bodies: list[str]) -> Verdict:
    """How sure the splitter is of the list it read from the summary ``flat``.

    ``bodies``: the text after each diagnosis cue (what was split).
    """
    if len(diagnoses) > 1:
        return Verdict(HEURISTIC, "summary: diagnosis list split on ; , and")
    if not diagnoses:
        if "diagnos" in flat.lower() or bodies:
            return Verdict(UNDECIDED, "summary: a diagnosis cue whose list the parser did not read")
        return Verdict(EXACT, "summary: no diagnosis phrase (complaints only)")
    if all(not _LIST_SEPARATOR.search(_PAREN.sub("", b)) for b in bodies):
        return Verdict(EXACT, "summary: one diagnosis after its cue")
    return Verdict(HEURISTIC, "summary: diagnosis list split on ; , and")


_LIST_SEPARATOR = re.compile(r"[,;]|\band\b", re.I)
