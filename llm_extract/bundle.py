"""Files that hold several letters (a "bundle"): where each letter starts.

People merge the letters of one claim into one PDF, or concatenate texts.
Each IMR determination opens with its header block (``Case Number:`` …) and
its first section, "HOW THE IMR FINAL DETERMINATION WAS MADE", and has one
"IMR ISSUES, DECISIONS AND RATIONALES" section; no single corpus letter has
either heading twice or two case numbers.  So a file with several of them is
several letters, and each letter starts at the header block before its
"HOW THE IMR …" heading.

The cut is made where it is certain, else not at all: every letter must have
exactly one opening heading and one items heading, in that order, and at most
one case number, and (in a PDF, or a text with form feeds) the page where a
letter opens must hold nothing of the previous letter before its header.
Anything else raises :class:`~llm_extract.errors.BundleSplitError` naming the
pages (or lines) to look at: one merged record, with the first letter's case
number and both letters' items, would be silently wrong.

Everything here works on plain strings (raw page texts or a file's text), so
the loader can cut before it normalises: each letter is then normalised on its
own and reads exactly as it would in a file of its own.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from .errors import BundleSplitError
from .layout import CREDENTIALS_HEADING, ITEMS_HEADING

_CASE = re.compile(r"Case\s*Number\s*:?\s*(C\s*M\s*\d\s*\d\s*-\s*\d{7})", re.I)
# A line of a letter's header block: its labels, dates, the case number and
# the priority, in whatever order the PDF's text puts them.
_HEADER_LINE = re.compile(
    r"^(?:\s|(?:IMR\s*)?Case\s*Number|Date\s*Assigned|Date\s*of\s*Injury|Decision\s*Date"
    r"|UR\s*Denial\s*Date|Priority|Application|Received|Standard|Expedited|Urgent|:"
    r"|C\s*M\s*\d\d\s*-\s*\d{7}|\d{1,2}\s*/\s*\d{1,2}\s*/\s*\d{2,4})*$",
    re.I,
)


@dataclass(frozen=True)
class Piece:
    """One letter of a bundle: ``[start, end)`` in pages (0-based) or characters."""

    start: int
    end: int
    case_number: str | None


def _case_numbers(text: str) -> list[str]:
    return ["".join(m[1].split()).upper() for m in _CASE.finditer(text)]


def _check_piece(text: str, where: Callable[[], str]) -> str | None:
    """The piece's case number, when it reads as exactly one letter; else why not."""
    openings = [m.start() for m in CREDENTIALS_HEADING.finditer(text)]
    items = [m.start() for m in ITEMS_HEADING.finditer(text)]
    cases = set(_case_numbers(text))
    if len(openings) != 1 or len(items) != 1 or openings[0] > items[0] or len(cases) > 1:
        raise BundleSplitError(
            f"the file seems to hold several letters, but {where()} does not read as one "
            f"letter ({len(openings)} 'HOW THE IMR FINAL DETERMINATION WAS MADE', "
            f"{len(items)} 'IMR ISSUES, DECISIONS AND RATIONALES', "
            f"{len(cases)} case number(s)); split the file by hand into one letter per file",
        )
    return next(iter(cases), None)


def looks_like_bundle(text: str) -> bool:
    """True when ``text`` has two letters' headings or two case numbers."""
    return (
        len(CREDENTIALS_HEADING.findall(text)) > 1
        or len(ITEMS_HEADING.findall(text)) > 1
        or len(set(_case_numbers(text))) > 1
    )


def _unsure(text_by_page: list[str] | None, text: str, lid: str) -> BundleSplitError:
    """The error for a file with several letters' marks that cannot be cut cleanly."""
    marks = [
        m.start() for rx in (CREDENTIALS_HEADING, ITEMS_HEADING, _CASE) for m in rx.finditer(text)
    ]
    if text_by_page is not None:
        starts, pos = [], 0
        for page in text_by_page:
            starts.append(pos)
            pos += len(page) + 1
        where = sorted({bisect.bisect_right(starts, m) for m in marks})
        place = f"pages {', '.join(map(str, where))}"
    else:
        line = _line_numbers(text)
        place = f"lines {', '.join(map(str, sorted({line(m) for m in marks})))}"
    return BundleSplitError(
        f"the file holds {len(set(_case_numbers(text)))} case number(s), "
        f"{len(CREDENTIALS_HEADING.findall(text))} 'HOW THE IMR FINAL DETERMINATION WAS MADE' and "
        f"{len(ITEMS_HEADING.findall(text))} 'IMR ISSUES, DECISIONS AND RATIONALES' headings, "
        f"and where one letter ends is unsure (look at {place}); "
        "split it by hand into one letter per file",
        letter=lid,
    )


def _header_start(text: str, anchor: int, floor: int) -> int:
    """Where the header block before ``anchor`` starts: walk back over header lines."""
    line_start = text.rfind("\n", floor, anchor) + 1 if anchor > floor else floor
    line_start = max(line_start, floor)
    start = line_start
    while start > floor:
        prev = text.rfind("\n", floor, start - 1)
        prev_start = prev + 1 if prev >= 0 else floor
        line = text[prev_start : start - 1]
        if not _HEADER_LINE.match(line):
            break
        start = prev_start
    # Blank lines before the header belong to the previous letter's end.
    while start < line_start and text[start] in " \t\n":
        nl = text.find("\n", start, line_start)
        if nl == -1 or text[start:nl].strip():
            break
        start = nl + 1
    return start


def split_text(text: str, lid: str) -> list[Piece] | None:
    """Cut a file's text into letters by characters; None when it holds one letter."""
    if not looks_like_bundle(text):
        return None
    openings = [m.start() for m in CREDENTIALS_HEADING.finditer(text)]
    if len(openings) < 2:
        raise _unsure(None, text, lid)
    cuts = [0]
    for k, anchor in enumerate(openings[1:], start=1):
        cut = _header_start(text, anchor, openings[k - 1])
        cuts.append(cut)
    cuts.append(len(text))
    pieces = []
    for k in range(len(cuts) - 1):
        a, b = cuts[k], cuts[k + 1]
        pieces.append(Piece(a, b, _check_piece(text[a:b], functools.partial(_lines, text, a, b))))
    return pieces


def _line_numbers(text: str) -> Callable[[int], int]:
    """The 1-based line of an offset into ``text`` (one pass over it, then a bisection)."""
    breaks = [m.start() for m in re.finditer("\n", text)]
    return lambda offset: bisect.bisect_left(breaks, offset) + 1


def _lines(text: str, start: int, end: int) -> str:
    line = _line_numbers(text)
    return f"lines {line(start)}-{line(end)}"


def split_pages(pages: list[str], lid: str) -> list[Piece] | None:
    """Cut a PDF's pages (or a text's form-feed pages) into letters; None when it holds one."""
    whole = "\n".join(pages)
    if not looks_like_bundle(whole):
        return None
    openings = [
        (k, m.start()) for k, page in enumerate(pages) for m in CREDENTIALS_HEADING.finditer(page)
    ]
    firsts = [0]
    for k, at in openings[1:]:
        # A letter opens on a page of its own: before its opening heading, that
        # page holds its header block and nothing of the previous letter.
        if k == firsts[-1] or not _only_header(pages[k][:at]):
            raise _unsure(pages, whole, lid)
        firsts.append(k)
    if len(firsts) < 2:
        raise _unsure(pages, whole, lid)
    firsts.append(len(pages))
    pieces = []
    for k in range(len(firsts) - 1):
        a, b = firsts[k], firsts[k + 1]
        text = "\n".join(pages[a:b])
        pieces.append(
            Piece(a, b, _check_piece(text, functools.partial("pages {}-{}".format, a + 1, b)))
        )
    return pieces


def _only_header(text: str) -> bool:
    return all(_HEADER_LINE.match(line) for line in text.split("\n"))


def piece_ids(pieces: list[Piece], stem: str) -> list[str]:
    """Each piece's letter id: its case number, or the file stem plus its part
    number when it has none or another piece has the same."""
    seen = Counter(p.case_number for p in pieces)
    return [
        p.case_number
        if p.case_number is not None and seen[p.case_number] == 1
        else f"{stem}-part{k}"
        for k, p in enumerate(pieces, start=1)
    ]


__all__ = ["Piece", "looks_like_bundle", "piece_ids", "split_pages", "split_text"]
