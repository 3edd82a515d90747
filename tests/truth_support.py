"""Model answers derived from a letter, for the fake endpoint: agreeing, perturbed, ill-formed, none.

The one-truth property test (tests/test_consistency.py) runs the ``hybrid``
and ``llm`` backends against the fake OpenAI-compatible endpoint.  A fixed
or minimal answer would exercise one branch of the arbitration; these answers
are made from the parser's own record of the letter, so that each field meets,
by a seeded choice per letter and field, one of:

- ``same``: the parser's reading (the readers agree);
- ``other``: a different reading the letter holds (another value of the
  record: another date, another number of the request, one diagnosis fewer,
  the request as a drug name) -- two grounded readings;
- ``ill``: a value without its field's shape (RECORD.md), grounded where one
  can be (the request text as a drug name, "3 months coverage of …");
- ``invented``: a value the letter does not hold (ungrounded);
- ``none``: no answer (null, []).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

from llm_extract.devtools.fake_schema import minimal_instance
from llm_extract.field_paths import get_path
from llm_extract.models import Category, Record
from llm_extract.normalize import jsonable
from llm_extract.rules.readings import ParsedLetter

MODES = ("same", "other", "ill", "invented", "none")
# Header/summary answer keys -> record paths; item answer keys -> item paths.
LETTER_KEYS = {
    "case_number": "case_number",
    "date_assigned": "date_assigned",
    "decision_date": "decision_date",
    "ur_denial_date": "ur_denial_date",
    "application_received": "application_received",
    "priority": "priority",
    "date_of_injury": "date_of_injury",
    "specialties": "reviewer.specialties",
    "subspecialties": "reviewer.subspecialties",
    "licensure_states": "reviewer.licensure_states",
    "age": "patient.age",
    "sex": "patient.sex",
    "occupation": "patient.occupation",
    "diagnoses": "diagnoses",
}
ITEM_KEYS = {
    "request": "request",
    "original_request": "original_request",
    "decision": "decision",
    "category": "category",
    "quantity": "quantity",
    "frequency_per_week": "frequency_per_week",
    "duration_weeks": "duration_weeks",
    "body_region": "body_region",
    "retrospective": "retrospective",
    "date_of_service": "date_of_service",
    "cpt_codes": "cpt_codes",
    "medication_name": "medication.name",
    "medication_strength": "medication.strength",
    "days_supply": "medication.days_supply",
    "claims_administrator_sources": "guideline_sources.claims_administrator",
    "maximus_sources": "guideline_sources.maximus",
    "maximus_guideline": "maximus_guideline",
}
_ILL: dict[str, Any] = {
    "case_number": "CM1-23",
    "specialties": ["Board certified 1999 by the American Board"],
    "licensure_states": ["Calif"],
    "age": 0,
    "occupation": "injured worker",
    "quantity": 0,
    "frequency_per_week": 9,
    "duration_weeks": 500,
    "days_supply": 900,
    "cpt_codes": ["2055"],
    "medication_strength": "one tab",
    "body_region": "knee brace",
}
_INVENTED: dict[str, Any] = {
    "case_number": "CM99-9999999",
    "age": 97,
    "occupation": "astronaut",
    "diagnoses": ["broken heart"],
    "body_region": "left elbow",
    "medication_name": "Unobtainium",
    "quantity": 977,
    "date_of_injury": "1961-04-12",
    "specialties": ["Aerospace Medicine"],
}


def _letter_numbers(text: str) -> list[int]:
    return [int(t) for t in text.replace("#", " ").split() if t.isdigit() and len(t) < 4]


def _other(
    key: str, value: Any, record: Record, item: int | None, rng: random.Random, alt: list[str]
) -> Any:
    """A different reading the letter holds, where one can be made."""
    if key == "diagnoses" and alt:
        return alt  # the parser's own other reading of a list it doubts
    if isinstance(value, bool):
        return not value
    if isinstance(value, dt.date):
        dates = [d for d in (record.decision_date, record.date_assigned, record.ur_denial_date)]
        dates = [d for d in dates if d is not None and d != value]
        return dates[0].isoformat() if dates else None
    if isinstance(value, list) and value:
        return value[:-1] if len(value) > 1 else [*value, *record.diagnoses[:1]]
    if key == "category":
        return rng.choice([c.value for c in Category if c != value])
    if key == "sex":
        return "female" if value and value.value == "male" else "male"
    if isinstance(value, int) and item is not None:
        nums = [n for n in _letter_numbers(record.items[item].request or "") if n != value]
        return nums[0] if nums else value + 1
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str) and item is not None and key in ("medication_name", "body_region"):
        return record.items[item].request  # grounded, but the whole request
    if isinstance(value, str):
        words = value.split()
        return " ".join(words[1:]) if len(words) > 1 else None
    return None


def _ill(key: str, value: Any, record: Record, item: int | None) -> Any:
    """A value without its field's shape; grounded where the letter holds one."""
    if key == "medication_name":
        req = record.items[item or 0].request or ""
        name = value or req
        return f"3 months coverage of {name}" if len(req) < 10 else req
    if key == "diagnoses":
        return [f"diagnosed with {d}" for d in (value or ["lumbar strain"])]
    return _ILL.get(key, _INVENTED.get(key))


def answer_value(
    key: str, parsed: ParsedLetter, item: int | None, mode: str, rng: random.Random
) -> Any:
    """The answer for ``key`` (of item ``item``) under ``mode``, as JSON."""
    record = parsed.record
    path = ITEM_KEYS[key] if item is not None else LETTER_KEYS[key]
    value = get_path(record.items[item] if item is not None else record, path)
    if mode == "same":
        out = value
    elif mode == "other":
        alt = [list(d.alternative) for d in parsed.doubts if d.alternative]
        out = _other(key, value, record, item, rng, alt[0] if alt else [])
    elif mode == "ill":
        out = _ill(key, value, record, item)
    elif mode == "invented":
        out = _INVENTED.get(key)
    else:
        out = None
    if key in ("request", "decision") and out is None:
        out = value  # the item's own statement: asked of every item, never null
    return jsonable(out)


def _choose(seed: str, key: str, item: int | None) -> tuple[str, random.Random]:
    rng = random.Random(f"{seed}:{key}:{item}")
    return rng.choices(MODES, weights=(4, 2, 2, 1, 1))[0], rng


def _object(
    schema: dict[str, Any], root: dict[str, Any], parsed: ParsedLetter, item: int | None, seed: str
) -> dict[str, Any]:
    record = parsed.record
    keys = ITEM_KEYS if item is not None else LETTER_KEYS
    out = minimal_instance(schema, root)
    for key, sub in schema.get("properties", {}).items():
        if key.startswith("item_") and key[5:].isdigit():
            index = int(key[5:]) - 1
            target = sub
            if "$ref" in sub:
                target = root
                for part in sub["$ref"].removeprefix("#/").split("/"):
                    target = target[part]
            if index < len(record.items):
                out[key] = _object(target, root, parsed, index, seed)
        elif key in keys and (item is None or item < len(record.items)):
            mode, rng = _choose(seed, key, item)
            out[key] = answer_value(key, parsed, item, mode, rng)
        elif key == "items" and item is None:
            out[key] = [
                {"request": it.request, "decision": it.decision.value} for it in record.items
            ]
    return out


def answers_for(parsed: ParsedLetter, seed: str) -> Callable[[dict[str, Any]], Any]:
    """A fake endpoint's ``build`` for one letter: each request's schema answered from
    the parser's reading of it (``parsed``); ``seed`` picks each field's mode.

    The ``llm`` backend asks one ``ItemFacts`` per item, in order; they are
    counted here.
    """
    items = iter(range(10**6))

    def build(schema: dict[str, Any]) -> Any:
        if schema.get("title") == "ItemFacts":
            return _object(schema, schema, parsed, next(items), seed)
        return _object(schema, schema, parsed, None, seed)

    return build
