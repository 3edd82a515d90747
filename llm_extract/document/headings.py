"""A letter split at its own headings, for layouts the parser does not know.

The known layouts are segmented by their exact section titles
(:mod:`.segment`, :mod:`.older`).  A letter that is recognisably an IMR
determination but in none of them still has headings of its own; this module
finds them without knowing the layout, so the whole-letter LLM reader
(:mod:`llm_extract.llm.whole_letter`) can send each part to the call that needs
it.

A line is a heading when it is one of (case and spacing as any extractor
writes them; OCR's ``0``/``O``, ``1``/``l`` and a lost colon tolerated):

- a line in capitals (``CASE SUMMARY``, ``IMR DECISION(S) AND RATIONALE(S)``),
  possibly wrapped over two lines;
- a short label ending with a colon, alone on its line (``Findings:``,
  ``Requested treatment:``) or, in Title Case or capitals, followed by its text
  (``Case Summary: The patient …``, ``ISSUE AT DISPUTE: …``);
- a numbered section title (``2. Determination``, ``II. FINDINGS``,
  ``Section 3: Rationale``);

and never: page furniture (page numbers, a line repeated as a running header
or footer), a line stating an outcome (``LUMBAR MRI: UPHELD``), a line with
counts, strengths or codes, or a header field (``Case Number: CM13-…``: a
label without a role word whose value follows it).

:func:`classify` maps a heading to a role by its words (vocabulary generic to
medical review letters, not to one letter): ``summary``, ``decision``,
``rationale``, ``guideline``, ``reviewer``, ``documents`` (to be skipped) or
``other``; the text before the first heading (and a title in the letter's
first lines) is the ``header``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from .text import clean

ROLES = (
    "header",
    "summary",
    "decision",
    "rationale",
    "guideline",
    "reviewer",
    "documents",
    "other",
)

# Longest line taken as a heading; most are 10-60 characters, the longest known
# one ("MEDICAL TREATMENT GUIDELINE(S) RELIED UPON BY PROFESSIONAL REVIEWER AND
# WHY:") 77, and it may wrap.
_MAX_HEADING = 110
_MAX_LABEL_WORDS = 8
_MAX_ALONE_WORDS = 6
# A title in the letter's first lines belongs to the header, whatever its words
# ("INDEPENDENT MEDICAL REVIEW DETERMINATION" is no decision section).
_TITLE_LINES = 3
_TITLE_ROLES = ("decision", "other")

# Role vocabulary, squashed (see _key), in the order the roles are tried: the
# first role with a word in the heading wins.  Order matters where a heading
# has several: "DOCUMENTS REVIEWED FOR DETERMINATION" is a list of documents,
# "GUIDELINES RELIED UPON BY THE REVIEWER" names guidelines, "ISSUES,
# DECISIONS AND RATIONALES" holds the decisions, "RATIONALE FOR WHY THE
# REQUESTED SERVICE IS NOT NECESSARY" is a rationale, "TREATMENT HISTORY" a
# summary, "REQUESTED TREATMENT" lists what is decided.
_VOCABULARY: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "documents",
        (
            "documentsreviewed",
            "documentsconsidered",
            "documentsprovided",
            "documentsreceived",
            "recordsreviewed",
            "recordsconsidered",
            "recordsprovided",
            "recordsreceived",
            "materialsreviewed",
            "listofdocuments",
            "documentation",
        ),
    ),
    # "HOW THE (IMR FINAL) DETERMINATION WAS MADE": who reviewed, and how.
    ("reviewer", ("wasmade", "reviewprocess")),
    ("guideline", ("guideline", "criteria", "standardsapplied", "evidence", "references")),
    (
        "decision",
        (
            "decision",
            "determination",
            "outcome",
            "issue",
            "dispute",
            "conclusion",
            "result",
            "resolution",
        ),
    ),
    (
        "rationale",
        (
            "rationale",
            "reason",
            "basis",
            "finding",
            "analysis",
            "discussion",
            "medicalnecessity",
            "justification",
            "explanation",
            "opinion",
        ),
    ),
    (
        "summary",
        (
            "summary",
            "history",
            "background",
            "clinical",
            "facts",
            "presentation",
            "synopsis",
        ),
    ),
    # Weak words: only in a short heading ("REQUESTED TREATMENT", "Services"),
    # not in a guideline title wrapped onto its own line.
    ("decision-weak", ("request", "treatment", "service", "procedure", "itemsin")),
    (
        "reviewer",
        (
            "reviewer",
            "qualification",
            "credential",
            "expert",
            "licens",
            "boardcertif",
            "certification",
            "specialt",
            "physician",
        ),
    ),
)

_STOPWORDS = frozenset(
    (
        *("a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the"),
        *("to", "with", "is", "was", "were", "be", "its", "their", "his", "her", "this"),
        *("that", "these", "those", "per", "vs", "via"),
    )
)
# A line that states an outcome or carries counts, strengths, money or codes
# is content (an item line), never a heading.
_OUTCOME = re.compile(
    r"\b(?:upheld|overturned|uphold|overturn|approved|denied|certified|non-?certified"
    r"|medically\s+necessary|modified)\b",
    re.I,
)
_NUMERIC = re.compile(r"\d{2,}|[#%$]|\d\s*(?:mg|mcg|ml|x\b)|\d\s*/\s*\d|\bx\s*\d", re.I)
# "1." "2)" "II." "A." "Section 3:" "Part IV -" before a section title.
_ENUMERATOR = re.compile(
    r"^(?:(?:section|part|article)\s+)?(?:\d{1,2}|[IVX]{1,5}|[A-H])(?:[.):]|\s+-)\s+"
    r"|^(?:section|part|article)\s+(?:\d{1,2}|[IVX]{1,5})\s*[.:-]?\s+",
    re.I,
)
# "Label:" or "LABEL: text" at a line start.  The label is 1-8 words of letters
# (with / ( ) & ' , -); OCR may turn its colon into ";".
_LABEL = re.compile(r"^(?P<label>[A-Za-z][A-Za-z/()&',\- ]{1,90}?)\s*[:;](?:\s+|$)(?P<rest>.*)$")
# Page furniture: "Page 2 of 4", "- 3 -", "3", "2/4", "Page 2".
_PAGE_NUMBER = re.compile(
    r"^[-–\s]*(?:page\s*\d+(?:\s*(?:of|/)\s*\d+)?|\d{1,3}(?:\s*(?:of|/)\s*\d{1,3})?)[-–\s]*$",
    re.I,
)
_PAGE_IN_LINE = re.compile(r"\bpage\s*\d+\s*(?:of|/)\s*\d+\b", re.I)
_MAX_FURNITURE = 100
_MAX_RUNNING = 80


@dataclass(frozen=True)
class HeadedSection:
    """One part of a letter: ``text[start:end]``, its body ``text[body_start:end]``.

    ``heading`` is the heading as written (whitespace collapsed), ``None`` for
    the header; ``role`` is one of :data:`ROLES`.
    """

    heading: str | None
    role: str
    start: int
    body_start: int
    end: int

    def body(self, text: str) -> str:
        return text[self.body_start : self.end]


@dataclass(frozen=True)
class LetterParts:
    """A letter's sections in order, and its page furniture lines (offsets)."""

    text: str
    sections: tuple[HeadedSection, ...]
    furniture: tuple[tuple[int, int], ...]

    def of_role(self, *roles: str) -> list[HeadedSection]:
        return [s for s in self.sections if s.role in roles]

    def clean(self, start: int, end: int) -> str:
        """``text[start:end]`` without furniture lines, whitespace collapsed and
        line-end hyphens undone (:func:`.text.clean`)."""
        out: list[str] = []
        pos = start
        for lo, hi in self.furniture:
            if hi <= pos or lo >= end:
                continue
            out.append(self.text[pos:lo])
            pos = max(pos, hi + 1)  # the line and its newline: a word broken
            # over the page ("tem-" / footer / "porary") is joined again
        out.append(self.text[pos:end])
        return clean("".join(out))

    def clean_body(self, section: HeadedSection) -> str:
        return self.clean(section.body_start, section.end)


_OCR_LETTERS = str.maketrans("01|i", "olll")


def _key(text: str) -> str:
    """Letters only, case-folded, OCR's 0/1/| read as o/l/l (and i as l, so
    "DECISI0N", "QUAL1FICATIONS" and "Qualifications" compare equal)."""
    text = text.casefold().translate(_OCR_LETTERS)
    return "".join(ch for ch in text if ch.isalpha())


_VOCAB_KEYS = tuple((role, tuple(_key(w) for w in words)) for role, words in _VOCABULARY)


_WEAK_MAX_WORDS = 3


def classify(heading: str) -> str:
    """The role of a section by its heading's words; ``other`` when none fits."""
    key = _key(heading)
    for role, words in _VOCAB_KEYS:
        if any(w in key for w in words):
            if role == "decision-weak":
                if _word_count(heading) > _WEAK_MAX_WORDS:
                    continue
                return "decision"
            return role
    return "other"


def _lines(text: str) -> list[tuple[int, int]]:
    """Every line as (start, end) offsets, end without the newline."""
    out = []
    pos = 0
    for line in text.split("\n"):
        out.append((pos, pos + len(line)))
        pos += len(line) + 1
    return out


def _furniture(text: str, lines: list[tuple[int, int]]) -> set[int]:
    """Indexes of page-furniture lines: page numbers, and short lines repeated
    verbatim (digits aside: a running header with its page number or fax time).

    The loader drops a PDF's furniture page by page already; text files (an
    OCR or pdftotext output saved without form feeds) still carry it."""
    shape = [re.sub(r"\d+", "#", " ".join(text[s:e].split())).casefold() for s, e in lines]
    counts = Counter(sh for sh in shape if sh)
    out = set()
    for k, sh in enumerate(shape):
        if not sh or len(sh) > _MAX_FURNITURE:
            continue
        line = text[lines[k][0] : lines[k][1]].strip()
        paging = bool(_PAGE_NUMBER.match(line) or _PAGE_IN_LINE.search(line))
        # A repeated line is a running header or footer only when it reads like
        # one: short, no sentence or label text ("Claims Administrator
        # guideline: The Claims Administrator did not cite …" repeats per item).
        running = (
            counts[sh] >= 2
            and len(sh) <= _MAX_RUNNING
            and len(re.sub(r"[^a-z]", "", sh)) >= 4
            and not line.endswith((".", ",", ";", ":"))
            and ": " not in line
        )
        if paging or running:
            out.add(k)
    return out


def _letters(s: str) -> str:
    return "".join(ch for ch in s if ch.isalpha())


def _is_caps(s: str) -> bool:
    letters = _letters(s)
    return len(letters) >= 4 and sum(ch.isupper() for ch in letters) >= 0.9 * len(letters)


def _is_title_case(s: str) -> bool:
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z'/-]*", s)]
    significant = [w for w in words if w.casefold() not in _STOPWORDS]
    return bool(significant) and all(w[0].isupper() for w in significant)


def _word_count(s: str) -> int:
    return len(re.findall(r"[A-Za-z]+", s))


@dataclass(frozen=True)
class _Candidate:
    line: int
    heading: str
    body_at: int  # offset where the section's body starts
    role: str
    caps_alone: bool  # a line in capitals with nothing after it (may wrap onto the next)


def _candidate(text: str, k: int, start: int, end: int, stands_alone: bool) -> _Candidate | None:
    """Line ``k`` as a heading, or None.  ``stands_alone``: the previous content
    line ends a sentence or a label (or there is none), so this line does not
    continue it."""
    raw = text[start:end]
    line = raw.strip()
    if not line or len(line) > _MAX_HEADING or _OUTCOME.search(line):
        return None
    lead = len(raw) - len(raw.lstrip())
    enum = _ENUMERATOR.match(line)
    title = line[enum.end() :] if enum else line
    if not title or _NUMERIC.search(title):
        return None
    label = _LABEL.match(title)
    if label and label.group("rest").strip():
        # "Label: text" -- a heading with its body on the same line when the
        # label has a role word; otherwise a header field ("Case Number: …").
        name = label.group("label").strip()
        role = classify(name)
        if role == "other" or _word_count(name) > _MAX_LABEL_WORDS:
            return None
        if not _is_caps(name) and not (
            # A Title Case label continuing a wrapped line is a citation's
            # part ("… Non-MTUS Citation" / "Official Disability Guidelines: …").
            stands_alone and _is_title_case(name) and _word_count(name) <= _MAX_ALONE_WORDS - 1
        ):
            return None
        body_at = start + lead + (enum.end() if enum else 0) + label.start("rest")
        return _Candidate(k, name, body_at, role, caps_alone=False)
    if title.endswith((".", ",")):
        return None  # a sentence or a list's part, not a title
    name = label.group("label").strip() if label else title.rstrip(" :;")
    if not _letters(name):
        return None
    role = classify(name)
    words = _word_count(name)
    if _is_caps(name):
        if role == "other" and (enum or not stands_alone or (words < 2 and len(name) < 8)):
            return None  # an acronym or a drug name in capitals, a wrapped line
        return _Candidate(k, name, end, role, caps_alone=True)
    if role == "other":
        return None  # a mixed-case line is a heading only by its words
    if not stands_alone or words > _MAX_ALONE_WORDS:
        return None
    if label is not None or _is_title_case(name):
        # "Case Summary" without its colon (OCR), "2. Determination"
        return _Candidate(k, name, end, role, caps_alone=False)
    return None


def split_at_headings(text: str) -> LetterParts:
    """``text`` (any extractor's text of one letter) split at its own headings."""
    lines = _lines(text)
    furniture = _furniture(text, lines)
    found: list[_Candidate] = []
    content_lines = 0
    prev_line = ""
    prev_k = -1
    for k, (start, end) in enumerate(lines):
        if k in furniture or not text[start:end].strip():
            if not text[start:end].strip():
                prev_line = ""  # a blank line ends what came before
            continue
        content_lines += 1
        line = text[start:end].strip()
        stands_alone = not prev_line or prev_line.endswith((".", ":", "?", "!"))
        last = found[-1] if found else None
        if (
            last is not None
            and last.line == prev_k
            and last.caps_alone
            and not prev_line.endswith((":", ";"))
            and _is_caps(line)
            and len(last.heading) + len(line) <= _MAX_HEADING + 40
            and not _NUMERIC.search(line)
        ):
            # One heading wrapped over lines ("MEDICAL TREATMENT GUIDELINE(S)
            # RELIED UPON BY PROFESSIONAL" / "REVIEWER AND WHY:").
            merged = f"{last.heading} {line.rstrip(' :;')}"
            found[-1] = _Candidate(last.line, merged, end, classify(merged), True)
            prev_line, prev_k = line, k
            continue
        prev_line, prev_k = line, k
        cand = _candidate(text, k, start, end, stands_alone)
        if cand is None:
            continue
        if content_lines <= _TITLE_LINES and cand.body_at == end and cand.role in _TITLE_ROLES:
            continue  # the letter's title ("Notice of … Determination"): part of the header
        found.append(cand)
    sections: list[HeadedSection] = []
    first = lines[found[0].line][0] if found else len(text)
    if text[:first].strip():
        sections.append(HeadedSection(None, "header", 0, 0, first))
    for n, cand in enumerate(found):
        end = lines[found[n + 1].line][0] if n + 1 < len(found) else len(text)
        start = lines[cand.line][0]
        start += len(text[start:end]) - len(text[start:end].lstrip())
        sections.append(
            HeadedSection(" ".join(cand.heading.split()), cand.role, start, cand.body_at, end)
        )
    spans = tuple(lines[k] for k in sorted(furniture))
    return LetterParts(text=text, sections=tuple(sections), furniture=spans)


def _next_content(
    lines: list[tuple[int, int]], furniture: set[int], text: str, after: int
) -> int | None:
    for k in range(after + 1, len(lines)):
        if k in furniture:
            continue
        s, e = lines[k]
        if text[s:e].strip():
            return k
    return None


__all__ = ["ROLES", "HeadedSection", "LetterParts", "classify", "split_at_headings"]
