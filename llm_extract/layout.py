"""Which layout of IMR determination letter a text is.

The DWC has published IMR decisions since 2013 in (at least) these layouts;
the facts about the older ones come from the public crawler
talhaabacus/IMRCrawler (``IMR.Crawler/Helper/PDFParser.cs``) and the issue
that asked for them:

``maximus-2016``
    The corpus PDFs (decision dates Dec 2016 - Feb 2017): a header block
    (``Case Number:``, ``Date Assigned:`` …), "HOW THE IMR FINAL DETERMINATION
    WAS MADE", a "State(s) of Licensure" block, "CLINICAL CASE SUMMARY",
    "IMR ISSUES, DECISIONS AND RATIONALES" with ``<item>: Upheld``.
``seed-text``
    The corpus seeds: the same sections without the header block, the
    reviewer in one sentence ("Board Certified in …").
``maximus-imr-2014``
    Opens "MAXIMUS FEDERAL SERVICES, INC. / Independent Medical Review";
    sections "HOW THE IMR FINAL DETERMINATION WAS MADE", "DOCUMENTS REVIEWED",
    "CLINICAL CASE SUMMARY", "IMR DECISION(S) AND RATIONALE(S)"; a
    "UR Denial Date:" but no Date Assigned and no licensure block.
``medical-professional-review``
    Opens "MEDICAL PROFESSIONAL REVIEW"; sections "ISSUE AT DISPUTE:",
    "CASE SUMMARY:", "DOCUMENTS REVIEWED FOR DETERMINATION:", "MEDICAL
    TREATMENT GUIDELINE(S) RELIED UPON …", "RATIONALE FOR WHY …", "MEDICAL
    REVIEWER QUALIFICATIONS:".
``notice-2013``
    "Notice of Independent Medical Review Determination"; each decision is a
    sentence "… has determined the request for <item> is (not) medically
    necessary and appropriate"; "Medical Qualifications of the Expert
    Reviewer:" and "Case Summary:" sections.  Its PDF text runs words
    together ("notmedically"), so every pattern here allows missing spaces.
``unknown``
    Recognisably an IMR determination (``is_imr``) but none of the above:
    the rules backend flags it; the hybrid backend sends it whole to the LLM.

Detection only looks at headings and fixed phrases, so it works on text from
any extractor (PDFium, pypdf, pdftotext, OCR): whitespace between words is
optional and case is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LAYOUTS = (
    "maximus-2016",
    "seed-text",
    "maximus-imr-2014",
    "medical-professional-review",
    "notice-2013",
    "unknown",
)


# The first section of a determination (every layout but the older two) and
# its items section: each letter has each once, which is also how a file
# holding several letters is told apart (llm_extract.bundle).
CREDENTIALS_HEADING = re.compile(r"HOW\s+THE\s+IMR\s+FINAL\s+DETERMINATION\s+WAS\s+MADE", re.I)
ITEMS_HEADING = re.compile(
    r"IMR\s+ISSUES,?\s+DECISIONS\s+AND\s+RATIONALES?"
    # maximus-imr-2014
    r"|IMR\s*DECISION\s*\(\s*S\s*\)\s*AND\s*RATIONALE\s*\(\s*S\s*\)",
    re.I,
)


def _squash(text: str) -> str:
    """The text without whitespace, case-folded: words run together or spaced
    out by any extractor compare equal, and plain substring tests are ~100x
    faster than case-insensitive regex scans over a whole letter."""
    return "".join(text.split()).casefold()


# Headings and phrases, squashed (see _squash).
_HOW_MADE = "howtheimrfinaldeterminationwasmade"
_CLINICAL_SUMMARY = "clinicalcasesummary"
_ISSUES_2016 = ("imrissues,decisionsandrationale", "imrissuesdecisionsandrationale")
_HEADER_LABELS = ("casenumber", "dateassigned", "decisiondate")
_LICENSURE = "state(s)oflicensure"
# maximus-imr-2014
_ISSUES_2014 = "imrdecision(s)andrationale(s)"
_MFS_INC = ("maximusfederalservices,inc", "maximusfederalservicesinc")
_DOCUMENTS_REVIEWED = "documentsreviewed"
# medical-professional-review
_MPR_TITLE = "medicalprofessionalreview"
_ISSUE_AT_DISPUTE = "issueatdispute"
_MPR_QUALIFICATIONS = "medicalreviewerqualifications"
# notice-2013
_NOTICE_TITLE = "noticeofindependentmedicalreviewdetermination"
_HAS_DETERMINED = ("hasdeterminedtherequestfor", "hasdeterminedthattherequestfor")

# Phrases every IMR determination carries in one of its layouts (is_imr needs
# two: one alone is too weak, a UR denial letter names MAXIMUS and IMR).
_IMR_MARKERS: tuple[tuple[str, ...], ...] = (
    ("imrfinaldetermination",),
    ("maximusfederalservices",),
    ("imrissues,decisions", "imrissuesdecisions"),
    ("independentmedicalreview",),
    (_CLINICAL_SUMMARY,),
    ("expertreviewer",),
    (_ISSUES_2014,),
    (_MPR_TITLE,),
    (_ISSUE_AT_DISPUTE,),
    (_NOTICE_TITLE,),
    _HAS_DETERMINED,
)
# An unknown layout is an IMR *determination* only when it also states an
# outcome: a UR denial letter names MAXIMUS and IMR (how to apply for one).
_DETERMINATION_CUE = (
    "upheld",
    "overturned",
    "finaldetermination",
    "imrdecision",
    "imrdetermination",
    "hasdetermined",
)

# How far from the start the older layouts' title lines may stand (a page
# header or a fax banner may come first).
_OPENING = 600


@dataclass(frozen=True)
class Layout:
    """``name`` is one of :data:`LAYOUTS`; ``known`` is False only for ``unknown``."""

    name: str
    is_imr: bool

    @property
    def known(self) -> bool:
        return self.name != "unknown"


def _find(sq: str, phrases: str | tuple[str, ...]) -> int:
    """Where the first of ``phrases`` occurs in squashed text, -1 if none."""
    if isinstance(phrases, str):
        return sq.find(phrases)
    found = [i for i in (sq.find(p) for p in phrases) if i >= 0]
    return min(found, default=-1)


def _marker_count(sq: str) -> int:
    return sum(1 for marker in _IMR_MARKERS if _find(sq, marker) >= 0)


def imr_marker_count(text: str) -> int:
    return _marker_count(_squash(text))


def detect_layout(text: str) -> Layout:
    """The layout of ``text`` (any extractor's text of one letter)."""
    sq = _squash(text)
    opening = _squash(text[:_OPENING])
    issues_2016 = _find(sq, _ISSUES_2016)
    how_made = _find(sq, _HOW_MADE)
    issues_2014 = _find(sq, _ISSUES_2014)
    headings = [i for i in (how_made, _find(sq, _CLINICAL_SUMMARY), issues_2016) if i >= 0]
    if issues_2016 >= 0 or (how_made >= 0 and issues_2014 < 0):
        first = min(headings)
        labels = [_find(sq, label) for label in _HEADER_LABELS]
        if any(0 <= i < first for i in labels):
            return Layout("maximus-2016", is_imr=True)
        if _find(sq, _LICENSURE) >= 0 and any(i >= 0 for i in labels):
            return Layout("maximus-2016", is_imr=True)
        return Layout("seed-text", is_imr=True)
    if issues_2014 >= 0 or (_find(opening, _MFS_INC) >= 0 and _find(sq, _DOCUMENTS_REVIEWED) >= 0):
        return Layout("maximus-imr-2014", is_imr=True)
    if _find(opening, _MPR_TITLE) >= 0 or (
        _find(sq, _ISSUE_AT_DISPUTE) >= 0 and _find(sq, _MPR_QUALIFICATIONS) >= 0
    ):
        return Layout("medical-professional-review", is_imr=True)
    if _find(sq, _NOTICE_TITLE) >= 0 or _find(sq, _HAS_DETERMINED) >= 0:
        return Layout("notice-2013", is_imr=True)
    is_imr = _marker_count(sq) >= 2 and _find(sq, _DETERMINATION_CUE) >= 0
    return Layout("unknown", is_imr=is_imr)


__all__ = ["LAYOUTS", "Layout", "detect_layout", "imr_marker_count"]
