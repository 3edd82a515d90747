"""What the hybrid may ask the model: one row per field.

Each row says, for one field the parser may be unsure of, everything the
hybrid needs to ask it and to judge the answer:

- ``path``: the record path (relative to the item for an item field:
  ``medication.name`` is ``items[i].medication.name``);
- ``key``: the answer key in the model's JSON (short, as completion tokens
  are the slow part of a call, but saying what it holds);
- ``answer``: the answer field's type, with the validators that turn the
  model's loose words into the record's types (:mod:`.schemas`);
- ``tokens``: its share of the completion budget;
- ``arbiter``: how its answer is arbitrated against the parser's reading
  (:mod:`.arbiters`, :mod:`.crosscheck`).

The hybrid asks the rows whose field the parser did not decide by an exact
rule (:func:`llm_extract.llm.hybrid.uncertain_fields`); the answer schema of
one letter is built from the rows asked (:func:`hybrid_answer_for`); the
arbitration looks each answer up by its key (:func:`row`).
``tests/test_askable.py`` ties the rows to the record's models.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import create_model

from ..field_paths import item_path
from ..models import Category
from .arbiters import (
    Arbiter,
    age_implausible,
    body_region_implausible,
    find_category,
    find_int_no_products,
    medication_implausible,
    modifier_only,
    occupation_implausible,
    quantity_implausible,
    same_diagnoses,
    same_text,
)
from .doubts import choice_key
from .schemas import AnswerModel, LetterDate, LLMCategory, LLMSex, OptStr, Pick, StrList

# The completion budget of a call: the JSON keys and short values.  A cap
# costs nothing unless generated, so a field's share is ~2x the longest
# answer seen (a diagnosis list of ICD names; a compound cream's drug names,
# "flurbiprofen 10%/dextromethorphan …", need far more than a plain value).
BASE_TOKENS = 24
TOKENS_PER_ITEM = 8
TOKENS_PER_CHOICE = 8  # "diagnoses_1": "A",
_TOKENS = 14


@dataclass(frozen=True)
class Askable:
    """One field the hybrid may ask (see the module docstring)."""

    path: str
    key: str
    level: Literal["letter", "item"]
    answer: Any
    arbiter: Arbiter
    tokens: int = _TOKENS

    def record_path(self, item: int | None = None) -> str:
        """The path in the record: ``patient.age``; ``items[2].medication.name``."""
        if self.level == "letter":
            return self.path
        if item is None:
            raise ValueError(f"{self.key}: an item field needs the item's index")
        return item_path(item, self.path)


ASKABLE: tuple[Askable, ...] = (
    Askable(
        "patient.age",
        "age",
        "letter",
        int | None,
        Arbiter("summary", age_implausible, find=find_int_no_products),
    ),
    Askable("patient.sex", "sex", "letter", LLMSex, Arbiter("summary")),
    Askable(
        "patient.occupation",
        "occupation",
        "letter",
        OptStr,
        Arbiter("letter", occupation_implausible, same_text),
        tokens=16,
    ),
    Askable("date_of_injury", "date_of_injury", "letter", LetterDate, Arbiter("summary")),
    Askable(
        "diagnoses",
        "diagnoses",
        "letter",
        StrList,
        Arbiter("summary", same=same_diagnoses, elementwise=True),
        tokens=160,
    ),
    Askable(
        "category",
        "category",
        "item",
        LLMCategory,
        Arbiter("request", keep_ungrounded=True, find=find_category),
    ),
    Askable(
        "body_region",
        "body_region",
        "item",
        OptStr,
        Arbiter("request", body_region_implausible, same_text),
        tokens=24,
    ),
    Askable(
        "medication.name",
        "medication_name",
        "item",
        OptStr,
        Arbiter(
            "request",
            medication_implausible,
            same_text,
            immaterial=modifier_only,
            only_for=Category.MEDICATION,
        ),
        tokens=48,
    ),
    Askable(
        "quantity",
        "quantity",
        "item",
        int | None,
        Arbiter("request", quantity_implausible, contested_when_one_is_missing=True),
    ),
)

_BY_KEY = {r.key: r for r in ASKABLE}
_BY_PATH = {(r.level, r.path): r for r in ASKABLE}


def row(key: str) -> Askable:
    """The row of answer key ``key``."""
    return _BY_KEY[key]


def rows(level: Literal["letter", "item"]) -> tuple[Askable, ...]:
    """The rows of one level, in the table's order (the order keys are asked in)."""
    return tuple(r for r in ASKABLE if r.level == level)


def row_for_path(level: Literal["letter", "item"], path: str) -> Askable | None:
    """The row of a record path (item paths relative to the item); None: not askable."""
    return _BY_PATH.get((level, path))


def item_key(index: int) -> str:
    """The answer key of the item on decision line ``index + 1``."""
    return f"item_{index + 1}"


def max_tokens(
    letter_fields: tuple[str, ...],
    item_fields: tuple[tuple[int, tuple[str, ...]], ...],
    choices: int = 0,
) -> int:
    """The completion budget of one call asking these keys (and ``choices`` picks)."""
    return (
        BASE_TOKENS
        + sum(row(k).tokens for k in letter_fields)
        + TOKENS_PER_CHOICE * choices
        + sum(TOKENS_PER_ITEM + sum(row(k).tokens for k in keys) for _, keys in item_fields)
    )


@functools.lru_cache(maxsize=256)
def hybrid_answer_for(
    letter_fields: tuple[str, ...],
    item_fields: tuple[tuple[int, tuple[str, ...]], ...],
    choices: int = 0,
) -> type[AnswerModel]:
    """The answer model of one letter: only the fields the parser is not certain of.

    ``letter_fields`` are keys of letter rows; ``item_fields`` pairs an item's
    index with keys of item rows.  Every field is required but nullable (a
    grammar skips optional fields); an item becomes an object under
    ``item_<line number>`` holding only its own uncertain fields, so the
    model writes nothing the parser already decided.  The class is named
    ``HybridAnswer`` (TOOLS mode names the tool after it).  ``choices``: how
    many questions about the parser's diagnosis list, each answered by a
    :data:`~.schemas.Pick` under ``diagnoses_<n>`` (:mod:`.doubts`).
    """
    fields: dict[str, Any] = {key: (row(key).answer, ...) for key in letter_fields}
    for n in range(1, choices + 1):
        fields[choice_key(n)] = (Pick, ...)
    for index, keys in item_fields:
        item_fields_of: dict[str, Any] = {key: (row(key).answer, ...) for key in keys}
        item_model = create_model(f"Item{index + 1}", __base__=AnswerModel, **item_fields_of)
        fields[item_key(index)] = (item_model, ...)
    model: type[AnswerModel] = create_model("HybridAnswer", __base__=AnswerModel, **fields)
    return model
