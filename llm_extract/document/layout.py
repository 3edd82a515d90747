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


def _words(phrase: str) -> re.Pattern[str]:
    """A case-insensitive pattern for ``phrase`` whose words may run together.

    ``(`` ``)`` and ``/`` in the phrase are literal; OCR may drop the colon, so
    a trailing ``:`` is optional.
    """
    parts = []
    for word in phrase.split():
        colon = word.endswith(":")
        word = word.rstrip(":")
        parts.append(re.escape(word) + (r"\s*:?" if colon else ""))
    return re.compile(r"\s*".join(parts), re.I)


# Section headings of the current layout (maximus-2016 and seed-text).
_HOW_MADE = _words("HOW THE IMR FINAL DETERMINATION WAS MADE")
_CLINICAL_SUMMARY = _words("CLINICAL CASE SUMMARY")
_ISSUES_2016 = _words("IMR ISSUES, DECISIONS AND RATIONALES")
# A header label as every extractor writes it (OCR: "Case Nurnber" is rare; a
# lost colon or a 0 for an O in "Number" is handled by the header reader).
_HEADER_LABELS = re.compile(r"Case\s*Number\s*:?|Date\s*Assigned\s*:?|Decision\s*Date\s*:?", re.I)
_LICENSURE = re.compile(r"State\s*\(\s*s\s*\)\s*of\s*Licensure", re.I)

# maximus-imr-2014
_MFS_INC = re.compile(r"MAXIMUS\s*FEDERAL\s*SERVICES\s*,?\s*INC\.?", re.I)
_ISSUES_2014 = re.compile(r"IMR\s*DECISION\s*\(\s*S\s*\)\s*AND\s*RATIONALE\s*\(\s*S\s*\)", re.I)
_DOCUMENTS_REVIEWED = _words("DOCUMENTS REVIEWED")

# medical-professional-review
_MPR_TITLE = _words("MEDICAL PROFESSIONAL REVIEW")
_ISSUE_AT_DISPUTE = _words("ISSUE AT DISPUTE:")
_MPR_QUALIFICATIONS = _words("MEDICAL REVIEWER QUALIFICATIONS:")

# notice-2013
_NOTICE_TITLE = _words("Notice of Independent Medical Review Determination")
_HAS_DETERMINED = re.compile(r"has\s*determined\s*(?:that\s*)?the\s*request\s*for\b", re.I)

# Phrases every IMR determination carries in one of its layouts (is_imr needs
# two: one alone is too weak, a UR denial letter names MAXIMUS and IMR).
_IMR_MARKERS = (
    _words("IMR FINAL DETERMINATION"),
    re.compile(r"MAXIMUS\s*Federal\s*Services", re.I),
    re.compile(r"IMR\s*ISSUES,?\s*DECISIONS", re.I),
    _words("Independent Medical Review"),
    _CLINICAL_SUMMARY,
    _words("expert reviewer"),
    _ISSUES_2014,
    _MPR_TITLE,
    _ISSUE_AT_DISPUTE,
    _NOTICE_TITLE,
    _HAS_DETERMINED,
)

_DETERMINATION_CUE = re.compile(
    r"\b(?:upheld|overturned)\b|FINAL\s*DETERMINATION|IMR\s*(?:decision|determination)"
    r"|has\s*determined",
    re.I,
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


def imr_marker_count(text: str) -> int:
    return sum(1 for marker in _IMR_MARKERS if marker.search(text))


def detect_layout(text: str) -> Layout:
    """The layout of ``text`` (any extractor's text of one letter)."""
    is_imr = imr_marker_count(text) >= 2
    opening = text[:_OPENING]

    issues_2016 = _ISSUES_2016.search(text)
    how_made = _HOW_MADE.search(text)
    first_heading = min(
        (m.start() for m in (how_made, _CLINICAL_SUMMARY.search(text), issues_2016) if m),
        default=None,
    )
    if issues_2016 or (how_made and not _ISSUES_2014.search(text)):
        if first_heading is not None and _HEADER_LABELS.search(text, 0, first_heading):
            return Layout("maximus-2016", is_imr=True)
        if _LICENSURE.search(text) and _HEADER_LABELS.search(text):
            return Layout("maximus-2016", is_imr=True)
        return Layout("seed-text", is_imr=True)
    if _ISSUES_2014.search(text) or (_MFS_INC.search(opening) and _DOCUMENTS_REVIEWED.search(text)):
        return Layout("maximus-imr-2014", is_imr=True)
    if _MPR_TITLE.search(opening) or (
        _ISSUE_AT_DISPUTE.search(text) and _MPR_QUALIFICATIONS.search(text)
    ):
        return Layout("medical-professional-review", is_imr=True)
    if _NOTICE_TITLE.search(text) or _HAS_DETERMINED.search(text):
        return Layout("notice-2013", is_imr=True)
    # Unknown layout: an IMR *determination* only when it also states an
    # outcome; a UR denial letter names MAXIMUS and IMR (how to apply for one)
    # but decides nothing of the kind.
    return Layout("unknown", is_imr=is_imr and bool(_DETERMINATION_CUE.search(text)))


__all__ = ["LAYOUTS", "Layout", "detect_layout", "imr_marker_count"]
