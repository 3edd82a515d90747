"""The record of one IMR letter, exactly per ``../shared/spec/RECORD.md``.

Every field of the spec exists here with its name, type and meaning.  The
models carry more (``span`` on items; ``provenance``, ``checks`` and
``needs_review`` on the record) but never less or different.

Normalisation happens in validators, never in schema ``pattern``s: dates
written as ``10-18-16`` become ``2016-10-18``, enum values are case- and
separator-insensitive, strings are whitespace-collapsed.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .normalize import clean_string, enum_token, parse_date
from .review_flags import ReviewCode, ReviewFlag, flagged_paths

SCHEMA_VERSION = "1.0"


class Decision(StrEnum):
    UPHELD = "upheld"
    OVERTURNED = "overturned"


class Priority(StrEnum):
    STANDARD = "standard"
    EXPEDITED = "expedited"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


class Category(StrEnum):
    MEDICATION = "medication"
    PHYSICAL_THERAPY = "physical_therapy"
    CHIROPRACTIC = "chiropractic"
    ACUPUNCTURE = "acupuncture"
    INJECTION = "injection"
    IMAGING = "imaging"
    DIAGNOSTIC_TEST = "diagnostic_test"
    SURGERY = "surgery"
    DURABLE_MEDICAL_EQUIPMENT = "durable_medical_equipment"
    PSYCHOLOGICAL = "psychological"
    EVALUATION_CONSULTATION = "evaluation_consultation"
    HOME_HEALTH = "home_health"
    PROGRAM = "program"
    TRANSPORTATION = "transportation"
    OTHER = "other"


class GuidelineSource(StrEnum):
    MTUS = "mtus"
    ACOEM = "acoem"
    ODG = "odg"
    OTHER = "other"


def _coerce_enum(value: Any) -> Any:
    return enum_token(value) if isinstance(value, str) else value


def _coerce_date(value: Any) -> Any:
    if isinstance(value, str):
        if not value.strip():
            return None
        parsed = parse_date(value)
        if parsed is None:
            raise ValueError(f"not a date: {value!r} (expected e.g. 2016-10-18 or 10/18/2016)")
        return parsed
    return value


def _clean_opt(value: Any) -> Any:
    if isinstance(value, str):
        cleaned = clean_string(value)
        return cleaned or None
    return value


def _clean_list(value: Any) -> Any:
    if isinstance(value, list):
        out = [clean_string(v) if isinstance(v, str) else v for v in value]
        return [v for v in out if v != ""]
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False, validate_assignment=True)


class Span(_Model):
    """Character offsets ``[start, end)`` into the letter text (see ``Letter.text``)."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)


class Reviewer(_Model):
    specialties: list[str] = Field(default_factory=list)
    subspecialties: list[str] = Field(default_factory=list)
    licensure_states: list[str] = Field(default_factory=list)

    _clean = field_validator("specialties", "subspecialties", "licensure_states", mode="before")(
        classmethod(lambda cls, v: _clean_list(v))
    )


class Patient(_Model):
    age: int | None = None
    sex: Sex | None = None
    occupation: str | None = None

    _enum = field_validator("sex", mode="before")(classmethod(lambda cls, v: _coerce_enum(v)))
    _str = field_validator("occupation", mode="before")(classmethod(lambda cls, v: _clean_opt(v)))


class DrugClass(StrEnum):
    """The drug dimension's classes (llm_extract.drugs; docs/analysis.md says what each holds)."""

    OPIOID = "opioid"
    NSAID = "nsaid"
    MUSCLE_RELAXANT = "muscle_relaxant"
    ANTICONVULSANT_NEUROPATHIC = "anticonvulsant_neuropathic"
    ANTIDEPRESSANT = "antidepressant"
    PROTON_PUMP_INHIBITOR = "proton_pump_inhibitor"
    # A compounded or multi-ingredient topical (creams mixing actives, Terocin-type products).
    TOPICAL_COMPOUND = "topical_compound"
    # One non-NSAID ingredient on the skin: lidocaine (Lidoderm, Anecream), capsaicin.
    TOPICAL_ANALGESIC = "topical_analgesic"
    SLEEP_AID = "sleep_aid"
    BENZODIAZEPINE = "benzodiazepine"
    OTHER = "other"


# How a medication's ingredients were found: the drug dictionary
# (drug-named-entity-recognition), the package's own table (llm_extract/drugs/table.py),
# or neither (ingredients empty, class null: the name is not guessed at).
DrugResolution = Literal["dictionary", "table", "unresolved"]


class Medication(_Model):
    name: str
    strength: str | None = None
    days_supply: int | None = None
    # Derived after extraction from ``name`` (llm_extract.drugs), the same for every
    # backend; never asked of a model.  ``resolution`` is null until derived.
    ingredients: list[str] = Field(default_factory=list)
    drug_class: DrugClass | None = None
    resolution: DrugResolution | None = None

    _str = field_validator("name", "strength", mode="before")(
        classmethod(lambda cls, v: _clean_opt(v))
    )
    _enum = field_validator("drug_class", mode="before")(
        classmethod(lambda cls, v: _coerce_enum(v))
    )


class GuidelineSources(_Model):
    claims_administrator: list[GuidelineSource] = Field(default_factory=list)
    maximus: list[GuidelineSource] = Field(default_factory=list)

    @field_validator("claims_administrator", "maximus", mode="before")
    @classmethod
    def _enums(cls, v: Any) -> Any:
        if isinstance(v, list):
            seen: list[Any] = []
            for x in v:
                x = _coerce_enum(x)
                if x not in seen:
                    seen.append(x)
            return seen
        return v


class Item(_Model):
    request: str
    original_request: str | None = None
    decision: Decision
    # RECORD.md always has a category in gold; a backend that cannot decide
    # (the rules parser on an unfamiliar request) leaves it null, never guesses.
    category: Category | None = None
    quantity: int | None = None
    frequency_per_week: int | None = None
    duration_weeks: int | None = None
    body_region: str | None = None
    retrospective: bool = False
    date_of_service: dt.date | None = None
    cpt_codes: list[str] = Field(default_factory=list)
    medication: Medication | None = None
    guideline_sources: GuidelineSources = Field(default_factory=GuidelineSources)
    maximus_guideline: str | None = None
    # Provenance beyond the spec: where the decision line stands in the letter text.
    span: Span | None = None

    _enum = field_validator("decision", "category", mode="before")(
        classmethod(lambda cls, v: _coerce_enum(v))
    )
    _date = field_validator("date_of_service", mode="before")(
        classmethod(lambda cls, v: _coerce_date(v))
    )
    _str = field_validator(
        "request", "original_request", "body_region", "maximus_guideline", mode="before"
    )(classmethod(lambda cls, v: _clean_opt(v)))
    _list = field_validator("cpt_codes", mode="before")(classmethod(lambda cls, v: _clean_list(v)))


# How sure the reader that produced a value is (issue: hybrid arbitration).
#   exact     -- a fixed rule matched literal text (a header label, "#60", ": Upheld");
#   heuristic -- a rule that can be wrong (the diagnoses splitter, category
#                defaults, medication name/strength cutting, counts beyond the
#                plain notations), or an LLM reading;
#   undecided -- the reader found no value (the field is null / empty).
Certainty = Literal["exact", "heuristic", "undecided"]
# Who produced the value kept in the record.
Reader = Literal["rules", "llm", "both", "person"]


class Evidence(_Model):
    """Where one field's value was read, by whom, and whether the text supports it.

    ``field`` is the value's path in the record: ``case_number``,
    ``patient.age``, ``reviewer.specialties``, ``diagnoses``,
    ``items[0].quantity``, ``items[2].medication.name``.  ``spans`` point into
    the letter text (``Letter.text``); ``grounded`` is true when the value, or
    the text it was normalised from, occurs at those spans.  ``alternatives``
    is how many other readings the reader saw the same text admit (a list
    split one way where it could be split another); written only when there
    are some.
    """

    field: str
    spans: list[Span] = Field(default_factory=list)
    reader: Reader = "rules"
    rule: str | None = None
    certainty: Certainty = "undecided"
    grounded: bool = False
    alternatives: int = Field(default=0, ge=0, exclude_if=lambda n: n == 0)


class OcrPage(_Model):
    page: int = Field(ge=1)
    confidence: float = Field(ge=0.0, le=1.0)


class OcrInfo(_Model):
    """Set when (some) pages of the letter were read by OCR."""

    engine: str
    engine_version: str | None = None
    pages: list[OcrPage] = Field(default_factory=list)


class LetterPart(_Model):
    """Where a letter sits in a file that holds several (llm_extract.bundle).

    ``pages`` (1-based, inclusive) for a PDF or a text with page breaks,
    ``chars`` (``[start, end)`` into the file's decoded text) for a plain text.
    Spans in the record point into the letter's own text, not the file's.
    """

    index: int = Field(ge=1)
    count: int = Field(ge=2)
    pages: tuple[int, int] | None = None
    chars: tuple[int, int] | None = None


class Usage(_Model):
    """What producing one record (or one LLM call) cost."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0  # HTTP requests sent: transport retries and re-asks included
    seconds: float = 0.0

    def add(self, other: Usage) -> Usage:
        """Add ``other`` into this one (in place) and return it, for running totals."""
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.attempts += other.attempts
        self.seconds += other.seconds
        return self

    def __add__(self, other: Usage) -> Usage:
        return Usage().add(self).add(other)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Provenance(_Model):
    source_file: str | None = None
    text_sha256: str
    backend: str
    backend_version: str
    schema_version: str = SCHEMA_VERSION
    model: str | None = None
    prompt_version: str | None = None
    usage: Usage = Field(default_factory=Usage)
    # True when an LLM backend failed and the record is the rules result instead.
    fallback: bool = False
    fallback_reason: str | None = None
    # Which layout of IMR letter this is (llm_extract.layout), and how
    # its text was obtained: "pdfium", "text" (a .txt or a string), "ocr", or
    # the name of an external extractor route (eval --text-from).
    layout: str | None = None
    text_source: str | None = None
    ocr: OcrInfo | None = None
    # Set when the file holds several letters and this record is one of them.
    part: LetterPart | None = None


class Check(_Model):
    """One disagreement between the LLM and the deterministic parser."""

    field: str
    llm_value: Any = None
    rules_value: Any = None
    kept: str  # "rules" | "llm"
    reason: str
    resolved: bool = True


class Record(_Model):
    letter_id: str
    case_number: str | None = None
    date_assigned: dt.date | None = None
    decision_date: dt.date | None = None
    ur_denial_date: dt.date | None = None
    application_received: dt.date | None = None
    priority: Priority | None = None
    date_of_injury: dt.date | None = None
    reviewer: Reviewer = Field(default_factory=Reviewer)
    patient: Patient = Field(default_factory=Patient)
    diagnoses: list[str] = Field(default_factory=list)
    items: list[Item] = Field(default_factory=list)
    # Beyond the spec: how the record was made, and what the cross-check found.
    provenance: Provenance | None = None
    checks: list[Check] = Field(default_factory=list)
    needs_review: bool = False
    # Why the record should be checked by a person: one short sentence each
    # (the messages of ``review_flags``, in order).
    review_reasons: list[str] = Field(default_factory=list)
    # Per-field evidence (spans, reader, certainty, grounding); see Evidence.
    evidence: list[Evidence] = Field(default_factory=list)
    # The same reasons as data: which field each concerns, and a stable code.
    review_flags: list[ReviewFlag] = Field(default_factory=list)
    # Per value path, the estimated probability that the value is wrong
    # (llm_extract/confidence.py); empty when no fitted model is packaged.
    p_wrong: dict[str, float] = Field(default_factory=dict)

    _enum = field_validator("priority", mode="before")(classmethod(lambda cls, v: _coerce_enum(v)))
    _date = field_validator(
        "date_assigned",
        "decision_date",
        "ur_denial_date",
        "application_received",
        "date_of_injury",
        mode="before",
    )(classmethod(lambda cls, v: _coerce_date(v)))
    _str = field_validator("case_number", mode="before")(classmethod(lambda cls, v: _clean_opt(v)))
    _list = field_validator("diagnoses", mode="before")(classmethod(lambda cls, v: _clean_list(v)))

    @model_validator(mode="after")
    def _reasons_follow_flags(self) -> Record:
        # ``review_reasons`` and ``needs_review`` are what the flags say; JSON
        # that carries reasons but no flags keeps its reasons as unspecified
        # flags of the whole letter.  Written through __dict__: an assignment
        # would validate (and so run this) again.
        if self.review_reasons and not self.review_flags:
            self.__dict__["review_flags"] = [
                ReviewFlag(code=ReviewCode.UNSPECIFIED, message=r) for r in self.review_reasons
            ]
        if self.review_flags:
            self.__dict__["review_reasons"] = [f.message for f in self.review_flags]
            self.__dict__["needs_review"] = True
        return self

    def flag(self, code: ReviewCode, message: str, path: str | None = None) -> None:
        """Mark the record for review: ``message`` for people, ``code`` and ``path`` for code.

        A flag equal to one the record holds is kept once.
        """
        flag = ReviewFlag(code=code, path=path, message=message)
        if flag not in self.review_flags:
            self._set_flags([*self.review_flags, flag])

    def unflag(self, code: ReviewCode, path: str | None = None) -> None:
        """Withdraw the flags of ``code`` on ``path`` (a later reader settled them)."""
        self._set_flags([f for f in self.review_flags if (f.code, f.path) != (code, path)])

    def flags_of(self, code: ReviewCode) -> list[ReviewFlag]:
        return [f for f in self.review_flags if f.code is code]

    def flagged_paths(self) -> list[str]:
        """The field paths a person should check (:func:`flagged_paths`)."""
        return flagged_paths(self.review_flags)

    def _set_flags(self, flags: list[ReviewFlag]) -> None:
        # Through __dict__: the three change together, and an assignment would
        # run the validator above on a half-changed record.
        self.__dict__["review_flags"] = flags
        self.__dict__["review_reasons"] = [f.message for f in flags]
        self.__dict__["needs_review"] = bool(flags)
        self.model_fields_set.update(("review_flags", "review_reasons", "needs_review"))

    def evidence_for(self, field: str) -> Evidence | None:
        return next((e for e in self.evidence if e.field == field), None)

    def to_json(self, *, indent: int | None = None) -> str:
        return self.model_dump_json(indent=indent)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def record_json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`Record`, as checked in under ``schemas/``."""
    schema = Record.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://llm-extract/schemas/record.schema.json"
    return schema
