"""Cut a letter into its parts: header, credentials, case summary and items.

Both layouts are handled: the older one (seeds: no header block, text with
doubled line breaks) and the PDF one (a header block whose text PDFium emits in
a jumbled order).  Every part is a :class:`Section` of character offsets into
``letter.text`` so callers slice the text cheaply and spans stay exact.

An item is anchored on its decision word ("Upheld"/"Overturned" at a line end,
after a colon, possibly on the next line) followed by the item's labelled
parts (``Claims Administrator guideline:`` …).  Its decision statement starts
after the last line of the previous item that ends a sentence; a partial
certification statement ("X was the original request. … The remaining IMR
eligible portion of the original request, Y is: Upheld") is taken whole.
"""

from __future__ import annotations

import re
from dataclasses import replace

from ..errors import NotIMRLetterError, TruncatedLetterError
from ..layout import CREDENTIALS_HEADING, ITEMS_HEADING
from ..limits import check_time
from ..loading import Letter
from ..models import Decision
from . import older
from .sections import ItemBlock, Section, Segments, trimmed_section
from .text import clean

_SUMMARY_HEAD = re.compile(r"CLINICAL\s+CASE\s+SUMMARY", re.I)
_SUMMARY_PREAMBLE = re.compile(
    r"\s*The\s+expert\s+reviewer\s+developed\s+the\s+following\s+clinical\s+case\s+summary"
    r".*?medical\s+records\s*:",
    re.I | re.S,
)
# maximus-imr-2014: a list of documents between the credentials and the summary.
_DOCUMENTS_HEAD = re.compile(r"^[ \t]*DOCUMENTS\s+REVIEWED[ \t]*:?[ \t]*$", re.I | re.M)
_ITEMS_PREAMBLE = re.compile(r"set\s+forth\s+below\s*:", re.I)
_HEADER_LABEL = re.compile(r"Case\s*Number\s*:?|Date\s*Assigned\s*:?|Decision\s*Date\s*:?", re.I)

_DECISION = re.compile(r":[ \t]*(?:\n[ \t]*)*(Upheld|Overturned)\b\.?[ \t]*(?=\n|$)", re.I)
_CLAIMS_LABEL = re.compile(r"Claims\s+Administrator\s+guideline\s*:", re.I)
_MAXIMUS_LABEL = re.compile(r"MAXIMUS\s+guideline\s*:", re.I)
_RATIONALE_LABEL = re.compile(r"Decision\s+rationale\s*:", re.I)
# What may follow a decision word: the item's first labelled part (or nothing,
# when the letter is cut off right there).
_AFTER_DECISION = re.compile(
    r"\s*(?:Claims\s+Administrator\s+guideline|MAXIMUS\s+guideline|Decision\s+rationale)\s*:|\s*$",
    re.I,
)

_PARTIAL_TAIL = re.compile(
    r"The\s+remaining\s+IMR\s+eligible\s+portion\s+of\s+the\s+original\s+request"
    r"|The\s+original\s+request\s*,",
    re.I,
)
_WAS_ORIGINAL = re.compile(r"\s+was\s+the\s+original\s+request\b", re.I)
# "…original request, X is" / "…original request, X" / "The original request, X is"
_PARTIAL_REQUEST = re.compile(
    r"(?:The\s+remaining\s+IMR\s+eligible\s+portion\s+of\s+the\s+original\s+request"
    r"|The\s+original\s+request)\s*,?\s*(?:is\s+)?(?P<x>.*?)(?:\s+is)?\s*$",
    re.I | re.S,
)
# A line that ends a sentence (so the next line starts a new statement).
_SENTENCE_END = re.compile(r"[.?!][\"'”’)\]]*\s*$")
_TRAILING_IS = re.compile(r"\s+is$", re.I)
_REQUEST_FOR = re.compile(r"^(?:the\s+)?request\s+for\s+", re.I)
_SENTENCE_BREAK = re.compile(r"[.?!][\"')]*\s+(?=[A-Z])")
# A decision statement of a plain item wraps over at most this many lines.
_MAX_REQUEST_LINES = 4


def _line_spans(text: str, lo: int, hi: int) -> list[tuple[int, int]]:
    """Non-blank lines within ``text[lo:hi]`` as (start, end) offsets, end without newline."""
    spans = []
    pos = lo
    while pos < hi:
        nl = text.find("\n", pos, hi)
        end = hi if nl == -1 else nl
        if text[pos:end].strip():
            spans.append((pos, end))
        pos = end + 1
    return spans


def _statement_start(text: str, lo: int, anchor: int, max_lines: int) -> int:
    """Where the statement containing ``anchor`` begins: walk back over wrapped lines."""
    lines = _line_spans(text, lo, anchor + 1)
    if not lines:
        return anchor
    i = len(lines) - 1
    walked = 1
    while i > 0 and walked < max_lines:
        prev_start, prev_end = lines[i - 1]
        if _SENTENCE_END.search(text[prev_start:prev_end]):
            break
        i -= 1
        walked += 1
    start = lines[i][0]
    # Leading spaces of the line are not part of the statement.
    while start < anchor and text[start] in " \t":
        start += 1
    return start


def _find_decisions(text: str, lo: int) -> list[re.Match[str]]:
    return [m for m in _DECISION.finditer(text, lo) if _AFTER_DECISION.match(text, m.end())]


def _item_parts(
    text: str, lo: int, hi: int
) -> tuple[Section | None, Section | None, Section | None]:
    """The labelled parts of one item between its decision word and ``hi``."""
    labels: list[tuple[str, re.Match[str]]] = []
    for name, rx in (
        ("claims_guideline", _CLAIMS_LABEL),
        ("maximus_guideline", _MAXIMUS_LABEL),
        ("rationale", _RATIONALE_LABEL),
    ):
        m = rx.search(text, lo, hi)
        if m:
            labels.append((name, m))
    labels.sort(key=lambda nm: nm[1].start())
    found: dict[str, Section | None] = {}
    for k, (name, m) in enumerate(labels):
        end = labels[k + 1][1].start() if k + 1 < len(labels) else hi
        found[name] = trimmed_section(name, text, m.end(), end)
    return found.get("claims_guideline"), found.get("maximus_guideline"), found.get("rationale")


def _decision_statement(text: str, lo: int, colon: int) -> tuple[int, str, str | None]:
    """(start, request, original_request) for the decision whose colon is at ``colon``."""
    window = text[lo:colon]
    # A partial-certification tail belongs to this statement only when no
    # sentence ends between it and the decision (a rationale may quote it).
    tails = [
        t for t in _PARTIAL_TAIL.finditer(window) if not _SENTENCE_BREAK.search(window, t.end())
    ]
    if tails:
        tail = tails[-1]
        originals = [m for m in _WAS_ORIGINAL.finditer(window, 0, tail.start())]
        if originals:
            anchor = lo + originals[-1].start()
            start = _statement_start(text, lo, anchor, _MAX_REQUEST_LINES + 2)
            original = clean(text[start:anchor])
        else:
            start = _statement_start(text, lo, lo + tail.start(), _MAX_REQUEST_LINES)
            original = None
        m = _PARTIAL_REQUEST.match(clean(window[tail.start() :]))
        request = m.group("x").strip(" ,") if m else clean(window[tail.start() :])
        return start, request, original
    start = _statement_start(text, lo, colon, _MAX_REQUEST_LINES)
    # "The request for X: Upheld" names the item X.
    request = _TRAILING_IS.sub("", _REQUEST_FOR.sub("", clean(text[start:colon])))
    return start, request, None


def segment_letter(letter: Letter) -> Segments:
    """Split ``letter`` into its sections and item blocks.

    Raises :class:`TruncatedLetterError` when no disputed item can be found
    (the letter is cut off before its "IMR ISSUES, DECISIONS AND RATIONALES"),
    :class:`NotIMRLetterError` when none of a determination's sections is there.
    """
    check_time("parsing")
    text = letter.text
    layout = letter.layout.name
    if layout in ("notice-2013", "medical-professional-review"):
        if layout == "notice-2013":
            return older.segment_notice_2013(text)
        return older.segment_medical_professional_review(text)
    cred_m = CREDENTIALS_HEADING.search(text)
    summ_m = _SUMMARY_HEAD.search(text, cred_m.end() if cred_m else 0)
    items_m = ITEMS_HEADING.search(text, summ_m.end() if summ_m else 0)

    header = None
    first_heading = min(
        (m.start() for m in (cred_m, summ_m, items_m) if m is not None), default=len(text)
    )
    if _HEADER_LABEL.search(text, 0, first_heading):
        header = trimmed_section("header", text, 0, first_heading)

    credentials = None
    if cred_m:
        end = summ_m.start() if summ_m else (items_m.start() if items_m else len(text))
        docs = _DOCUMENTS_HEAD.search(text, cred_m.end(), end)
        credentials = trimmed_section(
            "credentials", text, cred_m.end(), docs.start() if docs else end
        )

    summary = None
    if summ_m:
        body = summ_m.end()
        pre = _SUMMARY_PREAMBLE.match(text, body)
        if pre:
            body = pre.end()
        summary = trimmed_section("summary", text, body, items_m.start() if items_m else len(text))

    if cred_m is None and summ_m is None and items_m is None:
        # Mentions of "Independent Medical Review" and MAXIMUS pass the loader's
        # check (a UR denial letter explains how to apply for one), but a
        # determination has at least one of its section headings.
        raise NotIMRLetterError(
            "this is not an IMR Final Determination letter: none of its sections "
            "('HOW THE IMR FINAL DETERMINATION WAS MADE', 'CLINICAL CASE SUMMARY', "
            "'IMR ISSUES, DECISIONS AND RATIONALES') was found",
            letter=letter.letter_id,
        )
    if items_m is None:
        raise TruncatedLetterError(
            "the letter is cut off before its disputed items "
            "(no 'IMR ISSUES, DECISIONS AND RATIONALES' section)",
            letter=letter.letter_id,
        )
    lo = items_m.end()
    pre = _ITEMS_PREAMBLE.search(text, lo, min(len(text), lo + 400))
    if pre:
        lo = pre.end()

    decisions = _find_decisions(text, lo)
    if not decisions and layout == "maximus-imr-2014":
        found = older.necessity_items(text, lo, len(text))
        if found:
            return Segments(header=header, credentials=credentials, summary=summary, items=found)
    items: list[ItemBlock] = []
    bound = lo
    # First pass: each decision statement's start needs the previous item's
    # rationale label as its lower bound, so walk in order.
    for k, m in enumerate(decisions):
        colon = m.start()
        start, request, original = _decision_statement(text, bound, colon)
        next_hi = decisions[k + 1].start() if k + 1 < len(decisions) else len(text)
        cg, mg, rat = _item_parts(text, m.end(), next_hi)
        word = m.group(1).lower()
        items.append(
            ItemBlock(
                index=k,
                decision_line=Section("decision_line", start, m.end(1)),
                request=request,
                original_request=original,
                decision=Decision(word),
                claims_guideline=cg,
                maximus_guideline=mg,
                rationale=rat,
                start=start,
                end=next_hi,
            )
        )
        last = rat or mg or cg
        bound = last.start if last else m.end()
    # Second pass: an item ends where the next one's decision statement starts.
    fixed: list[ItemBlock] = []
    for k, it in enumerate(items):
        end = items[k + 1].start if k + 1 < len(items) else len(text)
        rat = it.rationale
        if rat is not None:
            rat = trimmed_section("rationale", text, rat.start, min(rat.end, end))
        while end > it.start and text[end - 1].isspace():
            end -= 1
        fixed.append(replace(it, rationale=rat, end=end))
    if not fixed:
        raise TruncatedLetterError(
            "no disputed item with a decision (Upheld/Overturned) was found; "
            "the letter seems cut off before its items",
            letter=letter.letter_id,
        )
    return Segments(header=header, credentials=credentials, summary=summary, items=fixed)


__all__ = ["ItemBlock", "Section", "Segments", "segment_letter"]
