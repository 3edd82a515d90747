"""What the LLM is asked to return: small pydantic models, one per prompt.

Built for a small model behind grammar-constrained decoding:

- every field is required but nullable (a grammar skips optional fields that
  have defaults, so the model would never fill them);
- no regex ``pattern``s: values the model writes loosely (``"Physical
  Therapy"``, ``"PT"``, ``"10/18/16"``) are normalised in validators into the
  record's types (:class:`Category`, :class:`datetime.date` …);
- dates are asked for *as written* (a string) and parsed by
  :func:`llm_extract.normalize.parse_date`, which applies RECORD.md's two-digit
  year rule; a 1.5B model converting ``5/27/11`` to ISO itself gets it wrong;
- field names are short but say what they hold: completion tokens are the
  slowest part of a call on a CPU.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    WithJsonSchema,
    field_validator,
)

from ..models import Category, Decision, GuidelineSource, Priority, Sex
from ..normalize import clean_string, enum_token, parse_date

# Loose words a model uses for a category -> the category.
_CATEGORY_SYNONYMS = {
    "drug": Category.MEDICATION,
    "drugs": Category.MEDICATION,
    "medications": Category.MEDICATION,
    "pharmacy": Category.MEDICATION,
    "pt": Category.PHYSICAL_THERAPY,
    "physiotherapy": Category.PHYSICAL_THERAPY,
    "occupational_therapy": Category.PHYSICAL_THERAPY,
    "therapy": Category.PHYSICAL_THERAPY,
    "chiropractor": Category.CHIROPRACTIC,
    "chiropractic_care": Category.CHIROPRACTIC,
    "injections": Category.INJECTION,
    "nerve_block": Category.INJECTION,
    "radiology": Category.IMAGING,
    "mri": Category.IMAGING,
    "x_ray": Category.IMAGING,
    "diagnostic": Category.DIAGNOSTIC_TEST,
    "diagnostics": Category.DIAGNOSTIC_TEST,
    "lab": Category.DIAGNOSTIC_TEST,
    "labs": Category.DIAGNOSTIC_TEST,
    "laboratory": Category.DIAGNOSTIC_TEST,
    "test": Category.DIAGNOSTIC_TEST,
    "surgical": Category.SURGERY,
    "dme": Category.DURABLE_MEDICAL_EQUIPMENT,
    "equipment": Category.DURABLE_MEDICAL_EQUIPMENT,
    "durable_medical_equipment_dme": Category.DURABLE_MEDICAL_EQUIPMENT,
    "psychology": Category.PSYCHOLOGICAL,
    "psychiatric": Category.PSYCHOLOGICAL,
    "evaluation": Category.EVALUATION_CONSULTATION,
    "consultation": Category.EVALUATION_CONSULTATION,
    "office_visit": Category.EVALUATION_CONSULTATION,
    "evaluation_and_consultation": Category.EVALUATION_CONSULTATION,
    "home_health_care": Category.HOME_HEALTH,
    "home_care": Category.HOME_HEALTH,
    "transport": Category.TRANSPORTATION,
}


def to_category(value: Any) -> Category | None:
    """A category from the model's word for it; ``None`` when it is not one."""
    if value is None or isinstance(value, Category):
        return value
    token = enum_token(str(value))
    if not token or token in ("null", "none", "unknown"):
        return None
    try:
        return Category(token)
    except ValueError:
        return _CATEGORY_SYNONYMS.get(token)


def _category(value: Any) -> Any:
    # An unrecognised word becomes None (the hybrid then keeps the parser's
    # category) rather than a re-ask: a re-ask costs a whole call on a CPU.
    return to_category(value)


def _date(value: Any) -> Any:
    if value is None or isinstance(value, dt.date):
        return value
    text = clean_string(str(value))
    if not text or text.lower() in ("null", "none", "n/a", "unknown"):
        return None
    return parse_date(text)  # an unparseable date is no date, not an error


def _opt_str(value: Any) -> Any:
    if isinstance(value, str):
        cleaned = clean_string(value)
        return None if cleaned.lower() in ("", "null", "none", "n/a") else cleaned
    return value


def _str_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        out: list[str] = []
        for v in value:
            c = clean_string(str(v)) if v is not None else ""
            if c and c.lower() not in ("null", "none") and c not in out:
                out.append(c)
        return out
    return value


def _enum_or_none(value: Any) -> Any:
    if isinstance(value, str):
        token = enum_token(value)
        return None if token in ("", "null", "none", "unknown") else token
    return value


def _sources(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, list):
        out = []
        for v in value:
            token = enum_token(str(v))
            if token in ("mtus", "acoem", "odg", "other") and token not in out:
                out.append(token)
        return out
    return value


# A date as the letter writes it; the JSON schema says "string" so the grammar
# does not force ISO, the validator turns it into a date.
LetterDate = Annotated[
    dt.date | None,
    BeforeValidator(_date),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "null"}]}),
]
OptStr = Annotated[str | None, BeforeValidator(_opt_str)]
StrList = Annotated[list[str], BeforeValidator(_str_list)]
LLMCategory = Annotated[
    Category | None,
    BeforeValidator(_category),
]
# A category every item must have: a word that is none becomes a validation
# error (an instructor re-ask), not a silent null.
LabelCategory = Annotated[Category, BeforeValidator(lambda v: to_category(v) or v)]
SourceList = Annotated[list[GuidelineSource], BeforeValidator(_sources)]
LLMSex = Annotated[Sex | None, BeforeValidator(_enum_or_none)]


def _pick(value: Any) -> Any:
    return value.strip().strip("\"'.()").upper() if isinstance(value, str) else value


# One of two readings, by letter: a forced short choice (the grammar allows
# only "A" or "B"), never a list the model writes.
Pick = Annotated[Literal["A", "B"], BeforeValidator(_pick)]


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without titles and descriptions, with ``$ref``s inlined.

    instructor's JSON mode pastes the schema (indented) into the system
    message, so every key costs prompt tokens on each call; the prompt's
    own text and example already say what each field means.
    Nullable unions are folded (``anyOf: [{type: integer}, {type: null}]``
    becomes ``type: [integer, null]``; an enum gains ``null`` as a value):
    same meaning, and llama.cpp's schema-to-grammar converter handles both.
    """
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
            out = {
                k: walk(v) for k, v in node.items() if k not in ("title", "description", "$defs")
            }
            return _fold_nullable(out)
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out: dict[str, Any] = walk(schema)
    # instructor's TOOLS mode names the tool after the root title: keep it.
    if "title" in schema:
        out = {"title": schema["title"], **out}
    return out


def _fold_nullable(node: dict[str, Any]) -> dict[str, Any]:
    options = node.get("anyOf")
    if not isinstance(options, list) or len(options) != 2 or {"type": "null"} not in options:
        return node
    (other,) = [o for o in options if o != {"type": "null"}]
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    if "enum" in other:
        return {**rest, "enum": [*other["enum"], None]}
    if set(other) == {"type"} and isinstance(other["type"], str):
        return {**rest, "type": [other["type"], "null"]}
    return node


class AnswerModel(BaseModel):
    # Field meanings live in the prompt files (class docstrings would become
    # schema descriptions and cost prompt tokens), hence comments here.
    model_config = ConfigDict(extra="ignore")

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return compact_schema(super().model_json_schema(*args, **kwargs))


class SummaryFacts(AnswerModel):
    # Facts about the patient from the clinical case summary (the llm backend).

    age: int | None
    sex: Sex | None
    occupation: OptStr
    date_of_injury: LetterDate
    diagnoses: StrList

    _sex = field_validator("sex", mode="before")(classmethod(lambda cls, v: _enum_or_none(v)))


# --- llm: the whole record ---------------------------------------------------
class HeaderFacts(AnswerModel):
    # The header block and the reviewer's credentials.

    case_number: OptStr
    date_assigned: LetterDate
    date_of_injury: LetterDate
    decision_date: LetterDate
    ur_denial_date: LetterDate
    application_received: LetterDate
    priority: Priority | None
    specialties: StrList
    subspecialties: StrList
    licensure_states: StrList

    _prio = field_validator("priority", mode="before")(classmethod(lambda cls, v: _enum_or_none(v)))


class ItemFacts(AnswerModel):
    # Every field of one item, from its decision statement and guideline lines.

    request: str
    original_request: OptStr
    decision: Decision
    category: LLMCategory
    quantity: int | None
    frequency_per_week: int | None
    duration_weeks: int | None
    body_region: OptStr
    retrospective: bool | None
    date_of_service: LetterDate
    cpt_codes: StrList
    medication_name: OptStr
    medication_strength: OptStr
    days_supply: int | None
    claims_administrator_sources: SourceList
    maximus_sources: SourceList
    maximus_guideline: OptStr

    _dec = field_validator("decision", mode="before")(
        classmethod(lambda cls, v: enum_token(v) if isinstance(v, str) else v)
    )
    _req = field_validator("request", mode="before")(
        classmethod(lambda cls, v: clean_string(v) if isinstance(v, str) else v)
    )


# --- whole letter: an unknown layout (llm/whole_letter.py) ------------------------
# Words a model (or a letter) uses for a decision -> the decision.  "Upheld"
# means the denial stands: the request is not medically necessary.
_DECISION_WORDS = {
    "upheld": Decision.UPHELD,
    "uphold": Decision.UPHELD,
    "denied": Decision.UPHELD,
    "denial_upheld": Decision.UPHELD,
    "not_medically_necessary": Decision.UPHELD,
    "non_certified": Decision.UPHELD,
    "noncertified": Decision.UPHELD,
    "not_certified": Decision.UPHELD,
    "overturned": Decision.OVERTURNED,
    "overturn": Decision.OVERTURNED,
    "reversed": Decision.OVERTURNED,
    "approved": Decision.OVERTURNED,
    "certified": Decision.OVERTURNED,
    "medically_necessary": Decision.OVERTURNED,
    "denial_overturned": Decision.OVERTURNED,
}


def to_decision(value: Any) -> Decision | None:
    """A decision from the model's word for it; ``None`` when it is none."""
    if value is None or isinstance(value, Decision):
        return value
    return _DECISION_WORDS.get(enum_token(str(value)))


class FoundItem(AnswerModel):
    # One disputed request as the letter writes it, and its decision (null: none stated).

    request: str
    decision: Annotated[Decision | None, BeforeValidator(to_decision)]

    _req = field_validator("request", mode="before")(
        classmethod(lambda cls, v: clean_string(v) if isinstance(v, str) else v)
    )


class FoundItems(AnswerModel):
    # Every disputed request of a letter in an unknown layout (prompts/whole_items.md).

    items: list[FoundItem]
