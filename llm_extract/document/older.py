"""Segmentation of the older layouts whose sections differ from the corpus's.

``notice-2013`` ("Notice of Independent Medical Review Determination") and
``medical-professional-review`` (see :mod:`llm_extract.layout` for
what is known of them and where from).  Both state a decision as a sentence,
not as ``<item>: Upheld``:

- 2013: "MAXIMUS Federal Services, Inc. has determined the request for <item>
  is not medically necessary and appropriate" (upheld: the denial stands) or
  "... is medically necessary and appropriate" (overturned).  Its PDF text
  runs words together ("isnotmedically"), so every space is optional.
- medical professional review: the disputed treatment under "ISSUE AT
  DISPUTE:", the decision in the rationale ("... is not medically necessary").

What cannot be read is said in ``Segments.notes``, which the rules backend
turns into review reasons: a record is never silently half empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..models import Decision
from .sections import ItemBlock, Section, Segments, trimmed_section
from .text import clean

# "... has determined the request for X is (not) medically necessary and appropriate"
_HAS_DETERMINED = re.compile(
    r"has\s*determined\s*(?:that\s*)?the\s*request\s*for\s*(?P<req>.+?)\s*"
    r"(?:is|was)\s*(?P<neg>not\s*)?medically\s*necessary\s*(?:and\s*appropriate)?",
    re.I | re.S,
)
# A decision stated in a rationale ("... is not medically necessary").
_NECESSITY = re.compile(r"(?:is|was|are|were)\s*(?P<neg>not\s*)?medically\s*necessary", re.I)

# notice-2013 sections
_QUALIFICATIONS_2013 = re.compile(
    r"Medical\s*Qualifications\s*of\s*the\s*Expert\s*Reviewer\s*:?", re.I
)
_CASE_SUMMARY_2013 = re.compile(r"(?<![A-Za-z])Case\s*Summary\s*:", re.I)

# medical-professional-review sections, in the order the crawler reads them
_MPR_HEADINGS = {
    "issue": re.compile(r"ISSUE\s*AT\s*DISPUTE\s*:?", re.I),
    "summary": re.compile(r"(?<!CLINICAL )CASE\s*SUMMARY\s*:", re.I),
    "documents": re.compile(r"DOCUMENTS\s*REVIEWED\s*FOR\s*DETERMINATION\s*:?", re.I),
    "guidelines": re.compile(
        r"MEDICAL\s*TREATMENT\s*GUIDELINE\s*\(\s*S\s*\)\s*RELIED\s*UPON\s*BY\s*PROFESSIONAL"
        r"\s*REVIEWER\s*AND\s*WHY\s*:?",
        re.I,
    ),
    "rationale": re.compile(
        r"RATIONALE\s*FOR\s*WHY\s*THE\s*REQUESTED\s*TREATMENT\s*/\s*SERVICE\s*IS\s*/\s*WAS\s*NOT"
        r"\s*MEDICALLY\s*NECESSARY\s*:?",
        re.I,
    ),
    "qualifications": re.compile(r"MEDICAL\s*REVIEWER\s*QUALIFICATIONS\s*:?", re.I),
}
_ISSUE_WRAPPER = re.compile(
    r"^(?:\d+[.)]\s*)?(?:is\s+)?(?:the\s+)?(?:request(?:ed)?\s+(?:for\s+)?)?|"
    r"\s*(?:is\s+)?(?:medically\s+necessary(?:\s+and\s+appropriate)?)?\s*\??\s*$",
    re.I,
)


def _decision(neg: str | None) -> Decision:
    # "not medically necessary": the denial stands (upheld).
    return Decision.UPHELD if neg else Decision.OVERTURNED


def _header_before(text: str, end: int) -> Section | None:
    return trimmed_section("header", text, 0, end)


def segment_notice_2013(text: str) -> Segments:
    notes: list[str] = []
    decisions = list(_HAS_DETERMINED.finditer(text))
    quals = _QUALIFICATIONS_2013.search(text)
    summ = _CASE_SUMMARY_2013.search(text)
    starts = sorted(m.start() for m in (quals, summ) if m)
    first = min([m.start() for m in decisions] + starts + [len(text)])
    header = _header_before(text, first)

    def until_next(pos: int) -> int:
        later = [s for s in starts if s > pos] + [m.start() for m in decisions if m.start() > pos]
        return min(later, default=len(text))

    credentials = (
        trimmed_section("credentials", text, quals.end(), until_next(quals.end()))
        if quals
        else None
    )
    summary = trimmed_section("summary", text, summ.end(), until_next(summ.end())) if summ else None
    items = _sentence_items(text, decisions, " ,.:", lambda m: until_next(m.end()))
    if not items:
        notes.append(
            "notice-2013 layout: no 'has determined the request for … is (not) medically "
            "necessary' statement was found, so no item or decision could be read"
        )
    if quals is None:
        notes.append(
            "notice-2013 layout: no 'Medical Qualifications of the Expert Reviewer' section"
        )
    return Segments(
        header=header, credentials=credentials, summary=summary, items=items, notes=tuple(notes)
    )


def _issue_requests(issue: str) -> list[str]:
    """The disputed treatments listed under ISSUE AT DISPUTE (one per line or numbered)."""
    lines = [ln.strip() for ln in issue.splitlines() if ln.strip()]
    if len(lines) > 1 and not all(re.match(r"^\d+[.)]", ln) for ln in lines):
        lines = [" ".join(lines)]  # one issue wrapped over lines
    out = []
    for ln in lines:
        req = clean(_ISSUE_WRAPPER.sub("", ln)).strip(" ,.:")
        if req:
            out.append(req)
    return out


def segment_medical_professional_review(text: str) -> Segments:
    notes: list[str] = []
    found = {}
    for name, rx in _MPR_HEADINGS.items():
        m = rx.search(text)
        if m:
            found[name] = m
    order = sorted(found.items(), key=lambda nm: nm[1].start())

    def body(name: str) -> Section | None:
        if name not in found:
            return None
        m = found[name]
        later = [o.start() for _n, o in order if o.start() > m.start()]
        return trimmed_section(name, text, m.end(), min(later, default=len(text)))

    first = order[0][1].start() if order else len(text)
    header = _header_before(text, first)
    issue, rationale, guidelines = body("issue"), body("rationale"), body("guidelines")
    requests = _issue_requests(issue.text(text)) if issue else []
    items: list[ItemBlock] = []
    if not requests:
        notes.append("medical professional review: no disputed treatment under 'ISSUE AT DISPUTE:'")
    statements = (
        list(_NECESSITY.finditer(text, rationale.start, rationale.end)) if rationale else []
    )
    if requests and not statements:
        notes.append(
            "medical professional review: the rationale states no decision "
            "('is/is not medically necessary'), so the items' decisions are unknown"
        )
    elif requests and len(requests) > 1 and len(statements) < len(requests):
        notes.append(
            f"medical professional review: {len(requests)} disputed treatments but "
            f"{len(statements)} decision statement(s); decisions could not be paired"
        )
    elif requests:
        # One issue: the rationale's last statement is its conclusion.
        picked = [statements[-1]] if len(requests) == 1 else statements[-len(requests) :]
        for k, (req, st) in enumerate(zip(requests, picked, strict=True)):
            line_start = text.rfind("\n", 0, st.start()) + 1
            items.append(
                ItemBlock(
                    index=k,
                    decision_line=Section("decision_line", line_start, st.end()),
                    request=req,
                    original_request=None,
                    decision=_decision(st.group("neg")),
                    claims_guideline=None,
                    maximus_guideline=guidelines,
                    rationale=rationale,
                    start=issue.start if issue else st.start(),
                    end=rationale.end if rationale else st.end(),
                )
            )
    return Segments(
        header=header,
        credentials=body("qualifications"),
        summary=body("summary"),
        items=items,
        notes=tuple(notes),
    )


def necessity_items(text: str, lo: int, hi: int) -> list[ItemBlock]:
    """Items stated as "the request for X is (not) medically necessary" in ``text[lo:hi]``.

    Used for the maximus-imr-2014 layout when its decisions are not written
    ``X: Upheld``.
    """
    pattern = re.compile(
        r"(?:the\s*request\s*for\s*)(?P<req>[^.\n]+?)\s*(?:is|was)\s*(?P<neg>not\s*)?"
        r"medically\s*necessary(?:\s*and\s*appropriate)?",
        re.I,
    )
    found = list(pattern.finditer(text, lo, hi))
    return _sentence_items(text, found, " ,.:\"'", lambda m: hi)


def _sentence_items(
    text: str,
    decisions: list[re.Match[str]],
    strip: str,
    last_end: Callable[[re.Match[str]], int],
) -> list[ItemBlock]:
    """One item per decision sentence (groups ``req`` and ``neg``), in letter order.

    A block runs to the next decision sentence (the last one to ``last_end``);
    the same request decided twice (a summary, then the analysis) is one item.
    """
    items: list[ItemBlock] = []
    seen: set[str] = set()
    for k, m in enumerate(decisions):
        request = clean(m.group("req")).strip(strip)
        if request.casefold() in seen:
            continue
        seen.add(request.casefold())
        end = decisions[k + 1].start() if k + 1 < len(decisions) else last_end(m)
        items.append(
            ItemBlock(
                index=len(items),
                decision_line=Section("decision_line", m.start(), m.end()),
                request=request,
                original_request=None,
                decision=_decision(m.group("neg")),
                claims_guideline=None,
                maximus_guideline=None,
                rationale=trimmed_section("rationale", text, m.end(), end),
                start=m.start(),
                end=end,
            )
        )
    return items
