"""Medication requests: drug name, strength, days supply; and "is this a drug?".

The name is the drug or compound as written, release modifiers and
parentheses kept (``Oxycodone HCL ER``, ``Ultram (tramadol)``), without the
strength, the dosage form (tab, capsule, patch, cream …), quantity or dosing.
"""

from __future__ import annotations

import re

from ..document.text import clean, words_to_digits_safe
from ..models import Category, Item, Medication
from ..vocab import STRENGTH
from .readings import EXACT, HEURISTIC, UNDECIDED, Verdict

_FORM_WORDS = (
    r"(?:extended[- ]release\s+)?(?:oral\s+suspension|oral\s+solution|transdermal\s+patch(?:es)?|topical\s+cream"
    r"|tabs?|tablets?|caps?|capsules?|patch(?:es)?|pads?|gel|cream|ointment|lotion|solution|suspension"
    r"|spray|liquid|drops|powder|film|lozenges?|suppositor(?:y|ies)|injectable|container|transdermal|topical|oral)"
)
_TRAILING_FORM = re.compile(rf"(?:\s+{_FORM_WORDS})+\s*$", re.I)
_LEADING_NOISE = re.compile(
    r"^\s*(?:(?:retrospective|retro|prospective|post-?op(?:erative)?|pre-?op(?:erative)?|prescription|refill)\s*:?\s*(?:of\s+|for\s+)?)*"
    r"(?:(?:an?\s+|\d+\s+)?(?:refills?|containers?|tubes?|bottles?|boxes?|months?'?\s+supply|days?'?\s+supply|weeks?'?\s+supply)\s+of\s+)?",
    re.I,
)
# Where the name ends when no strength comes first.
_NAME_END = re.compile(
    r"\s*(?:#|,|;|\(\s*DOS|\bDOS\b|\btake\b|\b\d+\s*(?:by\s+mouth|po|tabs?|tablets?)\b|\bquantity\b|\bqty\b"
    r"|\bday\s+supply\b|\bfor\s+\d+\s+days?\b|\bwith\s+\d+\s+refills?\b|\bx\s*\d+\b|\bper\b|\bdaily\b)",
    re.I,
)
_PACKAGE_MASS = re.compile(r"\d+(?:\.\d+)?\s*(?:g|gm|gms|grams?)", re.I)
_COMPOUND_END = re.compile(
    r"\s*(?:#|\btake\b|\b\d+\s*(?:by\s+mouth|po)\b|\bday\s+supply\b|\bwith\s+\d+\s+refills?\b|\(\s*DOS|\bDOS\b)",
    re.I,
)
_INGREDIENT_SEP = re.compile(r"[A-Za-z]\s*(?:,|/|\band\b)\s*[A-Za-z]")
_DAYS_SUPPLY_LABEL = re.compile(r"days?\s*'?\s*supply\s*:?\s*(\d+)", re.I)
_DAYS_COUNT = re.compile(r"(?<![#\d])(\d+)\s*-?\s*days?\b(?!\s*rental)", re.I)

# Drugs, compounds and products seen in IMR letters (brand and generic), plus
# stems that mark a drug name.  Used only to decide that a request without a
# strength is a medication ("Etodolac", "Post-op Zofran").
_DRUGS = {
    "acetaminophen",
    "tylenol",
    "aspirin",
    "ibuprofen",
    "motrin",
    "advil",
    "naproxen",
    "naprosyn",
    "anaprox",
    "etodolac",
    "meloxicam",
    "mobic",
    "celebrex",
    "celecoxib",
    "diclofenac",
    "voltaren",
    "flector",
    "nabumetone",
    "relafen",
    "ketoprofen",
    "ketorolac",
    "toradol",
    "indomethacin",
    "duexis",
    "vimovo",
    "tramadol",
    "ultram",
    "ultracet",
    "norco",
    "vicodin",
    "hydrocodone",
    "oxycodone",
    "oxycontin",
    "percocet",
    "morphine",
    "hydromorphone",
    "dilaudid",
    "fentanyl",
    "duragesic",
    "buprenorphine",
    "butrans",
    "suboxone",
    "methadone",
    "tapentadol",
    "nucynta",
    "codeine",
    "trezix",
    "fioricet",
    "esgic",
    "butalbital",
    "cyclobenzaprine",
    "flexeril",
    "amrix",
    "fexmid",
    "tizanidine",
    "zanaflex",
    "baclofen",
    "methocarbamol",
    "robaxin",
    "carisoprodol",
    "soma",
    "orphenadrine",
    "norflex",
    "metaxalone",
    "skelaxin",
    "chlorzoxazone",
    "lorzone",
    "parafon",
    "diazepam",
    "valium",
    "alprazolam",
    "xanax",
    "lorazepam",
    "ativan",
    "clonazepam",
    "klonopin",
    "temazepam",
    "zolpidem",
    "ambien",
    "eszopiclone",
    "lunesta",
    "trazodone",
    "gabapentin",
    "neurontin",
    "pregabalin",
    "lyrica",
    "topiramate",
    "topamax",
    "amitriptyline",
    "elavil",
    "nortriptyline",
    "duloxetine",
    "cymbalta",
    "venlafaxine",
    "effexor",
    "sertraline",
    "zoloft",
    "fluoxetine",
    "prozac",
    "citalopram",
    "escitalopram",
    "lexapro",
    "bupropion",
    "wellbutrin",
    "omeprazole",
    "prilosec",
    "pantoprazole",
    "protonix",
    "lansoprazole",
    "prevacid",
    "esomeprazole",
    "nexium",
    "ranitidine",
    "zantac",
    "famotidine",
    "pepcid",
    "ondansetron",
    "zofran",
    "promethazine",
    "docusate",
    "colace",
    "senna",
    "senokot",
    "lactulose",
    "miralax",
    "lidocaine",
    "lidoderm",
    "capsaicin",
    "menthol",
    "methyl salicylate",
    "salonpas",
    "terocin",
    "mentherm",
    "menthoderm",
    "medrox",
    "biofreeze",
    "anecream",
    "flurbiprofen",
    "dextromethorphan",
    "ketamine",
    "camphor",
    "theramine",
    "sentra",
    "gabadone",
    "trepadone",
    "fanatrex",
    "synapryn",
    "tabradol",
    "deprizine",
    "dicopanol",
    "keratek",
    "sumatriptan",
    "imitrex",
    "prednisone",
    "medrol",
    "methylprednisolone",
    "vitamin",
    "glucosamine",
    "chondroitin",
    "melatonin",
    "nuvigil",
    "provigil",
    "cialis",
    "viagra",
    "lisinopril",
    "metformin",
    "insulin",
    "ciprofloxacin",
    "keflex",
    "cephalexin",
    "antibiotic",
    "antibiotics",
    "compound",
    "compounded",
}
_DRUG_STEMS = re.compile(
    r"(?:profen|azepam|prazole|codone|morphone|triptyline|oxetine|afaxine|azole|cillin|mycin|floxacin"
    r"|statin|sartan|pril|olol|dipine|tidine|setron|caine|barbital|zolam|pentin)\b",
    re.I,
)


def mentions_drug(text: str) -> bool:
    words = re.findall(r"[A-Za-z][A-Za-z-]+", text.lower())
    return any(w in _DRUGS for w in words) or bool(_DRUG_STEMS.search(text))


def _strip_strengths(text: str) -> str:
    return STRENGTH.sub("", text)


def parse_medication(request: str) -> Medication | None:
    """Name/strength/days supply of a medication request (None if no name is left)."""
    text = clean(request)
    text = _LEADING_NOISE.sub("", words_to_digits_safe(text), count=1)
    strength_m = STRENGTH.search(text)
    strengths = STRENGTH.findall(text)
    end_m = _NAME_END.search(text)
    end = end_m.start() if end_m else len(text)
    # A compound names several ingredients: separators remain once strengths
    # are gone.  Its list may contain commas, so it runs to the quantity/dosing.
    cm = _COMPOUND_END.search(text)
    compound_end = cm.start() if cm else len(text)
    compound = len(strengths) > 1 and bool(
        _INGREDIENT_SEP.search(_strip_strengths(text[:compound_end]))
    )
    if compound:
        end = compound_end
    if strength_m and not compound and strength_m.start() < end:
        name_part = text[: strength_m.start()]
        # "Oxycodone HCL ER 20mg" vs "Anecream cream 4%": the name is before the strength,
        # unless the strength is followed by more name words ("Ultram 50mg ER")
    else:
        name_part = text[:end]
        if compound:
            name_part = _strip_strengths(name_part)
    name = _TRAILING_FORM.sub("", clean(name_part)).strip(" ,;:-")
    name = re.sub(r"\s+(?=[,/])|(?<=/)\s+", "", name)
    name = re.sub(r",\s*,", ",", name).strip(" ,")
    if not name:
        return None
    # Several strengths are kept in written order ("3% 300mg/g"; a compound's
    # "10%, 3%, 6%, 5%"); a package mass ("120grams", "121gm") is no strength.
    written = [clean(x) for x in strengths if not _PACKAGE_MASS.fullmatch(clean(x))]
    strength = (", " if compound else " ").join(written) or None
    days = None
    dm = _DAYS_SUPPLY_LABEL.search(text) or _DAYS_COUNT.search(text)
    if dm:
        days = int(dm.group(1))
    return Medication(name=name, strength=strength, days_supply=days)


def name_verdict(item: Item) -> Verdict:
    """How sure the name cut is of a medication item's name."""
    if item.category is not Category.MEDICATION:
        return Verdict(EXACT, "not a medication")
    med = item.medication
    if med is None:
        return Verdict(UNDECIDED, "medication: no name left before the strength")
    single = len(med.name.split()) == 1 and "/" not in med.name
    if single and item.request.lstrip().lower().startswith(med.name.lower()):
        return Verdict(EXACT, "medication: one word opening the request")
    return Verdict(HEURISTIC, "medication: name cut before the strength/quantity")


def strength_verdict(med: Medication | None) -> Verdict:
    """How sure the strength rule is of a medication's strength."""
    if med is None or med.strength is None:
        return Verdict(EXACT, "medication: no strength expression")
    if "," in med.strength or " " in med.strength.strip():
        return Verdict(HEURISTIC, "medication: several strengths in written order")
    return Verdict(EXACT, "medication: the strength expression")
