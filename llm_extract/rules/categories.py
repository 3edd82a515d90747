"""The category of a request, decided by keywords (body region: :mod:`.body_region`).

Rules are ordered: the first that matches wins, so the specific beats the
general ("psychological testing" is psychological, not a diagnostic test;
"Functional capacity evaluation" a test, not a consultation).  A request no
rule recognises, or one that is ambiguous by RECORD.md ("Chiropractic
evaluation": a chiropractic service or a consultation?), gets ``None``.

The ordered table itself is :data:`.category_table.RULES` (data, in one
module so that its order reads top to bottom).
"""

from __future__ import annotations

import functools
import re

from ..models import Category
from .category_table import RULES
from .medication import STRENGTH, mentions_drug
from .prefilter import needles_for
from .readings import EXACT, HEURISTIC, UNDECIDED, Verdict

_SURGICAL_SERVICE = re.compile(
    r"^\s*(?:associated\s+surgical\s+services?|labs?\s+to\s+include|post-?op(?:erative)?|pre-?op(?:erative)?|retrospective|retro|prospective)\s*:?\s*",
    re.I,
)


# A rule's regex runs only when the lower-cased request contains one of its
# literal prefixes: substring tests are far cheaper than ~200 alternatives.
_FILTERED_RULES = [(category, rx, needles_for(rx)) for category, rx in RULES]


def category_of(request: str) -> Category | None:
    """The category of one request (partial certifications: of the remaining portion)."""
    return category_rule_of(request)[0]


# Which rule decided a category (:func:`category_verdict`: keyword rules are
# exact, the medication overrides and defaults heuristic).
KEYWORD_RULE = "keyword rule"
# Keyword rules of several categories match: the table's order picked one,
# but the request names more than one kind of service, so the reading is a
# heuristic (the hybrid asks the model; review can flag it).
SEVERAL_CATEGORIES = "keyword rules of several categories match"
DRUG_OVERRIDE = "drug or strength in a DME/test-like request"
DRUG_NAME = "no keyword rule; a known drug name"
DRUG_DEFAULT = "no keyword rule; a strength or a pill count"
NO_RULE = "no rule matched"
NOT_DECIDABLE = "recognised but not decidable"


def _service(request: str) -> str:
    """The request without the prefixes that do not name the service itself."""
    return _SURGICAL_SERVICE.sub("", _SURGICAL_SERVICE.sub("", request))


def _matching_rules(request: str, *, enough: int = 0) -> list[Category | None]:
    """The category of every keyword rule that matches ``request``'s service, in
    table order; with ``enough``, the scan stops once that many distinct
    categories matched (deciding needs the first one and whether a second exists)."""
    text = _service(request)
    lower = text.lower()
    found: list[Category | None] = []
    distinct: set[Category] = set()
    for category, rx, needles in _FILTERED_RULES:
        if (needles is not None and not needles.search(lower)) or not rx.search(text):
            continue
        found.append(category)
        if category is not None:
            distinct.add(category)
            if enough and len(distinct) >= enough:
                break
    return found


def keyword_categories(request: str) -> tuple[Category, ...]:
    """The distinct categories whose keyword rules match ``request``, in table order.

    More than one means the request names several kinds of service ("Spine
    surgery consultation"): the table's order decides, but not surely.
    """
    return tuple(dict.fromkeys(c for c in _matching_rules(request) if c is not None))


@functools.lru_cache(maxsize=64)
def category_rule_of(request: str) -> tuple[Category | None, str]:
    """The category of one request and which kind of rule decided it.

    Cached (a pure function of the request): the parser and its verdict
    (:func:`category_verdict`) both ask for every item's request."""
    text = _service(request)
    matches = _matching_rules(request, enough=2)
    if matches:
        category = matches[0]
        # "acupuncture with Capsaicin patch" is acupuncture, a drug injection an
        # injection; but a drug named in a DME/test-like request ("Lidocaine
        # patch", "Salonpas pad") makes it a medication.
        if category in (Category.DURABLE_MEDICAL_EQUIPMENT, Category.DIAGNOSTIC_TEST, None) and (
            STRENGTH.search(text) or mentions_drug(text)
        ):
            return Category.MEDICATION, DRUG_OVERRIDE
        if category is None:
            return None, NOT_DECIDABLE
        several = len({c for c in matches if c is not None}) > 1
        return category, (SEVERAL_CATEGORIES if several else KEYWORD_RULE)
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
    if rule == SEVERAL_CATEGORIES:
        names = ", ".join(c.value for c in keyword_categories(request))
        return Verdict(HEURISTIC, f"category: {rule} ({names})")
    return Verdict(HEURISTIC, f"category: {rule}")


def has_keyword_for(category: Category, request: str) -> bool:
    """True when one of ``category``'s own keyword rules matches ``request``."""
    text = _SURGICAL_SERVICE.sub("", request)
    if category is Category.MEDICATION and (STRENGTH.search(text) or mentions_drug(text)):
        return True
    return any(c is category and rx.search(text) for c, rx in RULES)


def _looks_like_drug_name(text: str) -> bool:
    # "Fioricet #120": a single capitalised word before a pill count.
    return bool(re.match(r"^\s*[A-Z][a-z]+(?:\s+(?:ER|XR|SR|CR|DS|HCL|XL))?\s*#\s*\d+\s*$", text))
