"""Where a letter states an IMR outcome, in words that do not depend on its layout.

An IMR decision is written in a few fixed ways whatever the letter's layout:
"<item>: Upheld", "the denial is overturned", "is (not) medically necessary".
These words decide an item of an unknown layout where its statement holds
them (:mod:`llm_extract.llm.whole_letter`), as they decide the older layouts'
items in :mod:`.older`; a small model inverts the meaning of "upheld" easily.
"""

from __future__ import annotations

import re

from ..models import Decision

# How far a decision statement may reach around its request.
_STATEMENT_BACK = 300
_STATEMENT_FORWARD = 400

# The words that state an IMR outcome, by decision: "not medically necessary"
# upholds the denial, "is medically necessary" overturns it.  Words that also
# tell the utilization review's history ("denied", "non-certified",
# "approved") are left out: "X was denied by UR on …" is no outcome.
UPHELD_CUE = re.compile(
    r"\bupheld\b|\buphold|\b(?:is|are|was|were|be)\s*not\s*medically\s*necessary", re.I
)
OVERTURNED_CUE = re.compile(
    r"\boverturn|\breversed\b|\b(?:is|are|was|were|be)\s+medically\s+necessary", re.I
)
CUES = {Decision.UPHELD: UPHELD_CUE, Decision.OVERTURNED: OVERTURNED_CUE}
_SENTENCE_END = re.compile(r"[.!?;](?=\s)|\n\s*\n")
# Where a statement may begin: after a sentence, or after a label ("Determination:").
_STATEMENT_START = re.compile(r"[.!?;:](?=\s)|\n\s*\n")


def states_outcome(text: str) -> bool:
    """True when ``text`` states an outcome (either decision)."""
    return bool(UPHELD_CUE.search(text) or OVERTURNED_CUE.search(text))


def stated_outcomes(text: str) -> dict[Decision, re.Match[str]]:
    """Each decision ``text`` states in outcome words, with its first words."""
    return {d: m for d, cue in CUES.items() if (m := cue.search(text))}


def statement(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence holding ``text[start:end]`` and, when it states no outcome,
    up to the end of the next sentence that does (within reach)."""
    lo = max(0, start - _STATEMENT_BACK)
    ends = [m.end() for m in _STATEMENT_START.finditer(text, lo, start)]
    s = ends[-1] if ends else lo
    hi = min(len(text), end + _STATEMENT_FORWARD)
    e = hi
    for m in _SENTENCE_END.finditer(text, end, hi):
        e = m.end()
        chunk = text[s:e]
        if states_outcome(chunk):
            break
        if "\n\n" in text[end : m.end()]:
            break  # a paragraph ended without an outcome
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


__all__ = ["CUES", "OVERTURNED_CUE", "UPHELD_CUE", "stated_outcomes", "statement", "states_outcome"]
