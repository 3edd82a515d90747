"""Peers side by side: plain instructor, langextract, rules and hybrid on the same model and letters.

One run, the same labelled letters (default: the ``test`` and ``holdout``
splits, which the team did not tune on), the same embedded model (the shared
llama.cpp server; ``--base-url``/``--model``), letter by letter: every peer
reads letter 1, then every peer reads letter 2, … so that a change in the
machine's load hits all peers alike.  The peers:

``instructor``
    What a new instructor user writes: ``instructor.from_openai(OpenAI(base_url=...))``
    (instructor's default TOOLS mode unless ``--instructor-mode``), a response
    model that mirrors RECORD.md's fields (every field required, nullable where
    RECORD.md allows null, a one-line description from RECORD.md), the whole
    letter text in one user message, one call (instructor's default re-ask on a
    validation error).  Its answer is the record: ``PeerRecord`` → ``Record``.
``langextract``
    Google's langextract (optional: ``pip install -e '.[peers]'``) with its
    OpenAI provider pointed at the same server: a prompt description, one
    invented few-shot example letter covering every extraction class, the
    library's defaults otherwise (1,000-character chunks, one pass).  Its
    extractions (class, text, char span, attributes) are mapped to a Record by
    :func:`record_from_extractions` (see there: the mapping is the only place
    where this benchmark has to make choices for a peer).
``rules`` / ``hybrid``
    ``llm_extract.extract(letter, backend=...)``; hybrid with
    ``LLM_EXTRACT_LOCAL_PORT`` set to the server's port, so the embedded
    backend reuses it (the default behaviour, not a foreign endpoint).

Every peer is scored by the project's own eval harness
(``llm_extract.evaluation``: gold loading, item alignment, field scoring);
this script adds no scoring of its own.  Seconds are wall clock per letter for
the extraction alone (the PDF is loaded once, outside the timing, for all
peers); tokens are what the endpoint reported (``usage``), including the
tokens of a letter that then failed when the peer exposes them.

Unlike the package (where only the provider modules import ``openai`` and
``instructor``), this script imports both: it is a benchmark outside the
package whose point is to call them exactly as an outside user would.  They
and langextract are imported lazily, so the mapping code imports (and is
unit-tested, tests/test_bench_peers.py) without them.

Over ~400 lines because the response model, the langextract example and both
mappings belong together: they are what is compared.

Usage:
  python benchmarks/bench_peers.py --limit 2                  # develop
  python benchmarks/bench_peers.py --split holdout --limit 5 --peers rules,hybrid,instructor
  python benchmarks/bench_peers.py --letters-from CM17-0003192,CM16-0247405 --json peers.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import socket
import statistics
import sys
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llm_extract.models import (  # noqa: E402
    Category,
    Decision,
    GuidelineSource,
    Provenance,
    Record,
    Usage,
)
from llm_extract.normalize import clean_string, enum_token, parse_date  # noqa: E402

DEFAULT_BASE_URL = "http://127.0.0.1:8765/v1"
DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct-q4_k_m"
PEERS = ("rules", "hybrid", "instructor", "langextract")
PEER_VERSION = "peers-1"
# Completion cap per request (as the project's Config.max_tokens): a whole record
# with a few items fits; a model that loops stops there instead of filling the
# 4,096-token context of the shared server.
MAX_TOKENS = 1024
LX_MAX_TOKENS = 1024  # per langextract chunk (one 4,000-character chunk answers ~700)

log = logging.getLogger("bench_peers")


# --- the plain instructor peer: a response model mirroring RECORD.md --------------
GuidelineFamily = Literal["mtus", "acoem", "odg", "other"]
CategoryName = Literal[
    "medication",
    "physical_therapy",
    "chiropractic",
    "acupuncture",
    "injection",
    "imaging",
    "diagnostic_test",
    "surgery",
    "durable_medical_equipment",
    "psychological",
    "evaluation_consultation",
    "home_health",
    "program",
    "transportation",
    "other",
]


class PeerMedication(BaseModel):
    name: str = Field(description="drug or compound name as written, without strength or form")
    strength: str | None = Field(description="strength as written, e.g. 20mg")
    days_supply: int | None = Field(description="stated day count, e.g. 'day supply: 30' -> 30")


class PeerGuidelineSources(BaseModel):
    claims_administrator: list[GuidelineFamily] = Field(
        description="guideline families the Claims Administrator guideline cites"
    )
    maximus: list[GuidelineFamily] = Field(
        description="guideline families the MAXIMUS guideline cites"
    )


class PeerItem(BaseModel):
    request: str = Field(description="the disputed item as named before ': Upheld'/': Overturned'")
    original_request: str | None = Field(
        description="for a partial certification, the original request"
    )
    decision: Literal["upheld", "overturned"]
    category: CategoryName
    quantity: int | None = Field(description="total units requested, e.g. 2x6 -> 12, #60 -> 60")
    frequency_per_week: int | None = Field(description="visits per week, e.g. 2x6 -> 2")
    duration_weeks: int | None = Field(description="weeks of a visit schedule, e.g. 2x6 -> 6")
    body_region: str | None = Field(description="anatomical site named in the request, as written")
    retrospective: bool = Field(
        description="the request says Retrospective/Retro or gives a past date"
    )
    date_of_service: dt.date | None = Field(description="a past date of service in the request")
    cpt_codes: list[str] = Field(description="five-digit procedure codes in the request")
    medication: PeerMedication | None = Field(description="only for category medication")
    guideline_sources: PeerGuidelineSources
    maximus_guideline: str | None = Field(
        description="the MAXIMUS guideline sentence(s), without the label"
    )


class PeerReviewer(BaseModel):
    specialties: list[str] = Field(description="board certifications / specialties, one each")
    subspecialties: list[str]
    licensure_states: list[str] = Field(description="full state names of licensure")


class PeerPatient(BaseModel):
    age: int | None
    sex: Literal["male", "female"] | None
    occupation: str | None = Field(description="only when stated")


class PeerRecord(BaseModel):
    """An IMR Final Determination letter as a record (RECORD.md)."""

    case_number: str | None = Field(description="'Case Number:' in the header")
    date_assigned: dt.date | None
    decision_date: dt.date | None
    ur_denial_date: dt.date | None
    application_received: dt.date | None
    priority: Literal["standard", "expedited"] | None
    date_of_injury: dt.date | None
    reviewer: PeerReviewer
    patient: PeerPatient
    diagnoses: list[str] = Field(
        description="the diagnoses the case summary lists, one entry per diagnosis"
    )
    items: list[PeerItem] = Field(
        description="one per disputed item in 'IMR ISSUES, DECISIONS AND RATIONALES', in order"
    )


INSTRUCTOR_SYSTEM = (
    "You extract structured records from California Independent Medical Review (IMR) "
    "Final Determination letters. Copy values as written in the letter. Use null (or an "
    "empty list) for anything the letter does not state; never guess."
)


def record_from_peer(peer: PeerRecord, letter_id: str, provenance: Provenance) -> Record:
    """The instructor answer as a Record: the same fields, so a plain copy."""
    return Record.model_validate(
        {"letter_id": letter_id, **peer.model_dump(mode="json"), "provenance": provenance}
    )


# --- the langextract peer: prompt, example, mapping --------------------------------
LX_PROMPT = (
    """\
Extract, from an IMR (Independent Medical Review) Final Determination letter, in order of appearance:
case_number, date_assigned, decision_date, ur_denial_date, application_received, priority,
date_of_injury (header values, exact text); reviewer_specialty, reviewer_subspecialty,
licensure_state (one extraction per value); patient_age, patient_sex, patient_occupation
(only when stated); diagnosis (one per diagnosis the case summary lists);
disputed_item (the request text of each decision line in 'IMR ISSUES, DECISIONS AND RATIONALES',
before ': Upheld'/': Overturned', with attributes decision, category, quantity,
frequency_per_week, duration_weeks, body_region, retrospective, date_of_service, cpt_codes,
medication_name, medication_strength, days_supply, original_request; 'null' when not stated);
claims_administrator_guideline and maximus_guideline (the guideline sentence after its label,
with attribute sources: any of mtus, acoem, odg, other).
category is one of: """
    + ", ".join(c.value for c in Category)
    + """.
Use exact text from the letter for extractions. Do not paraphrase. Do not extract a request
where the case summary mentions it; only at its decision line. Leave out a class the text
does not contain; never write null as an extraction."""
)

LX_EXAMPLE_TEXT = """\
Case Number: CM00-0000001
Date Assigned: 01/04/2017 Date of Injury: 03/15/2014
Decision Date: 02/01/2017 UR Denial Date: 12/20/2016
Priority: Standard Application Received: 12/28/2016
The Expert Reviewer has the following credentials:
State(s) of Licensure: Texas, California
Certification(s)/Specialty: Orthopaedic Surgery
CLINICAL CASE SUMMARY
The injured worker is a 45 year old female warehouse clerk who sustained an industrial injury on
03-15-14. The injured worker was diagnosed as having lumbar radiculopathy and left knee sprain.
A request for authorization has been received for Physical therapy 2x6 lumbar spine.
IMR ISSUES, DECISIONS AND RATIONALES
Physical therapy 2x6 lumbar spine: Upheld
Claims Administrator guideline: Decision based on MTUS Chronic Pain Medical Treatment
Guidelines, Physical Medicine.
MAXIMUS guideline: Decision based on MTUS Chronic Pain Medical Treatment Guidelines, Physical
Medicine.
Decision rationale: The guidelines allow up to 10 visits; the request exceeds this.
Naproxen sodium 550mg #60: Overturned
Claims Administrator guideline: The Claims Administrator did not cite any medical evidence for
its decision.
MAXIMUS guideline: Decision based on Non-MTUS Citation Official Disability Guidelines (ODG),
Pain, NSAIDs.
Decision rationale: NSAIDs are recommended for chronic low back pain.
"""

_NULL_WORDS = {"", "null", "none", "n/a", "na", "not stated", "unknown", "[]"}

LX_EXAMPLE_EXTRACTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("case_number", "CM00-0000001", {}),
    ("date_assigned", "01/04/2017", {}),
    ("date_of_injury", "03/15/2014", {}),
    ("decision_date", "02/01/2017", {}),
    ("ur_denial_date", "12/20/2016", {}),
    ("priority", "Standard", {}),
    ("application_received", "12/28/2016", {}),
    ("licensure_state", "Texas", {}),
    ("licensure_state", "California", {}),
    ("reviewer_specialty", "Orthopaedic Surgery", {}),
    ("patient_age", "45", {}),
    ("patient_sex", "female", {}),
    ("patient_occupation", "warehouse clerk", {}),
    ("diagnosis", "lumbar radiculopathy", {}),
    ("diagnosis", "left knee sprain", {}),
    (
        "disputed_item",
        "Physical therapy 2x6 lumbar spine",
        {
            "decision": "upheld",
            "category": "physical_therapy",
            "quantity": "12",
            "frequency_per_week": "2",
            "duration_weeks": "6",
            "body_region": "lumbar spine",
            "retrospective": "false",
            "date_of_service": "null",
            "cpt_codes": "null",
            "medication_name": "null",
            "medication_strength": "null",
            "days_supply": "null",
            "original_request": "null",
        },
    ),
    (
        "claims_administrator_guideline",
        "Decision based on MTUS Chronic Pain Medical Treatment\nGuidelines, Physical Medicine.",
        {"sources": "mtus"},
    ),
    (
        "maximus_guideline",
        "Decision based on MTUS Chronic Pain Medical Treatment Guidelines, Physical\nMedicine.",
        {"sources": "mtus"},
    ),
    (
        "disputed_item",
        "Naproxen sodium 550mg #60",
        {
            "decision": "overturned",
            "category": "medication",
            "quantity": "60",
            "frequency_per_week": "null",
            "duration_weeks": "null",
            "body_region": "null",
            "retrospective": "false",
            "date_of_service": "null",
            "cpt_codes": "null",
            "medication_name": "Naproxen sodium",
            "medication_strength": "550mg",
            "days_supply": "null",
            "original_request": "null",
        },
    ),
    (
        "claims_administrator_guideline",
        "The Claims Administrator did not cite any medical evidence for\nits decision.",
        {"sources": "null"},
    ),
    (
        "maximus_guideline",
        "Decision based on Non-MTUS Citation Official Disability Guidelines (ODG),\nPain, NSAIDs.",
        {"sources": "odg"},
    ),
]

_LX_DATE_FIELDS = (
    "date_assigned",
    "decision_date",
    "ur_denial_date",
    "application_received",
    "date_of_injury",
)


def _text(value: Any) -> str | None:
    """A langextract value (str, list or None) as one cleaned string, None for 'null'."""
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    if value is None:
        return None
    s = clean_string(str(value))
    return None if s.lower() in _NULL_WORDS else s


def _int(value: Any) -> int | None:
    s = _text(value)
    m = re.search(r"\d+", s or "")
    return int(m[0]) if m else None


def _bool(value: Any) -> bool:
    return (_text(value) or "").lower() in {"true", "yes", "1", "retrospective", "retro"}


def _date(value: Any) -> dt.date | None:
    s = _text(value)
    return parse_date(s) if s else None


def _enum(value: Any, allowed: set[str]) -> str | None:
    s = _text(value)
    token = enum_token(s) if s else None
    return token if token in allowed else None


def _list(value: Any) -> list[str]:
    """A list attribute: a JSON-ish list or a comma/semicolon-separated string."""
    items = value if isinstance(value, list) else re.split(r"[,;]", str(value or ""))
    return [t for v in items if (t := _text(v))]


def _families(value: Any) -> list[str]:
    allowed = {g.value for g in GuidelineSource}
    out: list[str] = []
    for v in _list(value):
        token = enum_token(v)
        if token in allowed and token not in out:
            out.append(token)
    return out


def _start(extraction: Any) -> int | None:
    interval = getattr(extraction, "char_interval", None)
    return getattr(interval, "start_pos", None) if interval is not None else None


def _attrs(extraction: Any) -> dict[str, Any]:
    return dict(getattr(extraction, "attributes", None) or {})


def _item_from(extraction: Any) -> dict[str, Any] | None:
    """One disputed_item extraction as an Item dict; None without a request or decision."""
    a = _attrs(extraction)
    request = _text(extraction.extraction_text)
    decision = _enum(a.get("decision"), {d.value for d in Decision})
    if request is None or decision is None:
        return None
    med_name = _text(a.get("medication_name"))
    return {
        "request": request,
        "original_request": _text(a.get("original_request")),
        "decision": decision,
        "category": _enum(a.get("category"), {c.value for c in Category}),
        "quantity": _int(a.get("quantity")),
        "frequency_per_week": _int(a.get("frequency_per_week")),
        "duration_weeks": _int(a.get("duration_weeks")),
        "body_region": _text(a.get("body_region")),
        "retrospective": _bool(a.get("retrospective")),
        "date_of_service": _date(a.get("date_of_service")),
        "cpt_codes": [c for c in _list(a.get("cpt_codes")) if re.fullmatch(r"\d{5}", c)],
        "medication": (
            {
                "name": med_name,
                "strength": _text(a.get("medication_strength")),
                "days_supply": _int(a.get("days_supply")),
            }
            if med_name
            else None
        ),
        "guideline_sources": {"claims_administrator": [], "maximus": []},
        "maximus_guideline": None,
    }


def record_from_extractions(
    extractions: Sequence[Any], letter_id: str, provenance: Provenance | None = None
) -> Record:
    """langextract's extractions (class, text, char span, attributes) as our Record.

    The mapping, as fair as we could make it:
    - header classes and patient fields: the first extraction of the class in
      letter order (by char span; unaligned ones after the aligned), its text
      normalised as RECORD.md says (dates parsed, enums lower-case);
      unparseable values are null, not failures.
    - reviewer lists and diagnoses: every extraction of the class, in order,
      duplicates (case-insensitive) dropped.
    - items: every ``disputed_item`` with a request and a valid decision; the
      same request text twice (the summary and the decision line) is one
      item, the first occurrence with its attributes.
    - guideline extractions go to the item whose request starts last before
      them in the letter (the char spans langextract returns make this
      possible); without spans, the n-th guideline goes to the n-th item.
    """

    def order(e: Any) -> tuple[int, int]:
        s = _start(e)
        return (0, s) if s is not None else (1, 0)

    ordered = sorted(extractions, key=order)
    by_class: dict[str, list[Any]] = {}
    for e in ordered:
        by_class.setdefault(str(e.extraction_class).strip().lower(), []).append(e)

    def first(cls: str) -> str | None:
        for e in by_class.get(cls, []):
            if (t := _text(e.extraction_text)) is not None:
                return t
        return None

    def every(cls: str) -> list[str]:
        out: list[str] = []
        for e in by_class.get(cls, []):
            t = _text(e.extraction_text)
            if t and t.lower() not in {o.lower() for o in out}:
                out.append(t)
        return out

    data: dict[str, Any] = {"letter_id": letter_id, "case_number": first("case_number")}
    for name in _LX_DATE_FIELDS:
        data[name] = _date(first(name))
    data["priority"] = _enum(first("priority"), {"standard", "expedited"})
    data["reviewer"] = {
        "specialties": every("reviewer_specialty"),
        "subspecialties": every("reviewer_subspecialty"),
        "licensure_states": every("licensure_state"),
    }
    data["patient"] = {
        "age": _int(first("patient_age")),
        "sex": _enum(first("patient_sex"), {"male", "female"}),
        "occupation": first("patient_occupation"),
    }
    data["diagnoses"] = every("diagnosis")

    items: list[dict[str, Any]] = []
    starts: list[int | None] = []
    seen: set[str] = set()
    for e in by_class.get("disputed_item", []):
        item = _item_from(e)
        if item is None or item["request"].lower() in seen:
            continue
        seen.add(item["request"].lower())
        items.append(item)
        starts.append(_start(e))
    for cls, key in (
        ("claims_administrator_guideline", "claims_administrator"),
        ("maximus_guideline", "maximus"),
    ):
        for n, g in enumerate(by_class.get(cls, [])):
            target = _owner(starts, _start(g), n)
            if target is None:
                continue
            sources = items[target]["guideline_sources"]
            if not sources[key]:
                sources[key] = _families(_attrs(g).get("sources"))
            if key == "maximus" and items[target]["maximus_guideline"] is None:
                items[target]["maximus_guideline"] = _text(g.extraction_text)
    data["items"] = items
    if provenance is not None:
        data["provenance"] = provenance
    return Record.model_validate(data)


def _owner(item_starts: list[int | None], start: int | None, n: int) -> int | None:
    """Which item a guideline at ``start`` belongs to: the last one starting before it."""
    if not item_starts:
        return None
    if start is not None and all(s is not None for s in item_starts):
        before = [i for i, s in enumerate(item_starts) if s is not None and s <= start]
        return before[-1] if before else None
    return n if n < len(item_starts) else None


def langextract_examples() -> list[Any]:
    import langextract as lx

    return [
        lx.data.ExampleData(
            text=LX_EXAMPLE_TEXT,
            extractions=[
                lx.data.Extraction(extraction_class=c, extraction_text=t, attributes=a or None)
                for c, t, a in LX_EXAMPLE_EXTRACTIONS
            ],
        )
    ]


# --- running the peers --------------------------------------------------------------
@dataclass
class Outcome:
    """One peer on one letter."""

    record: Record | None
    seconds: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    error: str | None = None
    error_type: str | None = None
    fallback: bool = False


@dataclass
class TokenMeter:
    """Counts the usage of every chat completion a peer's OpenAI client makes."""

    prompt: int = 0
    completion: int = 0
    calls: int = 0


def _metered_openai(base_url: str, meter: TokenMeter) -> Any:
    """An OpenAI client whose every HTTP response's ``usage`` goes into ``meter``.

    An httpx response hook: neither instructor nor langextract hands the
    usage of all its calls back (re-asks, chunks), the transport sees them all.
    """
    import httpx
    from openai import OpenAI

    def on_response(response: httpx.Response) -> None:
        if response.request.url.path.endswith("/chat/completions") and response.status_code == 200:
            response.read()
            try:
                usage = response.json().get("usage") or {}
            except ValueError:
                usage = {}
            meter.calls += 1
            meter.prompt += int(usage.get("prompt_tokens") or 0)
            meter.completion += int(usage.get("completion_tokens") or 0)

    http = httpx.Client(timeout=900.0, event_hooks={"response": [on_response]})
    # No transport retries: the server answers one request at a time and keeps
    # generating after a client gives up, so a retry would only queue a second
    # copy behind the first.  max_tokens bounds each request instead.
    return OpenAI(base_url=base_url, api_key="sk-local", http_client=http, max_retries=0)


Runner = Callable[[Any], Outcome]


def _provenance(
    letter: Any, backend: str, model: str, meter: TokenMeter, seconds: float
) -> Provenance:
    return Provenance(
        source_file=letter.source_file,
        text_sha256=letter.sha256,
        backend=backend,
        backend_version=PEER_VERSION,
        model=model,
        usage=Usage(
            prompt_tokens=meter.prompt,
            completion_tokens=meter.completion,
            attempts=meter.calls,
            seconds=seconds,
        ),
    )


def _timed(fn: Callable[[TokenMeter], Record], meter: TokenMeter) -> Outcome:
    started = time.perf_counter()
    before = (meter.prompt, meter.completion, meter.calls)
    try:
        record = fn(meter)
        error = error_type = None
    except Exception as exc:  # a peer's failure on one letter is data, not a stop
        record, error, error_type = None, f"{type(exc).__name__}: {exc}"[:300], type(exc).__name__
    took = time.perf_counter() - started
    return Outcome(
        record,
        took,
        meter.prompt - before[0],
        meter.completion - before[1],
        meter.calls - before[2],
        error,
        error_type,
        bool(record and record.provenance and record.provenance.fallback),
    )


def instructor_runner(base_url: str, model: str, mode: str | None) -> Runner:
    import instructor

    meter = TokenMeter()
    raw = _metered_openai(base_url, meter)
    client = (
        instructor.from_openai(raw)
        if mode is None
        else instructor.from_openai(raw, mode=instructor.Mode[mode.upper()])
    )

    def run(letter: Any) -> Outcome:
        def go(m: TokenMeter) -> Record:
            started = time.perf_counter()
            before = TokenMeter(m.prompt, m.completion, m.calls)
            answer = client.chat.completions.create(
                model=model,
                response_model=PeerRecord,
                messages=[
                    {"role": "system", "content": INSTRUCTOR_SYSTEM},
                    {"role": "user", "content": letter.text},
                ],
                temperature=0.0,
                max_tokens=MAX_TOKENS,
            )
            used = TokenMeter(
                m.prompt - before.prompt, m.completion - before.completion, m.calls - before.calls
            )
            return record_from_peer(
                answer,
                letter.letter_id,
                _provenance(letter, "peer-instructor", model, used, time.perf_counter() - started),
            )

        return _timed(go, meter)

    return run


def drop_null_extractions(content: str) -> str:
    """The answer without extractions whose text is null (``{"patient_occupation": null}``).

    The 1.5B model writes one for every class a chunk lacks; langextract then
    rejects the whole chunk ("Extraction text must be a string") and keeps
    none of its extractions.  Removing only those entries is the least we
    can do for langextract; the rest of the answer is passed on as it came.
    """
    try:
        data = json.loads(content)
    except ValueError:
        return content
    rows = data.get("extractions") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        return content
    keep = [
        r
        for r in rows
        if not (
            isinstance(r, dict)
            and any(v is None for k, v in r.items() if not k.endswith("_attributes"))
        )
    ]
    return json.dumps({**data, "extractions": keep})


class _NullFreeClient:
    """An OpenAI client whose chat answers pass through :func:`drop_null_extractions`."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.chat = self
        self.completions = self

    def create(self, **kwargs: Any) -> Any:
        response = self._client.chat.completions.create(**kwargs)
        for choice in response.choices:
            if choice.message.content:
                choice.message.content = drop_null_extractions(choice.message.content)
        return response


def langextract_runner(base_url: str, model: str, max_char_buffer: int) -> Runner:
    import langextract as lx
    from langextract.providers.openai import OpenAILanguageModel

    meter = TokenMeter()
    examples = langextract_examples()
    # The model id does not match langextract's OpenAI patterns (a qwen name
    # routes to its Ollama provider), so the OpenAI provider is named explicitly.
    lm = OpenAILanguageModel(
        model_id=model,
        api_key="sk-local",
        base_url=base_url,
        temperature=0.0,
        max_workers=1,  # the server answers one request at a time
        max_output_tokens=LX_MAX_TOKENS,
    )
    lm._client = _NullFreeClient(_metered_openai(base_url, meter))

    def run(letter: Any) -> Outcome:
        def go(m: TokenMeter) -> Record:
            started = time.perf_counter()
            before = TokenMeter(m.prompt, m.completion, m.calls)
            doc = lx.extract(
                text_or_documents=letter.text,
                prompt_description=LX_PROMPT,
                examples=examples,
                model=lm,
                max_char_buffer=max_char_buffer,
                max_workers=1,
                show_progress=False,
                # The provider object is built above; langextract's schema
                # constraint would be response_format json_schema, which
                # llama-cpp-python's server rejects (it takes text/json_object).
                # Tried: that schema as {type: json_object, schema}, the server's
                # grammar form: the model then answered {"extractions": []}.
                use_schema_constraints=False,
            )
            used = TokenMeter(
                m.prompt - before.prompt, m.completion - before.completion, m.calls - before.calls
            )
            prov = _provenance(
                letter, "peer-langextract", model, used, time.perf_counter() - started
            )
            return record_from_extractions(doc.extractions or [], letter.letter_id, prov)

        return _timed(go, meter)

    return run


def project_runner(name: str) -> Runner:
    from llm_extract import extract, load_config

    config = load_config()

    def run(letter: Any) -> Outcome:
        def go(m: TokenMeter) -> Record:
            record = extract(letter, backend=name, config=config)
            u = record.provenance.usage if record.provenance else None
            if u is not None:
                m.prompt += u.prompt_tokens
                m.completion += u.completion_tokens
                m.calls += u.attempts if u.prompt_tokens else 0  # rules: no call
            return record

        return _timed(go, TokenMeter())

    return run


# --- scoring (the project's harness) and the table ----------------------------------
def score(gold: Sequence[Any], outcomes: dict[str, Outcome]) -> Any:
    """The eval harness's result for one peer's outcomes (no scoring here).

    Each outcome becomes the loop's ``LetterResult`` (what ``llm-extract eval``
    scores): the record or the error as data, the seconds and the tokens.
    """
    from llm_extract.evaluation.scoring import evaluate
    from llm_extract.loop import LetterResult, error_data

    predictions = {
        lid: LetterResult(
            source=lid,
            letter_id=lid,
            record=o.record,
            error=error_data(o.error_type or "Error", o.error, lid) if o.error else None,
            usage=Usage(
                prompt_tokens=o.prompt_tokens,
                completion_tokens=o.completion_tokens,
                attempts=o.calls,
                seconds=o.seconds,
            ),
            seconds=o.seconds,
        )
        for lid, o in outcomes.items()
    }
    return evaluate(list(gold), predictions)


def summary_row(peer: str, result: Any, outcomes: list[Outcome]) -> dict[str, Any]:
    secs = [o.seconds for o in outcomes] or [0.0]
    n = max(1, len(outcomes))
    return {
        "peer": peer,
        "letters": len(outcomes),
        "mean_field_score": result.mean_field_score,
        "decision_accuracy": result.decision_accuracy,
        "items_precision": result.items.precision,
        "items_recall": result.items.recall,
        "seconds_median": statistics.median(secs),
        "seconds_mean": statistics.fmean(secs),
        "prompt_tokens_per_letter": sum(o.prompt_tokens for o in outcomes) / n,
        "completion_tokens_per_letter": sum(o.completion_tokens for o in outcomes) / n,
        "calls_per_letter": sum(o.calls for o in outcomes) / n,
        "failures": sum(o.record is None for o in outcomes),
        "fallbacks": sum(o.fallback for o in outcomes),
        "fields": {name: fs.score for name, fs in result.fields.items()},
        "errors": [
            {"letter_id": lid, "error": o.error}
            for lid, o in zip(result_ids(result), outcomes, strict=False)
            if o.error
        ],
    }


def result_ids(result: Any) -> list[str]:
    return [lr.letter_id for lr in result.letters]


def _pct(x: float | None) -> str:
    return "    n/a" if x is None else f"{100 * x:6.2f}%"


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        f"\n{'peer':12s} {'n':>3s} {'field':>7s} {'decis':>7s} {'items P':>7s} {'items R':>7s} "
        f"{'s med':>7s} {'s mean':>7s} {'prompt':>7s} {'compl':>6s} {'calls':>5s} {'fail':>4s}"
    )
    for r in rows:
        print(
            f"{r['peer']:12s} {r['letters']:3d} {_pct(r['mean_field_score'])} "
            f"{_pct(r['decision_accuracy'])} {_pct(r['items_precision'])} {_pct(r['items_recall'])} "
            f"{r['seconds_median']:7.1f} {r['seconds_mean']:7.1f} "
            f"{r['prompt_tokens_per_letter']:7.0f} {r['completion_tokens_per_letter']:6.0f} "
            f"{r['calls_per_letter']:5.1f} {r['failures']:4d}"
            + (f"  ({r['fallbacks']} fallback)" if r["fallbacks"] else "")
        )
    print(
        "field = mean field score (31 fields, eval harness); decis = decision accuracy; "
        "s = seconds per letter (extraction only); prompt/compl = tokens per letter (means); "
        "calls = chat completions per letter; fail = letters without a record (scored empty)"
    )
    names = list(rows[0]["fields"]) if rows else []
    differing = [n for n in names if len({round(r["fields"][n] or 0.0, 4) for r in rows}) > 1]
    if differing:
        print(f"\n{'field':40s} " + " ".join(f"{r['peer']:>11s}" for r in rows))
        for n in differing:
            print(f"{n:40s} " + " ".join(f"{_pct(r['fields'][n]):>11s}" for r in rows))
    for r in rows:
        for e in r["errors"]:
            print(f"  {r['peer']}: {e['letter_id']}: {e['error']}")


def select_letters(splits: list[str], limit: int | None, ids: list[str] | None) -> list[Any]:
    """Gold records of the splits, interleaved (holdout, test, holdout, …) so a
    ``--limit`` covers every split; ``--ids`` picks letters by id instead."""
    from llm_extract.evaluation.gold import load_gold

    per_split = [load_gold(ROOT / "evals" / "fixtures", split=s) for s in splits]
    if ids:
        wanted = {g.letter_id: g for gs in per_split for g in gs}
        missing = [i for i in ids if i not in wanted]
        if missing:
            raise SystemExit(f"not in splits {','.join(splits)}: {', '.join(missing)}")
        return [wanted[i] for i in ids]
    out: list[Any] = []
    for k in range(max((len(gs) for gs in per_split), default=0)):
        out.extend(gs[k] for gs in per_split if k < len(gs))
    return out[:limit] if limit else out


def check_server(base_url: str) -> None:
    """Something listens at the endpoint (a TCP connect: a busy llama.cpp server
    answers nothing, not even ``/models``, until its queue is through)."""
    url = urllib.parse.urlsplit(base_url)
    try:
        socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=5).close()
    except OSError as exc:
        raise SystemExit(
            f"no server at {base_url} ({exc}); start the local model "
            f"(llm-extract serve) or pass --base-url"
        ) from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--split", default="holdout,test", help="comma-separated splits (default holdout,test)"
    )
    ap.add_argument(
        "--limit", type=int, default=None, help="only the first N letters (splits interleaved)"
    )
    ap.add_argument("--ids", default=None, help="comma-separated letter ids instead of --limit")
    ap.add_argument(
        "--peers", default=",".join(PEERS), help=f"comma-separated, of {','.join(PEERS)}"
    )
    ap.add_argument("--base-url", default=DEFAULT_BASE_URL)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument(
        "--instructor-mode",
        default=None,
        help="instructor mode (tools, json, md_json, json_schema); default: instructor's own (tools)",
    )
    ap.add_argument(
        "--lx-max-char-buffer",
        type=int,
        default=1000,
        help="langextract chunk size (its default: 1000)",
    )
    ap.add_argument(
        "--stop-at",
        default=None,
        help="HH:MM UTC: start no letter after this (the run still scores)",
    )
    ap.add_argument(
        "--json", type=Path, default=None, help="write every figure (and the eval results) here"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        raise SystemExit(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEERS)}")
    splits = [s.strip() for s in args.split.split(",") if s.strip()]
    gold = select_letters(splits, args.limit, args.ids.split(",") if args.ids else None)
    if any(p != "rules" for p in peers):
        check_server(args.base_url)
        port = re.search(r":(\d+)", args.base_url.split("//", 1)[-1])
        if port:  # hybrid: the embedded backend reuses the server on this port
            os.environ.setdefault("LLM_EXTRACT_LOCAL_PORT", port[1])

    from llm_extract import close_backends
    from llm_extract.evaluation.runner import default_letters_dir, find_letter
    from llm_extract.loading import load_letter

    makers: dict[str, Callable[[], Runner]] = {
        "rules": lambda: project_runner("rules"),
        "hybrid": lambda: project_runner("hybrid"),
        "instructor": lambda: instructor_runner(args.base_url, args.model, args.instructor_mode),
        "langextract": lambda: langextract_runner(
            args.base_url, args.model, args.lx_max_char_buffer
        ),
    }
    runners: dict[str, Runner] = {}
    for p in peers:
        try:
            runners[p] = makers[p]()
        except ImportError as exc:
            print(f"skip {p}: {exc} (pip install -e '.[peers]')", file=sys.stderr)
    letters_dir = default_letters_dir()
    print(
        f"{len(gold)} letters ({','.join(splits)}): {' '.join(g.letter_id for g in gold)}\n"
        f"peers {', '.join(runners)}; model {args.model} at {args.base_url}; "
        f"started {dt.datetime.now(dt.UTC):%H:%M:%S} UTC, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    outcomes: dict[str, dict[str, Outcome]] = {p: {} for p in runners}
    scored: list[Any] = []
    try:
        for g in gold:
            if args.stop_at and dt.datetime.now(dt.UTC).strftime("%H:%M") >= args.stop_at:
                print(f"--stop-at {args.stop_at} UTC reached: no further letters", flush=True)
                break
            path = find_letter(letters_dir, g.letter_id)
            if path is None:
                print(f"skip {g.letter_id}: not found in {letters_dir}")
                continue
            letter = load_letter(path)
            for p, run in runners.items():
                o = run(letter)
                outcomes[p][g.letter_id] = o
                print(
                    f"  {g.split:7s} {g.letter_id:14s} {p:11s} {o.seconds:6.1f}s  "
                    f"prompt {o.prompt_tokens:5d}  compl {o.completion_tokens:5d}  calls {o.calls:2d}  "
                    f"items {len(o.record.items) if o.record else '-':>2}"
                    + (f"  ERROR {o.error}" if o.error else "")
                    + ("  FALLBACK" if o.fallback else ""),
                    flush=True,
                )
            scored.append(g)  # only letters every peer has read are scored
    except KeyboardInterrupt:
        print(f"interrupted: scoring the {len(scored)} letters every peer finished", flush=True)
    finally:
        close_backends()

    rows, results = [], {}
    for p in runners:
        result = score(scored, outcomes[p])
        results[p] = result
        rows.append(summary_row(p, result, [outcomes[p][g.letter_id] for g in scored]))
    print(f"finished {dt.datetime.now(dt.UTC):%H:%M:%S} UTC, load {os.getloadavg()[0]:.1f}")
    print_table(rows)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "letters": [g.letter_id for g in scored],
                    "peers": rows,
                    "eval": {p: r.to_dict() for p, r in results.items()},
                },
                indent=2,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
