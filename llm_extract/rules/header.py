"""The header block: case number, dates and priority, whatever wrote the text.

The header is a two-column table of labels and values.  Extractors write it
in different orders, all of which occur on real letters:

PDFium (labels and values interleaved, one label split by another value)::

    Priority: Standard Application
    Received:
    12/13/2016

pdftotext ``-layout`` and pypdf's layout mode (columns; a label split over
two lines with its value between)::

    Priority:             Standard                        Application          12/13/2016
                                                          Received:

pdftotext in its default reading order (a block of labels, then a block of
values in the same order)::

    Case Number:
    Date Assigned:
    Decision Date:
    Priority:

    CM16-0239110
    12/22/2016
    ...

OCR adds its own confusions: ``0``/``O`` and ``1``/``l`` in labels and values,
a lost colon.  The reader therefore works on a sequence of tokens (labels and
values, with their offsets):

1. a value right after its label on the same line belongs to it;
2. the labels left over, in order, take the values left over, in order, when
   a run of labels is followed by a run of values of the same kinds (dates,
   a case number, a priority word) -- the block order;  when the numbers of
   dates and date labels in such a pair of runs differ, which date belongs
   to which label cannot be told and those dates stay null (never shifted to
   the wrong label: the record flags a missing decision date).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from ..document.text import DATE_RE, find_dates
from ..models import Priority
from .readings import EXACT, HEURISTIC, UNDECIDED, Reading, Verdict, reading


def _fuzzy(word: str) -> str:
    """A label word as OCR may misread it: O/0, l/1/I, i/l/1."""
    out = []
    for ch in word:
        if ch in "Oo":
            out.append(f"[{ch}0]")
        elif ch in "lI":
            out.append("[lI1|]")
        elif ch == "i":
            out.append("[il1]")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _label(*words: str) -> str:
    # Words may run together or be split by a line break; the colon may be lost.
    return r"\s*".join(_fuzzy(w) for w in words)


_COLON = r"\s*[:;.]?"
# label -> field
_DATE_LABELS = {
    "date_assigned": re.compile(_label("Date", "Assigned") + _COLON, re.I),
    "date_of_injury": re.compile(_label("Date", "of", "Injury") + _COLON, re.I),
    "decision_date": re.compile(_label("Decision", "Date") + _COLON, re.I),
    "ur_denial_date": re.compile(_label("UR", "Denial", "Date") + _COLON, re.I),
    "application_received": re.compile(
        _label("Application") + r"\s*(?:(?:Standard|Expedited)\s+)?" + _label("Received") + _COLON,
        re.I,
    ),
}
_CASE_LABEL = re.compile(_label("Case", "Number") + _COLON, re.I)
_PRIORITY_LABEL = re.compile(_label("Priority") + _COLON, re.I)
# "Application" whose "Received:" comes later (a value or a line break between).
_APPLICATION_ALONE = re.compile(r"\b" + _label("Application") + r"\b(?!\s*[:;])", re.I)
_RECEIVED_ALONE = re.compile(r"\b" + _label("Received") + _COLON, re.I)
# How far "Received:" may stand from its "Application" (a date and a column gap).
_SPLIT_LABEL_REACH = 160

_CASE_VALUE = re.compile(r"\b([A-Z]{2}\s*[0-9OolI]{2}\s*-\s*[0-9OolI]{5,8})\b")
_PRIORITY_VALUE = re.compile(r"\b(Standard|Expedited|Urgent)\b", re.I)
# A date whose digits OCR misread as letters ("l2/22/2016", "O1/20/2017").
_OCR_DATE = re.compile(
    r"(?<![\w/.-])([0-9OolI|]{1,2}\s?[/-]\s?[0-9OolI|]{1,2}\s?[/-]\s?[0-9OolI|]{2,4})(?![\w/])"
)
_LETTER_IN_DATE = re.compile(r"[OolI|]\s?[/-]\s?[0-9OolI|]|[0-9]\s?[/-]\s?[OolI|]")
_DIGIT_FIX = str.maketrans({"O": "0", "o": "0", "l": "1", "I": "1", "|": "1"})

# Text between a label and its value on the same line may hold only these.
_SAME_LINE_GAP = re.compile(r"[ \t:|.]*")


@dataclass(frozen=True)
class Header:
    case_number: str | None = None
    date_assigned: dt.date | None = None
    date_of_injury: dt.date | None = None
    decision_date: dt.date | None = None
    ur_denial_date: dt.date | None = None
    application_received: dt.date | None = None
    priority: Priority | None = None


@dataclass
class _Token:
    start: int
    end: int
    kind: str  # "label" | "date" | "case" | "priority"
    field: str | None = None  # a label's field
    value: object = None  # a value's parsed value
    taken: bool = False
    whole: bool = False  # a label matched whole (not split around a value)


def _kind_of(field: str) -> str:
    if field == "case_number":
        return "case"
    if field == "priority":
        return "priority"
    return "date"


def _labels(text: str) -> list[_Token]:
    found: list[_Token] = []
    for field, rx in (
        ("case_number", _CASE_LABEL),
        ("priority", _PRIORITY_LABEL),
        *_DATE_LABELS.items(),
    ):
        m = rx.search(text)
        if m:
            found.append(_Token(m.start(), m.end(), "label", field=field, whole=True))
    if not any(t.field == "application_received" for t in found):
        # Split label: "Application <value or line break> Received:".
        for m in _APPLICATION_ALONE.finditer(text):
            r = _RECEIVED_ALONE.search(text, m.end(), m.end() + _SPLIT_LABEL_REACH)
            if r:
                found.append(_Token(m.start(), m.end(), "label", field="application_received"))
                # "Received:" is part of the label, not a gap or a value.
                found.append(_Token(r.start(), r.end(), "noise"))
                break
    return found


def _values(text: str, labels: list[_Token]) -> list[_Token]:
    inside = [(t.start, t.end) for t in labels]

    def free(s: int, e: int) -> bool:
        return not any(s < le and e > ls for ls, le in inside)

    out: list[_Token] = []
    for m in _CASE_VALUE.finditer(text):
        if free(m.start(), m.end()):
            prefix, _, rest = re.sub(r"\s+", "", m.group(1)).upper().partition("-")
            value = f"{prefix[:2]}{prefix[2:].translate(_DIGIT_FIX)}-{rest.translate(_DIGIT_FIX)}"
            out.append(_Token(m.start(), m.end(), "case", value=value))
    spans = [(t.start, t.end) for t in out]
    for d, s, e in find_dates(text):
        if free(s, e) and not any(s < ce and e > cs for cs, ce in spans):
            out.append(_Token(s, e, "date", value=d))
    dates_at = {t.start for t in out if t.kind == "date"}
    # Letters in a date's place are rare (OCR only): look for them only then.
    for m in _OCR_DATE.finditer(text) if _LETTER_IN_DATE.search(text) else ():
        s = m.start(1)
        if s in dates_at or not free(s, m.end(1)) or m.group(1).isdigit():
            continue
        fixed = find_dates(m.group(1).translate(_DIGIT_FIX))
        if fixed and not any(s < ce and m.end(1) > cs for cs, ce in spans):
            out.append(_Token(s, m.end(1), "date", value=fixed[0][0]))
    for m in _PRIORITY_VALUE.finditer(text):
        if free(m.start(), m.end()):
            word = m.group(1).lower()
            value = Priority.EXPEDITED if word in ("expedited", "urgent") else Priority.STANDARD
            out.append(_Token(m.start(), m.end(), "priority", value=value))
    return out


def parse_header(text: str) -> Header:
    """Parse the header block's text (``Segments.header``), from any extractor."""
    return _parse(text, _labels(text))


def _parse(text: str, labels: list[_Token]) -> Header:
    tokens = sorted(labels + _values(text, labels), key=lambda t: t.start)
    tokens = [t for t in tokens if t.kind != "noise"]
    values: dict[str, object] = {}

    # 1. A value right after its label on the same line.
    for k, tok in enumerate(tokens):
        if tok.kind != "label" or k + 1 >= len(tokens):
            continue
        nxt = tokens[k + 1]
        assert tok.field is not None
        if nxt.kind == _kind_of(tok.field) and not nxt.taken:
            gap = text[tok.end : nxt.start]
            if _SAME_LINE_GAP.fullmatch(gap):
                values[tok.field] = nxt.value
                tok.taken = nxt.taken = True

    # 2. Runs of leftover labels followed by runs of leftover values, in order;
    # a pair taken in step 1 ends a run (it stands between them in the text).
    k = 0
    while k < len(tokens):
        if tokens[k].kind != "label" or tokens[k].taken:
            k += 1
            continue
        j = k
        while j < len(tokens) and tokens[j].kind == "label" and not tokens[j].taken:
            j += 1
        v = j
        while v < len(tokens) and tokens[v].kind != "label" and not tokens[v].taken:
            v += 1
        run_labels, run_values = tokens[k:j], tokens[j:v]
        for kind in ("case", "priority", "date"):
            want = [t for t in run_labels if _kind_of(t.field or "") == kind]
            have = [t for t in run_values if t.kind == kind]
            if want and (len(want) == len(have) or (kind != "date" and have)):
                for lab, val in zip(want, have, strict=False):
                    values[lab.field or ""] = val.value
        k = max(v, j)
    return Header(**values)  # type: ignore[arg-type]


_HEADER_DATES = ("date_assigned", "decision_date", "ur_denial_date", "application_received")


def read_header(text: str | None) -> tuple[Header, list[Reading]]:
    """The header's values and their readings (``text`` None: the layout has no header)."""
    labels = _labels(text) if text is not None else []
    header = _parse(text, labels) if text is not None else Header()
    whole = {t.field: (t.start, t.end) for t in labels if t.whole}
    out = [
        reading(
            "case_number",
            header.case_number,
            Verdict(
                EXACT if header.case_number or text is None else UNDECIDED,
                "header: 'Case Number:'",
            ),
        ),
        reading(
            "priority",
            header.priority,
            Verdict(EXACT if header.priority or text is None else UNDECIDED, "header: 'Priority:'"),
        ),
    ]
    for name in _HEADER_DATES:
        value = getattr(header, name)
        out.append(reading(name, value, _date_verdict(name, value, text, whole.get(name))))
    return header, out


def date_verdict(field: str, value: object, text: str | None) -> Verdict:
    """How sure the header reader is of the date it gave ``field``.

    Exact when the date stands on the label's line (or the label states
    none); heuristic when it was paired by block order or the label is lost.
    """
    if text is None:
        return Verdict(EXACT, "no header block in this layout")
    m = _DATE_LABELS[field].search(text)
    return _date_verdict(field, value, text, m.span() if m else None)


def _date_verdict(
    field: str, value: object, text: str | None, label: tuple[int, int] | None
) -> Verdict:
    """:func:`date_verdict` with the label's span already found (None: not found)."""
    if text is None:
        return Verdict(EXACT, "no header block in this layout")
    if label is None:
        if value:
            return Verdict(HEURISTIC, "header: a date without its label")
        return Verdict(UNDECIDED, "header: label not found")
    start, end = label
    name = " ".join(text[start:end].rstrip(":").split())
    line_end = text.find("\n", end)
    line = text[end : len(text) if line_end == -1 else line_end]
    on_line = [d for d, s, _e in find_dates(line) if not line[:s].strip()]
    if value is None:
        if on_line:
            return Verdict(UNDECIDED, f"header: {name} has a date the parser did not take")
        return Verdict(EXACT, f"header: '{name}:' states no date")
    if on_line and on_line[0] == value:
        return Verdict(EXACT, f"header: the date after '{name}:'")
    return Verdict(HEURISTIC, f"header: the first unclaimed date after '{name}:'")


__all__ = ["DATE_RE", "Header", "date_verdict", "parse_header", "read_header"]
