"""The patient's occupation: after "<age> year old <sex>" or "working as a …" anywhere.

A phrase that names the patient ("injured worker", "IW") is never a job
(:func:`llm_extract.vocab.names_the_patient`).
"""

from __future__ import annotations

import re

from ..document.text import clean
from ..vocab import NOT_OCCUPATION_WORDS
from .readings import EXACT, HEURISTIC, UNDECIDED, Verdict

# The words after "52 year old male" that start a clause: what lies between is
# an occupation ("male detailer injured …"), anything else is not.
_CLAUSE_START = {
    "who",
    "whose",
    "that",
    "with",
    "injured",
    "sustained",
    "was",
    "is",
    "has",
    "had",
    "reported",
    "reports",
    "developed",
    "fell",
    "presents",
    "presented",
    "complains",
    "complained",
    "suffered",
    "claims",
    "filed",
    "from",
    "on",
    "in",
    "at",
    "and",
}
_EMPLOYED_AS = re.compile(
    r"\b(?:employed|works|worked|working)\s+as\s+(?:an?\s+)?(?P<occ>[a-z][a-z /-]{2,40}?)(?=[,.;]|\s+(?:for|at|who|when|with)\b)",
    re.I,
)


def occupation_after_sex(after: str) -> str | None:
    """The job between "52 year old male" and the clause after it, if one stands there."""
    words = re.findall(r"[A-Za-z][A-Za-z/-]*|[,;:]", after)
    occ: list[str] = []
    for w in words:
        if w.lower() in _CLAUSE_START or w in ",;:":
            break
        occ.append(w)
    if not occ or len(occ) > 3:
        return None
    phrase = " ".join(occ).lower()
    if phrase.startswith("injured") or occ[0].lower() in NOT_OCCUPATION_WORDS:
        return None
    if len(words) == len(occ):  # the phrase never reached a clause: not decidable
        return None
    return " ".join(occ)


_EMPLOYED_VERBS = ("employed", "works", "worked", "working")
_AS_NEXT = re.compile(r"\s+as\s")


def parse_occupation(text: str) -> str | None:
    """'… while working as a truck driver when …' anywhere in the letter."""
    # str.find on the lower-cased text: much cheaper than a regex scan.
    low = text.lower()
    for verb in _EMPLOYED_VERBS:
        at = low.find(verb)
        while at != -1:
            if _AS_NEXT.match(low, at + len(verb)) and (at == 0 or not low[at - 1].isalpha()):
                m = _EMPLOYED_AS.match(clean(text[at : at + 120]))
                if m:
                    return clean(m.group("occ"))
            at = low.find(verb, at + 1)
    return None


# A job stated in a way the parser's two phrasings may miss.
OCCUPATION_CUE = re.compile(
    r"\boccupation\s+(?:is|was|as)\b|\bemployed\b|\bjob\s+(?:title|as)\b"
    r"|\bwork(?:s|ed|ing)?\s+as\b|\bby\s+trade\b|\bposition\s+as\b",
    re.I,
)
# The same cue matched in the lower-cased text only where one of its first
# words starts (str.find; a regex scan of the whole letter with re.I costs
# ~0.25 ms).  Exact for any text without the four characters re.I equates
# with an ASCII letter (İ ı ſ K).
_CUE_WORDS = ("occupation", "employed", "job", "work", "by", "position")
_OCCUPATION_CUE_LOWER = re.compile(
    r"(?:o(?<!\wo)ccupation\s+(?:is|was|as)|e(?<!\we)mployed|j(?<!\wj)ob\s+(?:title|as)"
    r"|w(?<!\ww)ork(?:s|ed|ing)?\s+as|b(?<!\wb)y\s+trade|p(?<!\wp)osition\s+as)\b"
)
_CASE_TRAPS = ("\u0130", "\u0131", "\u017f", "\u212a")


def has_occupation_cue(text: str) -> bool:
    """``OCCUPATION_CUE.search(text)``, fast (see ``_OCCUPATION_CUE_LOWER``)."""
    if any(ch in text for ch in _CASE_TRAPS):
        return OCCUPATION_CUE.search(text) is not None
    low = text.lower()
    for word in _CUE_WORDS:
        at = low.find(word)
        while at != -1:
            if _OCCUPATION_CUE_LOWER.match(low, at):
                return True
            at = low.find(word, at + 1)
    return False


def occupation_verdict(value: str | None, text: str, after_age_sex: bool) -> Verdict:
    """How sure the occupation rules are of ``value`` read from the letter ``text``.

    ``after_age_sex``: the value stands after the summary's "<age> year old <sex>".
    """
    if value is not None:
        if after_age_sex:
            return Verdict(HEURISTIC, "summary: '<age> year old <sex> <occupation> who …'")
        return Verdict(HEURISTIC, "letter: 'working/employed as a …'")
    if has_occupation_cue(text):
        return Verdict(UNDECIDED, "a job may be stated in a phrasing the parser does not read")
    return Verdict(EXACT, "no phrase that states a job")
