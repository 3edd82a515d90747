"""Words the parser, the LLM arbitration and the scorer share about a letter's content.

Each list lives here once, public, so a reader of the parser and a judge of
the model's answers mean the same thing by "an anatomical site" or "what
letters call the patient".
"""

from __future__ import annotations

import re

_SIDE = r"(?:(?:left|right|bilateral|bilat\.?|both)\s+(?:and\s+(?:left|right)\s+)?(?:sided\s+)?)"
_SPINE_ADJ = r"(?:cervical|thoracic|lumbar|lumbosacral|lumbo-sacral|thoracolumbar|cervicothoracic|sacral|sacroiliac|SI)"
_SITE_WORDS = (
    rf"{_SPINE_ADJ}(?:\s+(?:and\s+{_SPINE_ADJ}\s+)?(?:spine|region|paraspinals?(?:\s+muscles?)?|joints?|area))?"
    r"|(?:low(?:er)?|upper|mid)\s+back|back|neck|head|face|jaw|TMJ|chest|ribs?|abdomen|pelvis|groin|buttocks?"
    r"|hips?|thighs?|(?:lower\s+)?legs?|knees?|ankles?|foot|feet|toes?|heels?|shoulders?|(?:upper\s+|fore)?arms?"
    r"|elbows?|wrists?(?:/hands?)?|hands?|fingers?|thumbs?|(?:upper|lower)\s+extremit(?:y|ies)|extremit(?:y|ies)"
    r"|trapezius|paraspinals?|spine|spinal|(?:carpal|cubital|tarsal)\s+tunnel|[CTL]\d(?:\s*-\s*[CTLS]?\d)?|L5\s*-\s*S1|S1"
)
# An anatomical site as RECORD.md's body region names it, with its side
# ("left shoulder", "lumbar spine", "L4-5").
SITE = re.compile(rf"(?<![\w-])(?:{_SIDE})?(?:{_SITE_WORDS})(?![\w-])", re.I)

# Anatomy words, wider than SITE: a request without any has no body region to
# ask about; a model's body region must contain one.
ANATOMY = re.compile(
    r"\b(?:spin|cervic|thorac|lumb|sacr|cocc|neck|head|fac(?:e|ial)|jaw|tmj|temporomandib"
    r"|chest|rib|abdom|pelv|groin|butt|glute|hip|thigh|leg|knee|ankle|foot|feet|toe|heel"
    r"|shoulder|arm|elbow|wrist|hand|finger|thumb|digit|extremit|trapez|paraspin|carpal"
    r"|cubital|tarsal|scalp|skull|cran|clavic|scapul|calf|shin|hamstring|quadricep|achilles"
    r"|plantar|menisc|rotator|bicep|tricep|lung|heart|kidney|bladder|prostat|breast|skin"
    r"|teeth|tooth|dental|back|torso|trunk|joint)\w*"
    r"|\b(?:eyes?|ears?|nose|mouth|[CTLS]\d(?:\s*-\s*[CTLS]?\d)?)\b",
    re.I,
)

# Fragments that qualify the diagnosis before them (ICD wording) rather than
# naming a new one: "disc displacement, lumbosacral region".
QUALIFIER = re.compile(
    r"^(?:(?:initial|subsequent)\s+encounter|[a-z ]*\bregion|[a-z ]*\blevel|[a-z ]*\blimb"
    r"|unspecified|right|left|bilateral|shoulder|knee|hip|elbow|wrist|ankle|neck|back)$",
    re.I,
)

# What letters call the patient, and the words that start a clause instead of
# a job: never an occupation ("a 52 year old male injured worker who …").
NOT_OCCUPATION_WORDS = frozenset(
    {
        "injured",
        "worker",
        "employee",
        "patient",
        "claimant",
        "applicant",
        "individual",
        "person",
        "man",
        "woman",
        "male",
        "female",
        "ip",
        "iw",
        "who",
        "with",
    }
)
_NOT_OCCUPATION = re.compile(
    r"^(?:the\s+|an?\s+)?(?:injured\s+)?(?:" + "|".join(sorted(NOT_OCCUPATION_WORDS)) + r")s?$",
    re.I,
)


def names_the_patient(phrase: str) -> bool:
    """``phrase`` is what letters call the patient ("the injured worker", "IW"), no job."""
    return _NOT_OCCUPATION.match(phrase.strip()) is not None


# A stated age is a person's: above 0 and below 120.
AGE_MIN, AGE_MAX = 1, 119


def plausible_age(age: int) -> bool:
    return AGE_MIN <= age <= AGE_MAX


# A strength as written: 50mg, 7.5-325mg, 5/325mg, 1.3%, 300mg/g, 25mg/ml, 0.025%
STRENGTH = re.compile(
    r"(?<![\w.])\d+(?:\.\d+)?(?:\s*[-/]\s*\d+(?:\.\d+)?)*\s*"
    r"(?:mg|mcg|µg|g|gm|gms|grams?|ml|meq|units?|iu|%)(?:\s*/\s*(?:g|gm|ml|hr|h|dose|actuation))?(?![A-Za-z])",
    re.I,
)
