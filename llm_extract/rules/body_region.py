"""The body region of a request: the anatomical site(s) it names, as written.

RECORD.md: every site named anywhere in the request (``neck, left trapezius
and low back``), also inside a device or test name (``Hip pad`` -> ``hip``);
null when none is named.  Sites next to each other in one phrase are kept as
one phrase; a site that names a clinician ("spine surgeon") is not a site.
"""

from __future__ import annotations

import re

from ..vocab import ANATOMY, SITE
from .readings import EXACT, UNDECIDED, Verdict

# Text before a site that still counts as the start of the request.
_STARTS_REQUEST = re.compile(
    r"\s*(?:(?:associated\s+surgical\s+services?|labs?\s+to\s+include|retrospective|retro|post-?op|pre-?op)\s*:?\s*)*",
    re.I,
)
# What may stand between two sites of one phrase: "neck, right hand and head".
_JOIN = re.compile(r"^(?:\s*(?:,|/|and|&|of\s+the|of|the)\s*)*$|^\s+$", re.I)
# Sites that describe a clinician or a procedure rather than where it is done.
_NOT_A_SITE_AFTER = re.compile(r"\s*(?:surgeon|specialist|surgery|replacement\s+specialist)", re.I)


def body_region_of(request: str) -> str | None:
    """The anatomical site(s) named in a request, as written; None when none is named."""
    found = []
    for m in SITE.finditer(request):
        if _NOT_A_SITE_AFTER.match(request, m.end()):
            continue
        found.append((m.start(), m.end()))
    if not found:
        return None
    groups: list[list[int]] = []
    for s, e in found:
        if groups and _JOIN.match(request[groups[-1][1] : s]):
            groups[-1][1] = e
        else:
            groups.append([s, e])
    phrases: list[str] = []
    for s, e in groups:
        phrase = re.sub(r"\s+", " ", request[s:e]).strip()
        if _STARTS_REQUEST.fullmatch(request[:s]) and re.match(r"[A-Z][a-z]", phrase):
            # A capital that is there only because the site starts the request
            # ("Left shoulder arthroscopy") is not part of the name.
            phrase = phrase[0].lower() + phrase[1:]
        if phrase.lower() not in (p.lower() for p in phrases):
            phrases.append(phrase)
    return ", ".join(phrases)


def body_region_verdict(value: str | None, request: str) -> Verdict:
    """How sure the site rule is of the body region it read from ``request``."""
    if value is not None:
        return Verdict(EXACT, "categories: site words in the request")
    if ANATOMY.search(request):
        return Verdict(UNDECIDED, "categories: an anatomical word the site list does not know")
    return Verdict(EXACT, "categories: no anatomical word in the request")
