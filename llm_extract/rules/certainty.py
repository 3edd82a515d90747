"""How sure the parser is of each field, and the evidence of its record.

Per field, one of (``models.Certainty``):

- ``exact``: a fixed rule matched literal text -- a header label and the date
  on its line, ``"52 year old male"``, ``#60``, ``: Upheld``, a category
  keyword, a known drug name; *or* a closed rule established that the value
  is absent (no date in the summary, no number left in the request once
  strengths, levels and dates are set aside, no anatomical word in it);
- ``heuristic``: a rule that can be wrong -- the diagnoses splitter (a list
  cut on ``,``/``and``), category defaults (a strength alone makes a
  medication), the medication name/strength cut, counts beyond the plain
  notations (ranges, sums, a leading or trailing number, refills), a stranded
  header date, an occupation;
- ``undecided``: the parser found no value although the text may hold one.

:func:`rules_evidence` turns a rules record into ``Record.evidence``: the
certainty, the rule and the spans of each value, located with
:mod:`llm_extract.evidence` in the section it was read from.

Why one module over ~400 lines: it holds one judgement per record field (31
of them), each a few lines that mirror the parser module it judges; split by
part of the letter, every part would still need the shared locator context and
the same Judgement plumbing, and adding a field would mean finding which file.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from ..document.segment import ItemBlock, Segments
from ..document.text import find_dates
from ..evidence import Locator, evidence, make_evidence, make_span
from ..field_paths import get_path
from ..models import Category, Certainty, Evidence, Item, Record
from . import categories, counts
from .counts import _HASH, _N_UNITS, _TIMES_N, _TOTAL_PAREN
from .header import _DATE_LABELS
from .summary import _AGE_ONLY, _AGE_SEX, _DIAGNOSIS_INTRO, _PAREN, _sentences_mentioning

Judgement = tuple[Certainty, str]

# Anatomy words, wider than the parser's site list: a request without any has
# no body region to ask about; an LLM body region must contain one.
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
_AGE_CUE = re.compile(r"\d+\s*-?\s*(?:year|yr)s?\b|\bage[d]?\s+\d+", re.I)
_SCHEDULE = re.compile(r"\bweek|\bwk|\d\s*x\s*\d|\btimes\b", re.I)

EXACT: Certainty = "exact"
HEURISTIC: Certainty = "heuristic"
UNDECIDED: Certainty = "undecided"


# The summary, flattened, and whether it states "<age> year old <sex>": asked by
# three judgements of one letter, so kept for the last two summaries.
@functools.lru_cache(maxsize=2)
def _flat(summary: str) -> str:
    return " ".join(summary.split())


@functools.lru_cache(maxsize=2)
def _has_age_sex(flat: str) -> bool:
    return _AGE_SEX.search(flat) is not None


# -- letter fields ---------------------------------------------------------------
def header_date(field: str, value: object, header: str | None) -> Judgement:
    if header is None:
        return EXACT, "no header block in this layout"
    rx = _DATE_LABELS[field]
    label = rx.search(header)
    if label is None:
        return (
            (HEURISTIC, "header: a date without its label")
            if value
            else (
                UNDECIDED,
                "header: label not found",
            )
        )
    name = " ".join(label.group(0).rstrip(":").split())
    line_end = header.find("\n", label.end())
    line = header[label.end() : len(header) if line_end == -1 else line_end]
    on_line = [d for d, s, _e in find_dates(line) if not line[:s].strip()]
    if value is None:
        if on_line:
            return UNDECIDED, f"header: {name} has a date the parser did not take"
        return EXACT, f"header: '{name}:' states no date"
    if on_line and on_line[0] == value:
        return EXACT, f"header: the date after '{name}:'"
    return HEURISTIC, f"header: the first unclaimed date after '{name}:'"


def age_sex(field: str, value: object, summary: str | None) -> Judgement:
    if summary is None:
        return EXACT, "no case summary"
    flat = _flat(summary)
    if _has_age_sex(flat) and value is not None:
        return EXACT, "summary: '<age> year old <sex>'"
    if value is not None:
        rule = "an age without a sex word" if field == "patient.age" else "'is a <sex>'"
        return HEURISTIC, f"summary: {rule}"
    if field == "patient.age" and not _AGE_CUE.search(flat) and not _AGE_ONLY.search(flat):
        return EXACT, "summary: no age stated"
    return UNDECIDED, "summary: no age/sex phrase matched"


def occupation(value: str | None, text: str, summary: str | None) -> Judgement:
    if value is not None:
        if summary and _has_age_sex(_flat(summary)) and value in _flat(summary):
            return HEURISTIC, "summary: '<age> year old <sex> <occupation> who …'"
        return HEURISTIC, "letter: 'working/employed as a …'"
    if _has_occupation_cue(text):
        return UNDECIDED, "a job may be stated in a phrasing the parser does not read"
    return EXACT, "no phrase that states a job"


def _has_occupation_cue(text: str) -> bool:
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


def diagnoses(value: list[str], summary: str | None) -> Judgement:
    if summary is None:
        return EXACT, "no case summary"
    if len(value) > 1:  # the cue's list need not be read again (its regex is slow)
        return HEURISTIC, "summary: diagnosis list split on ; , and"
    flat = _flat(summary)
    if not value and "diagnos" in flat.lower():
        return UNDECIDED, "summary: a diagnosis cue whose list the parser did not read"
    bodies = [
        m.group("body")
        for sentence in _sentences_mentioning(flat, ("diagnos", "treat"))
        for m in _DIAGNOSIS_INTRO.finditer(sentence)
    ]
    if not value:
        if bodies:
            return UNDECIDED, "summary: a diagnosis cue whose list the parser did not read"
        return EXACT, "summary: no diagnosis phrase (complaints only)"
    if all(not re.search(r"[,;]|\band\b", _PAREN.sub("", b), re.I) for b in bodies):
        return EXACT, "summary: one diagnosis after its cue"
    return HEURISTIC, "summary: diagnosis list split on ; , and"


def injury_date(
    value: object,
    header: str | None,
    summary: str | None,
    loc: Locator,
    head: list[tuple[int, int]],
) -> Judgement:
    """The header's date of injury wins (RECORD.md); else the summary's injury phrase."""
    if value is not None:
        if header is not None and head and loc.find_date(value, *head[0]) is not None:  # type: ignore[arg-type]
            return header_date("date_of_injury", value, header)
        return HEURISTIC, "summary: an injury phrase with a date"
    if summary is not None and find_dates(summary):
        return UNDECIDED, "summary: dates, none after an injury phrase"
    return EXACT, "no injury date in the header or the summary"


# -- item fields -----------------------------------------------------------------
def category(request: str) -> Judgement:
    found, rule = categories.category_rule_of(request)
    if found is None:
        return UNDECIDED, f"category: {rule}"
    if rule in (categories.KEYWORD_RULE, categories.DRUG_NAME):
        return EXACT, f"category: {rule}"
    return HEURISTIC, f"category: {rule}"


def quantity(value: int | None, request: str) -> Judgement:
    text = counts.blanked_request(request)
    if value is None:
        if not any(ch.isdigit() for ch in text):
            return EXACT, "counts: no number left once strengths, levels and dates are set aside"
        return UNDECIDED, "counts: a number no count rule reads"
    for rx, name in ((_HASH, "#N"), (_TIMES_N, "xN"), (_TOTAL_PAREN, "(N)")):
        m = rx.search(text)
        if m and int(next(g for g in m.groups() if g)) == value:
            if rx is _HASH and re.search(r"refills?\s+of", request, re.I):
                break
            return EXACT, f"counts: {name}"
    units = list(_N_UNITS.finditer(text))
    if len(units) == 1 and not units[0].group(2) and int(units[0].group(1)) == value:
        return EXACT, "counts: 'N sessions'"
    nums = [int(n) for n in re.findall(r"\d+", text)]
    if any(a * b == value for i, a in enumerate(nums) for b in nums[i + 1 : i + 3]) and (
        _SCHEDULE.search(request)
    ):
        return EXACT, "counts: visits per week x weeks"
    return HEURISTIC, "counts: a range, sum, refill product or bare number"


def schedule(value: int | None, request: str) -> Judgement:
    if value is None:
        return EXACT, "counts: no 'N times a week' or 'NxM' schedule"
    if re.search(r"(?:a|per|/|each)\s*(?:week|wk)|weekly|\d\s*x\s*\d", request, re.I):
        return EXACT, "counts: 'N times a week for M weeks' / 'NxM'"
    return HEURISTIC, "counts: 'for N weeks' of a visit-type service"


def body_region(value: str | None, request: str) -> Judgement:
    if value is not None:
        return EXACT, "categories: site words in the request"
    if ANATOMY.search(request):
        return UNDECIDED, "categories: an anatomical word the site list does not know"
    return EXACT, "categories: no anatomical word in the request"


def medication_name(item: Item) -> Judgement:
    if item.category is not Category.MEDICATION:
        return EXACT, "not a medication"
    med = item.medication
    if med is None:
        return UNDECIDED, "medication: no name left before the strength"
    single = len(med.name.split()) == 1 and "/" not in med.name
    if single and item.request.lstrip().lower().startswith(med.name.lower()):
        return EXACT, "medication: one word opening the request"
    return HEURISTIC, "medication: name cut before the strength/quantity"


def medication_strength(item: Item) -> Judgement:
    med = item.medication
    if med is None or med.strength is None:
        return EXACT, "medication: no strength expression"
    if "," in med.strength or " " in med.strength.strip():
        return HEURISTIC, "medication: several strengths in written order"
    return EXACT, "medication: the strength expression"


# -- the record's evidence ---------------------------------------------------------
def _range(section: object) -> list[tuple[int, int]]:
    if section is None:
        return []
    return [(section.start, section.end)]  # type: ignore[attr-defined]


def _section_evidence(field: str, section: object, present: bool, rule: str) -> Evidence:
    spans = [make_span(s, e) for s, e in _range(section)] if present else []
    return make_evidence(
        field, spans, reader="rules", rule=rule, certainty=EXACT, grounded=bool(spans)
    )


def request_range(loc: Locator, block: ItemBlock) -> tuple[int, int]:
    """Where the item's request stands: for a partial certification, the remaining
    portion only (the original request's numbers belong to another service)."""
    lo, hi = block.decision_line.start, block.decision_line.end
    found = loc.find_text(block.request, lo, hi)
    if found is None:
        return lo, hi
    return found.spans[0][0], found.spans[-1][1]


def item_evidence(i: int, item: Item, block: ItemBlock, loc: Locator) -> list[Evidence]:
    """Evidence of one item's fields, located in its decision statement and guideline parts."""
    p = f"items[{i}]"
    line = [request_range(loc, block)]
    request = item.request
    out = [
        evidence(
            f"{p}.request",
            item.request,
            loc,
            line,
            rule="segment: the decision statement",
            certainty=EXACT,
        ),
        evidence(
            f"{p}.original_request",
            item.original_request,
            loc,
            [(block.start, block.end)],
            rule="segment: partial certification",
            certainty=EXACT,
        ),
        evidence(
            f"{p}.decision",
            item.decision,
            loc,
            _range(block.decision_line),
            rule="segment: the decision word after the colon",
            certainty=EXACT,
        ),
    ]
    cert, rule = category(request)
    out.append(
        make_evidence(
            f"{p}.category",
            [make_span(s, e) for s, e in line] if item.category else [],
            reader="rules",
            rule=rule,
            certainty=cert,
            grounded=item.category is not None,
        )
    )
    for name, value, (cert, rule) in (
        ("quantity", item.quantity, quantity(item.quantity, request)),
        ("frequency_per_week", item.frequency_per_week, schedule(item.frequency_per_week, request)),
        ("duration_weeks", item.duration_weeks, schedule(item.duration_weeks, request)),
        ("body_region", item.body_region, body_region(item.body_region, request)),
    ):
        out.append(evidence(f"{p}.{name}", value, loc, line, rule=rule, certainty=cert))
    statement = [(block.start, block.decision_line.end)]
    out.append(
        evidence(
            f"{p}.retrospective",
            _retro_word(item, loc, statement),
            loc,
            statement,
            rule="items: 'Retro' or a date of service",
            certainty=EXACT,
        )
    )
    out[-1].grounded = bool(out[-1].spans) if item.retrospective else False
    out.append(
        evidence(
            f"{p}.date_of_service",
            item.date_of_service,
            loc,
            statement,
            rule="items: a date in the request",
            certainty=EXACT,
        )
    )
    out.append(
        evidence(
            f"{p}.cpt_codes",
            item.cpt_codes,
            loc,
            statement,
            rule="items: five-digit codes",
            certainty=EXACT,
        )
    )
    med = item.medication
    cert, rule = medication_name(item)
    out.append(
        evidence(
            f"{p}.medication.name", med.name if med else None, loc, line, rule=rule, certainty=cert
        )
    )
    cert, rule = medication_strength(item)
    out.append(
        evidence(
            f"{p}.medication.strength",
            med.strength.split(", ") if med and med.strength else None,
            loc,
            line,
            rule=rule,
            certainty=cert,
        )
    )
    out.append(
        evidence(
            f"{p}.medication.days_supply",
            med.days_supply if med else None,
            loc,
            line,
            rule="medication: 'day supply: N' / 'N days'",
            certainty=EXACT,
        )
    )
    gs = item.guideline_sources
    out.append(
        _section_evidence(
            f"{p}.guideline_sources.claims_administrator",
            block.claims_guideline,
            bool(gs.claims_administrator),
            "guidelines: citation families",
        )
    )
    out.append(
        _section_evidence(
            f"{p}.guideline_sources.maximus",
            block.maximus_guideline,
            bool(gs.maximus),
            "guidelines: citation families",
        )
    )
    out.append(
        _section_evidence(
            f"{p}.maximus_guideline",
            block.maximus_guideline,
            item.maximus_guideline is not None,
            "segment: 'MAXIMUS guideline:'",
        )
    )
    return out


def _retro_word(item: Item, loc: Locator, where: Sequence[tuple[int, int]]) -> object:
    if not item.retrospective:
        return None
    for lo, hi in where:
        m = re.search(r"\bretro\w*", loc.text[lo:hi], re.I)
        if m:
            return m.group(0)
    return item.date_of_service


def rules_evidence(record: Record, text: str, seg: Segments) -> list[Evidence]:
    """``Record.evidence`` of a rules record: every letter and item field."""
    loc = Locator(text)
    header = seg.header.text(text) if seg.header else None
    summary = seg.summary.text(text) if seg.summary else None
    head = _range(seg.header)
    creds = _range(seg.credentials)
    summ = _range(seg.summary)
    out: list[Evidence] = [
        evidence(
            "case_number",
            record.case_number,
            loc,
            head,
            rule="header: 'Case Number:'",
            certainty=EXACT if record.case_number or header is None else UNDECIDED,
        ),
        evidence(
            "priority",
            record.priority,
            loc,
            head,
            rule="header: 'Priority:'",
            certainty=EXACT if record.priority or header is None else UNDECIDED,
        ),
    ]
    for name in ("date_assigned", "decision_date", "ur_denial_date", "application_received"):
        value = getattr(record, name)
        cert, rule = header_date(name, value, header)
        out.append(evidence(name, value, loc, head, rule=rule, certainty=cert))
    doi = record.date_of_injury
    cert, rule = injury_date(doi, header, summary, loc, head)
    out.append(evidence("date_of_injury", doi, loc, head + summ, rule=rule, certainty=cert))
    rv = record.reviewer
    prose = header is None
    for name, value in (
        ("reviewer.specialties", rv.specialties),
        ("reviewer.subspecialties", rv.subspecialties),
        ("reviewer.licensure_states", rv.licensure_states),
    ):
        rule = (
            "credentials: 'Board certified in …' prose" if prose else "credentials: labelled lines"
        )
        out.append(
            evidence(
                name,
                value,
                loc,
                creds,
                rule=rule,
                certainty=HEURISTIC if prose and value else EXACT,
            )
        )
    pt = record.patient
    for name, value in (("patient.age", pt.age), ("patient.sex", pt.sex)):
        cert, rule = age_sex(name, value, summary)
        out.append(evidence(name, value, loc, summ, rule=rule, certainty=cert))
    cert, rule = occupation(pt.occupation, text, summary)
    out.append(
        evidence(
            "patient.occupation",
            pt.occupation,
            loc,
            [*summ, (0, len(text))],
            rule=rule,
            certainty=cert,
        )
    )
    cert, rule = diagnoses(record.diagnoses, summary)
    out.append(evidence("diagnoses", record.diagnoses, loc, summ, rule=rule, certainty=cert))
    for i, (item, block) in enumerate(zip(record.items, seg.items, strict=False)):
        out.extend(item_evidence(i, item, block, loc))
    return out


def llm_evidence(record: Record, text: str, seg: Segments) -> list[Evidence]:
    """``Record.evidence`` of a record the LLM read alone (the ``llm`` backend).

    Located like the parser's values; the reader is the LLM, whose reading is
    a heuristic (``undecided`` where it gave nothing).
    """
    out = []
    for ev in rules_evidence(record, text, seg):
        absent = get_path(record, ev.field) in (None, [], False)
        out.append(
            ev.model_copy(
                update={
                    "reader": "llm",
                    "rule": "llm",
                    "certainty": UNDECIDED if absent else HEURISTIC,
                }
            )
        )
    return out
