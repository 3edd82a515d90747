"""Every list that must name every record field is tied to the models.

The field list lives in one place, :mod:`llm_extract.fields` (derived from
the pydantic models).  The scorer, the gold digest and the review forms
derive from it; the places that cannot (the batch export's columns, the LLM
answer schemas, the ``llm`` backend's mapping of answers to a record, the
parser's per-field evidence) are checked here, so a field added to the models
and forgotten in one of them fails a test naming the field and the place.
"""

from __future__ import annotations

import datetime as dt
import re
import types
from enum import Enum
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import pytest
from conftest import corpus_path
from pydantic import BaseModel

from llm_extract import fields
from llm_extract.evaluation import scoring
from llm_extract.field_paths import get_path
from llm_extract.models import Item


def _missing(paths: tuple[str, ...], names: set[str]) -> list[str]:
    """The paths that ``names`` does not name under any of their spellings."""
    return [p for p in paths if not fields.spellings(p) & names]


def test_fields_walk_the_models_in_order() -> None:
    assert fields.letter_fields()[:2] == ("case_number", "date_assigned")
    assert "reviewer.licensure_states" in fields.letter_fields()
    assert "patient.occupation" in fields.letter_fields()
    assert "medication.days_supply" in fields.item_fields()
    assert "guideline_sources.maximus" in fields.item_fields()
    extras = {*fields.LETTER_EXTRAS, *fields.ITEM_EXTRAS}
    assert not extras & {p.split(".")[0] for p in (*fields.letter_fields(), *fields.item_fields())}
    assert (len(fields.letter_fields()), len(fields.item_fields())) == (14, 17)


def test_scorer_scores_every_field() -> None:
    assert fields.letter_fields() + fields.item_fields() == scoring.FIELD_NAMES
    assert {f.name for f in scoring.LETTER_FIELDS} == set(fields.letter_fields())
    kinds = {f.name: f.kind for f in scoring.FIELDS}
    assert kinds["diagnoses"] == scoring.DIAGNOSES
    assert kinds["cpt_codes"] == kinds["reviewer.specialties"] == scoring.SET_F1
    assert kinds["patient.age"] == kinds["medication.name"] == scoring.EXACT


def test_export_columns_name_every_field() -> None:
    from llm_extract.batch import export

    letter = _missing(fields.letter_fields(), set(export.LETTER_COLUMNS))
    item = _missing(fields.item_fields(), set(export.ITEM_COLUMNS))
    assert not letter, f"batch/export.py LETTER_COLUMNS lacks {letter}"
    assert not item, f"batch/export.py ITEM_COLUMNS lacks {item}"


def _llm_answer_models() -> tuple[set[str], type[BaseModel]]:
    """The ``llm`` backend's answer models: (their field names, the per-item one).

    Found as the llm/schemas.py models that llm/backend.py imports, so the
    check follows whatever answer models the backend ends up using.
    """
    from llm_extract.llm import backend, schemas

    models = [
        v
        for v in vars(backend).values()
        if isinstance(v, type) and issubclass(v, BaseModel) and v.__module__ == schemas.__name__
    ]
    (item_model,) = [m for m in models if "request" in m.model_fields]
    return {n for m in models for n in m.model_fields}, item_model


def test_llm_answer_schemas_name_every_field() -> None:
    # The ``llm`` backend asks the model for every field of the record.
    names, item_model = _llm_answer_models()
    letter = _missing(fields.letter_fields(), names)
    item = _missing(fields.item_fields(), set(item_model.model_fields))
    assert not letter, f"the llm backend's answer models (llm/schemas.py) lack {letter}"
    assert not item, f"llm/schemas.py {item_model.__name__} lacks {item}"


def _sentinel(path: str, annotation: Any, n: int) -> Any:
    """A distinctive valid value for one leaf field (never its default)."""
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if get_origin(annotation) is list:
        return [_sentinel(path, get_args(annotation)[0], n)]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        members = list(annotation)
        if path == "category":
            return annotation("medication")  # medication is kept only for category medication
        return members[n % len(members)]
    if annotation is bool:
        return True
    if annotation is int:
        return 100 + n
    if annotation is dt.date:
        return dt.date(2001, 1, 1) + dt.timedelta(days=n)
    assert annotation is str, (path, annotation)
    return f"value {n} of {path}"


def test_llm_backend_maps_every_item_field() -> None:
    # An item answer with every field set must reach every item field.
    from llm_extract.llm import backend

    _, item_model = _llm_answer_models()
    facts_names = set(item_model.model_fields)
    values: dict[str, Any] = {}
    answer: dict[str, Any] = {}
    for n, f in enumerate(f for f in fields.spec_fields() if f.level == "item"):
        values[f.path] = _sentinel(f.path, f.annotation, n)
        (name,) = fields.spellings(f.path) & facts_names
        answer[name] = values[f.path]
    span = types.SimpleNamespace(start=0, end=1)
    block = types.SimpleNamespace(decision_line=span)
    item = backend._item(item_model.model_construct(**answer), block)  # type: ignore[arg-type]
    lost = [p for p, v in values.items() if get_path(item, p) != v]
    assert not lost, f"llm/backend.py _item drops {lost}"
    assert isinstance(item, Item)


class _SentinelClient:
    """Answers every request with the same distinctive value per record field."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def complete(self, model: type[BaseModel], messages: Any, **kw: Any) -> tuple[Any, Any]:
        from llm_extract.models import Usage

        answer: dict[str, Any] = {}
        for n, (name, info) in enumerate(model.model_fields.items()):
            paths = [p for p in self.values if name in fields.spellings(p)]
            answer[name] = self.values[paths[0]] if paths else _sentinel(name, info.annotation, n)
        return model.model_construct(**answer), Usage()


def test_llm_backend_maps_every_letter_field() -> None:
    # Every letter field the answer models carry must reach the record.
    from llm_extract.config import load_config
    from llm_extract.llm.backend import LLMBackend
    from llm_extract.loading import load_letter

    values = {
        f.path: _sentinel(f.path, f.annotation, n)
        for n, f in enumerate(fields.spec_fields())
        if f.level == "letter"
    }
    llm = LLMBackend(load_config(backend="llm", base_url="http://127.0.0.1:9/v1", model="m"))
    llm._llm = types.SimpleNamespace(client=_SentinelClient(values), model="m")  # type: ignore[assignment]
    record = llm.extract(load_letter(Path(__file__).parent / "letters" / "rules_seed_layout.txt"))
    lost = [p for p, v in values.items() if get_path(record, p) != v]
    assert not lost, f"llm/backend.py drops {lost}"
    assert record.items, "the letter's items were answered too"


def test_rules_evidence_names_every_field() -> None:
    # The parser's readings give every value of its record its evidence.
    from llm_extract import extract

    record = extract(Path(__file__).parent / "letters" / "rules_pdf_layout.txt", backend="rules")
    have = {e.field for e in record.evidence}
    paths = [*fields.letter_fields()] + [
        f"items[{i}].{p}" for i in range(len(record.items)) for p in fields.item_fields()
    ]
    assert record.items
    lost = [p for p in paths if p not in have]
    assert not lost, f"the parser gives no evidence for {lost}"


def _spec_rows(text: str, heading: str) -> list[str]:
    section = text.split(heading, 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `([a-z_.]+)` \|", section, flags=re.M)


@pytest.mark.corpus
def test_fields_are_record_md() -> None:
    # RECORD.md lives beside the corpus (../shared/spec): the same tier.
    spec = Path(corpus_path()).parent / "spec" / "RECORD.md"
    if not spec.is_file():
        pytest.skip(f"RECORD.md not found at {spec}")
    text = spec.read_text(encoding="utf-8")
    letter = [r for r in _spec_rows(text, "## Letter level") if r not in ("letter_id", "items")]
    item = _spec_rows(text, "## Item level")
    assert letter == list(fields.letter_fields())
    # RECORD.md describes ``medication`` as one object row with its sub-fields.
    assert item == list(
        dict.fromkeys(
            p.split(".")[0] if p.startswith("medication.") else p for p in fields.item_fields()
        )
    )
