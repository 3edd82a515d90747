"""Which guideline families a "Claims Administrator/MAXIMUS guideline" cites.

RECORD.md mapping: an MTUS chapter that is an ACOEM chapter (General
Approaches, Neck and Upper Back, Shoulder, Elbow, Forearm/Wrist/Hand, Low Back,
Knee, Ankle and Foot, Stress Related Conditions, Eye — the "… Complaints"
chapters — or a text naming ACOEM) is ``mtus`` + ``acoem``; other MTUS parts
(Chronic Pain, Acupuncture, Opioids, Postsurgical) are ``mtus`` only; a
Non-MTUS citation counts by what it names: ODG is ``odg``, ACOEM ``acoem``,
anything else ``other``; "did not cite any medical evidence" is ``[]``.
"""

from __future__ import annotations

import functools
import re

from ..models import GuidelineSource

_NO_EVIDENCE = re.compile(r"did\s+not\s+cite\s+any\s+medical\s+evidence", re.I)
_NON_MTUS = re.compile(r"Non-?\s*MTUS\s+Citation|outside\s+(?:of\s+)?the\s+MTUS", re.I)
_MTUS_CITED = re.compile(r"Decision\s+based\s+on\s+(?:the\s+)?(?:CA\s+|California\s+)?MTUS\b", re.I)
# The MTUS part runs from "Decision based on MTUS" to the next "Decision based on".
_MTUS_PART = re.compile(
    r"Decision\s+based\s+on\s+(?:the\s+)?(?:CA\s+|California\s+)?MTUS\b(?P<body>.*?)(?=Decision\s+based\s+on|$)",
    re.I | re.S,
)
_NON_MTUS_PART = re.compile(
    r"Decision\s+based\s+on\s+Non-?\s*MTUS\s+Citation(?P<body>.*?)(?=Decision\s+based\s+on\s+(?:the\s+)?MTUS|$)",
    re.I | re.S,
)
# ACOEM chapters of the MTUS: the body-part "Complaints" chapters, General
# Approaches, Stress-Related Conditions, Eye; or ACOEM by name.  Checked only
# on chapter names (text before "Section(s):"), since a Postsurgical section
# may be called "Forearm, Wrist, & Hand".
_ACOEM_CHAPTER = re.compile(
    r"\bComplaints\b|General\s+Approach(?:es)?\b|Stress[-\s]+Related\s+Conditions|\bEye\b|\bACOEM\b",
    re.I,
)
_SECTIONS = re.compile(r"Section\(s\)\s*:.*?(?=,\s+and\s+|$)", re.I | re.S)
_ODG = re.compile(
    r"\bODG\b|Official\s+Disability\s+Guidelines?|Work\s+Loss\s+Data\s+Institute", re.I
)
# Harris J (ed.), "Occupational Medicine Practice Guidelines" is the ACOEM text.
_ACOEM = re.compile(
    r"\bACOEM\b|American\s+College\s+of\s+Occupational|Occupational\s+medicine\s+practice\s+guidelines",
    re.I,
)
# MAXIMUS's heading for a non-MTUS guideline: what follows it names the source
# ("Other Medical Treatment Guidelines ACOEM Hip and Groin Disorders" is ACOEM).
_OTHER_HEADING = re.compile(r"Other\s+Medical\s+Treatment\s+Guidelines?", re.I)
# A non-MTUS source that is neither ODG nor ACOEM.
_OTHER_SOURCE = re.compile(
    r"https?://|www\.|\.com\b|\.gov\b|\.org\b|\bFDA\b"
    r"|Medical\s+Disability\s+Advisor|\bMDA\b|Fee\s+Schedule|journal|\bet\s+al\b"
    r"|Green's|Physicians'?\s+Desk\s+Reference|\bPDR\b|UpToDate|Medscape|\bAANEM\b|\bCMS\b"
    r"|drugs\.com|\bNIH\b|\bAMA\b|Guides\s+to\s+the\s+Evaluation",
    re.I,
)


def guideline_sources(text: str | None) -> list[GuidelineSource]:
    """The guideline families one guideline paragraph cites, in a stable order."""
    if not text or not text.strip():
        return []
    return list(_sources(text))


# Cached: a letter often repeats one guideline paragraph for several items.
@functools.lru_cache(maxsize=32)
def _sources(text: str) -> tuple[GuidelineSource, ...]:
    found: set[GuidelineSource] = set()
    for m in _MTUS_PART.finditer(text):
        if _NON_MTUS.match(text, m.start()):
            continue
        found.add(GuidelineSource.MTUS)
        chapters = _SECTIONS.sub(" ", m.group("body"))
        if _ACOEM_CHAPTER.search(chapters):
            found.add(GuidelineSource.ACOEM)
    for m in _NON_MTUS_PART.finditer(text):
        body = m.group("body")
        named = False
        if _ODG.search(body):
            found.add(GuidelineSource.ODG)
            named = True
        if _ACOEM.search(body):
            found.add(GuidelineSource.ACOEM)
            named = True
        # Each text after the heading is "other" unless it names ODG or ACOEM.
        after_heading = _OTHER_HEADING.split(body)[1:]
        if (
            _OTHER_SOURCE.search(body)
            or not named
            or any(not (_ODG.search(p) or _ACOEM.search(p)) for p in after_heading)
        ):
            found.add(GuidelineSource.OTHER)
    if not found and _NO_EVIDENCE.search(text):
        return ()
    if not found and _MTUS_CITED.search(text):
        found.add(GuidelineSource.MTUS)
    order = [
        GuidelineSource.MTUS,
        GuidelineSource.ACOEM,
        GuidelineSource.ODG,
        GuidelineSource.OTHER,
    ]
    return tuple(g for g in order if g in found)
