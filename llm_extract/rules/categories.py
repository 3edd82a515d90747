"""The category of a request, decided by keywords (body region: :mod:`.body_region`).

Rules are ordered: the first that matches wins, so the specific beats the
general ("psychological testing" is psychological, not a diagnostic test;
"Functional capacity evaluation" a test, not a consultation).  A request no
rule recognises, or one that is ambiguous by RECORD.md ("Chiropractic
evaluation": a chiropractic service or a consultation?), gets ``None``.

The module is ~400 lines because most of it is one ordered table,
:data:`_RULES` (data, ~280 lines); splitting the table would hide its order.
"""

from __future__ import annotations

import functools
import re

from ..models import Category
from .medication import STRENGTH, mentions_drug
from .readings import EXACT, HEURISTIC, UNDECIDED, Verdict

_SURGICAL_SERVICE = re.compile(
    r"^\s*(?:associated\s+surgical\s+services?|labs?\s+to\s+include|post-?op(?:erative)?|pre-?op(?:erative)?|retrospective|retro|prospective)\s*:?\s*",
    re.I,
)


def _rx(*alts: str) -> re.Pattern[str]:
    return re.compile("|".join(alts), re.I)


# (category, pattern); None as category means "recognised but not decidable".
_RULES: list[tuple[Category | None, re.Pattern[str]]] = [
    (Category.TRANSPORTATION, _rx(r"\btransport")),
    (
        Category.SURGERY,
        _rx(r"\bsurgical\s+assist", r"\bassistant\s+surgeon", r"\bPA\s+assist", r"\bco-?surgeon"),
    ),
    (
        Category.HOME_HEALTH,
        _rx(
            r"\bhome\s+health",
            r"\bhome\s+(?:care|aide|nurs)",
            r"\bnurs(?:e|ing)\b(?!\s+facility)",
            r"\bRN\b",
            r"\bLVN\b",
            r"\bcaregiver",
            r"\baide\b",
        ),
    ),
    (
        Category.PSYCHOLOGICAL,
        _rx(
            r"\bpsych",
            r"\bCBT\b",
            r"cognitive\s+behavio",
            r"\bbiofeedback",
            r"\bhypnotherap",
            r"\bcounsel+ing",
        ),
    ),
    (
        Category.PROGRAM,
        _rx(
            r"functional\s+restoration",
            r"\bFRP\b",
            r"\bdetox",
            r"weight[- ]loss",
            r"\bgym\b",
            r"partial\s+hospitali",
            r"work\s+(?:hardening|conditioning)",
            r"\bHELP\s+program",
            r"\bprogram\b",
        ),
    ),
    (Category.ACUPUNCTURE, _rx(r"acupunct")),
    (
        Category.INJECTION,
        _rx(
            r"\binject",
            r"\bepidural",
            r"\bESI\b",
            r"\bTPIs?\b",
            r"trigger\s+point\s+inj",
            r"\bnerve\s+block",
            r"\bblocks?\b",
            r"\bfacet\b",
            r"radiofrequency",
            r"\bablation",
            r"\brhizotomy",
            r"platelet[- ]rich",
            r"\bPRP\b",
            r"viscosupplement",
            r"\bsynvisc",
            r"\bcortisone",
            r"\bbotox",
        ),
    ),
    (
        None,
        _rx(
            r"neurostimulation",
            r"shock\s*wave",
            r"\bESWT\b",
            r"\bgloves?\b",
            r"\bwipes\b",
            r"rehabilitation\s+unit",
            r"skilled\s+nursing",
        ),
    ),
    (Category.DIAGNOSTIC_TEST, _rx(r"functional\s+capacity", r"\bFCE\b")),
    (
        Category.EVALUATION_CONSULTATION,
        _rx(
            r"\bconsult",
            r"\breferral",
            r"\brefer\b",
            r"\bTOC\b",
            r"transfer\s+of\s+care",
            r"\bspecialist",
            r"\bsurgeon\b",
            r"surgery\s+evaluation",
            r"\bclearance",
            r"\boffice\s+visit",
            r"\bfollow[- ]?up",
            r"\bre-?exam",
            r"\binitial\s+exam",
            r"\bphysical\s+exam",
            r"medication\s+management",
            r"\bevaluation\b(?!\s+and\s+(?:\w+\s+)?(?:sessions?|visits?|treatment))",
        ),
    ),
    # After "an evaluation alone is a consultation" ("Chiropractic evaluation",
    # "Re-exam with chiropractor"); "X evaluation and treatment" is X.
    (Category.CHIROPRACTIC, _rx(r"\bchiro", r"\bmanipulation", r"\bCMT\b", r"\bchiropract")),
    (
        Category.PHYSICAL_THERAPY,
        _rx(
            r"physical\s+therap",
            r"\bPT\b(?!/PTT)",
            r"\bOT\b",
            r"occupational\s+therap",
            r"physiotherap",
            r"\baquatic",
            r"\bpool\s+therap",
            r"therapeutic\s+exercise",
            r"\bE-stim\b",
            r"\bEstim\b",
            r"electrical\s+(?:muscle\s+)?stimulation(?!\s+unit)",
            r"\bEMS\b(?!\s+unit)",
            r"myofascial",
            r"\bmassage",
            r"\btraction\b",
            r"spinolator",
            r"infrared",
            r"manual\s+therap",
            r"hand\s+therap",
            r"\bultrasound\b.*\b(?:times|x\s*\d|\d\s*x|weeks?|sessions?|visits?)\b",
            r"pulsed\s+ultrasound",
            r"therapeutic\s+ultrasound",
            r"ice/heat\s+pads?\s+therapy",
            r"\bphysio\b",
            r"\brehab(?:ilitation)?\s+therap",
        ),
    ),
    (
        Category.DIAGNOSTIC_TEST,
        _rx(
            r"\bEMG",
            r"\bNCV",
            r"\bNCS\b",
            r"nerve\s+conduction",
            r"electromyograph",
            r"electrodiagnos",
            r"\bEEG\b",
            r"electroencephalogra",
            r"\blabs?\b",
            r"\blaboratory",
            r"urine\s+drug",
            r"\bUDS\b",
            r"\bUDT\b",
            r"drug\s+(?:screen|test)",
            r"toxicology",
            r"sleep\s+stud",
            r"polysomnogra",
            r"\bEKG\b",
            r"\bECG\b",
            r"\bCBC\b",
            r"\bCMP\b",
            r"\bBMP\b",
            r"\bPT/PTT\b",
            r"\bPTT\b",
            r"urinalysis",
            r"\bblood\s+(?:test|work)",
            r"\btest(?:s|ing)?\b",
            r"\bgrip\s+test",
            r"range\s+of\s+motion",
            r"\bdiagnostic\s+stud",
            r"\bthermography",
            r"impedance\s+imaging",
            r"\bTPII\b",
            r"\bvideonystagmo",
            r"\baudiogra",
        ),
    ),
    (
        Category.IMAGING,
        _rx(
            r"\bMRI",
            r"\bMRA\b",
            r"\bMR\s+arthrogra",
            r"magnetic\s+resonance",
            r"\bCT\b",
            r"\bCAT\s+scan",
            r"computed\s+tomogra",
            r"x-rays?\b",
            r"xrays?\b",
            r"\bradiograph",
            r"\bultrasound",
            r"sonogra",
            r"bone\s+scan",
            r"\barthrogra",
            r"\bmyelogra",
            r"\bDEXA\b",
            r"\bscan\b",
            r"\bimaging",
        ),
    ),
    (
        Category.SURGERY,
        _rx(
            r"\bsurgery\b",
            r"\bsurgical\b",
            r"arthroscop",
            r"\brepair\b",
            r"\bfusion\b",
            r"\brelease\b",
            r"\bORIF\b",
            r"open\s+reduction",
            r"ectomy\b",
            r"otomy\b",
            r"plasty\b",
            r"desis\b",
            r"\bdecompression",
            r"\breconstruct",
            r"\bexcision",
            r"\bdebridement",
            r"\bimplant",
            r"\bRCR\b",
            r"\bmanipulation\s+under\s+anesthesia",
            r"\banesthesi",
            r"\bhardware\s+removal",
            r"\bamputation",
            r"\bdiscectomy",
            r"\bligation",
        ),
    ),
    (
        Category.DURABLE_MEDICAL_EQUIPMENT,
        _rx(
            r"\bTENS\b",
            r"\bH-wave",
            r"\bHwave",
            r"interferential",
            r"\bunit\b",
            r"\bbraces?\b",
            r"\bsplints?\b",
            r"\bsupport\b",
            r"\bwheel\s*chair",
            r"\bbed\b",
            r"\bscooter",
            r"\bwalker",
            r"\bcanes?\b",
            r"\bcrutch",
            r"hearing\s+aid",
            r"cold\s+(?:therapy|compression|unit|pack)",
            r"hot/cold",
            r"heat\s+(?:therapy\s+)?(?:pad|wrap|unit)",
            r"\bcryo",
            r"\borthotic",
            r"\binsoles?\b",
            r"\bpillows?\b",
            r"\bcommode",
            r"shower\s+chair",
            r"bath(?:/shower)?\s+chair",
            r"\bslings?\b",
            r"\bwraps?\b",
            r"\bworkstation",
            r"\bchair\b",
            r"\bdesk\b",
            r"\bmattress",
            r"\bcushion",
            r"\bcollar\b",
            r"\bbrace\b",
            r"\bDME\b",
            r"\bdurable\s+medical",
            r"\bboot\b",
            r"\bstockings?\b",
            r"\bcompression\s+garment",
            r"\bpads?\b(?!\s+therapy)",
            r"\bbar\b",
            r"\bramp\b",
            r"\blift\b",
            r"\bstimulator\b",
        ),
    ),
]


def _literal_prefix(alternative: str) -> str | None:
    """The literal text every match of one alternative starts with (lower case).

    ``None`` when it starts with something else than a literal of 2+ chars.
    """
    alt = alternative.removeprefix(r"\b")
    out: list[str] = []
    for k, ch in enumerate(alt):
        if ch.isalnum() or ch in " /-&'":
            if k + 1 < len(alt) and alt[k + 1] in "?*{":
                break  # this char is optional
            out.append(ch.lower())
        else:
            break
    prefix = "".join(out)
    return prefix if len(prefix) >= 2 else None


def _top_level_alternatives(pattern: str) -> list[str]:
    parts, depth, start, k = [], 0, 0, 0
    while k < len(pattern):
        ch = pattern[k]
        if ch == "\\":
            k += 2
            continue
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:k])
            start = k + 1
        k += 1
    parts.append(pattern[start:])
    return parts


def _prefilter(rx: re.Pattern[str]) -> tuple[str, ...] | None:
    """Substrings one of which any match must contain; None when unknown."""
    prefixes = []
    for alternative in _top_level_alternatives(rx.pattern):
        prefix = _literal_prefix(alternative)
        if prefix is None:
            return None
        prefixes.append(prefix)
    return tuple(prefixes)


def _needle_rx(needles: tuple[str, ...] | None) -> re.Pattern[str] | None:
    """One regex of plain alternatives: finds any of ``needles`` in one C-level scan."""
    if needles is None:
        return None
    if not needles:
        return re.compile(r"(?!)")  # never matches, as any(()) is False
    return re.compile("|".join(map(re.escape, needles)))


# A rule's regex runs only when the lower-cased request contains one of its
# literal prefixes: substring tests are far cheaper than ~200 alternatives.
_FILTERED_RULES = [(category, rx, _needle_rx(_prefilter(rx))) for category, rx in _RULES]


def category_of(request: str) -> Category | None:
    """The category of one request (partial certifications: of the remaining portion)."""
    return category_rule_of(request)[0]


# Which rule decided a category (:func:`category_verdict`: keyword rules are
# exact, the medication overrides and defaults heuristic).
KEYWORD_RULE = "keyword rule"
DRUG_OVERRIDE = "drug or strength in a DME/test-like request"
DRUG_NAME = "no keyword rule; a known drug name"
DRUG_DEFAULT = "no keyword rule; a strength or a pill count"
NO_RULE = "no rule matched"
NOT_DECIDABLE = "recognised but not decidable"


@functools.lru_cache(maxsize=64)
def category_rule_of(request: str) -> tuple[Category | None, str]:
    """The category of one request and which kind of rule decided it.

    Cached (a pure function of the request): the parser and its verdict
    (:func:`category_verdict`) both ask for every item's request."""
    text = _SURGICAL_SERVICE.sub("", request)
    text = _SURGICAL_SERVICE.sub("", text)
    lower = text.lower()
    for category, rx, needles in _FILTERED_RULES:
        if needles is not None and not needles.search(lower):
            continue
        if not rx.search(text):
            continue
        # "acupuncture with Capsaicin patch" is acupuncture, a drug injection an
        # injection; but a drug named in a DME/test-like request ("Lidocaine
        # patch", "Salonpas pad") makes it a medication.
        if category in (Category.ACUPUNCTURE, Category.INJECTION):
            return category, KEYWORD_RULE
        if category in (Category.DURABLE_MEDICAL_EQUIPMENT, Category.DIAGNOSTIC_TEST, None) and (
            STRENGTH.search(text) or mentions_drug(text)
        ):
            return Category.MEDICATION, DRUG_OVERRIDE
        return category, (KEYWORD_RULE if category is not None else NOT_DECIDABLE)
    if mentions_drug(text):
        return Category.MEDICATION, DRUG_NAME
    if STRENGTH.search(text) or (re.search(r"#\s*\d+", text) and _looks_like_drug_name(text)):
        return Category.MEDICATION, DRUG_DEFAULT
    return None, NO_RULE


def category_verdict(request: str) -> Verdict:
    """How sure the category rules are of the category they read from ``request``."""
    found, rule = category_rule_of(request)
    if found is None:
        return Verdict(UNDECIDED, f"category: {rule}")
    if rule in (KEYWORD_RULE, DRUG_NAME):
        return Verdict(EXACT, f"category: {rule}")
    return Verdict(HEURISTIC, f"category: {rule}")


def has_keyword_for(category: Category, request: str) -> bool:
    """True when one of ``category``'s own keyword rules matches ``request``."""
    text = _SURGICAL_SERVICE.sub("", request)
    if category is Category.MEDICATION and (STRENGTH.search(text) or mentions_drug(text)):
        return True
    return any(c is category and rx.search(text) for c, rx in _RULES)


def _looks_like_drug_name(text: str) -> bool:
    # "Fioricet #120": a single capitalised word before a pill count.
    return bool(re.match(r"^\s*[A-Z][a-z]+(?:\s+(?:ER|XR|SR|CR|DS|HCL|XL))?\s*#\s*\d+\s*$", text))
