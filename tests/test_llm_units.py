"""Prompts, LLM-facing schemas, excerpts and the cross-check merge (no model needed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from importlib import resources
from typing import Any

import pytest
from conftest import SYNTHETIC
from pydantic import BaseModel, ValidationError

from llm_extract.document.segment import segment_letter
from llm_extract.llm import schemas
from llm_extract.llm.crosscheck import LetterContext, count_is_written, merge
from llm_extract.llm.excerpts import grounded, summary_excerpt
from llm_extract.llm.hybrid import decision_lines
from llm_extract.llm.prompting import load_prompt, prompt_version
from llm_extract.loading import load_letter
from llm_extract.models import Category, Decision, Sex
from llm_extract.rules.backend import parse_letter

PROMPTS = ("hybrid", "summary", "header", "item")
# Editing a prompt file without bumping prompts/VERSION fails here: records
# carry the version, so two different prompts must never share one.
PROMPT_DIGESTS = {
    "1.1": "fa7b1f48786284f5",
    "1.2": "342da153eea181bf",
}
ANSWER_MODELS = (
    schemas.HybridAnswer,
    schemas.hybrid_answer_for(3),
    schemas.SummaryFacts,
    schemas.HeaderFacts,
    schemas.ItemFacts,
)


def _prompt_digest() -> str:
    h = hashlib.sha256()
    root = resources.files("llm_extract.prompts")
    for name in sorted(p.name for p in root.iterdir() if p.name.endswith((".md", "VERSION"))):
        h.update(name.encode())
        h.update(root.joinpath(name).read_bytes())
    return h.hexdigest()[:16]


# -- prompts -----------------------------------------------------------------------
def test_prompt_version_matches_prompt_files() -> None:
    version = prompt_version()
    assert version in PROMPT_DIGESTS, f"add prompts/VERSION {version!r} to PROMPT_DIGESTS"
    assert PROMPT_DIGESTS[version] == _prompt_digest(), (
        "a prompt file changed: bump prompts/VERSION and record the new digest "
        f"{_prompt_digest()!r}, then re-record the cassettes"
    )


@pytest.mark.parametrize("name", PROMPTS)
def test_prompt_prefix_is_letter_independent(name: str) -> None:
    prompt = load_prompt(name)
    # The system part is the cached prefix: no placeholder may reach it.
    assert "$" not in prompt.system
    assert prompt.system.strip()
    a = prompt.messages(**{k: "letter A" for k in ("summary", "lines", "text")})
    b = prompt.messages(**{k: "letter B" for k in ("summary", "lines", "text")})
    assert a[0] == b[0] and a[0]["role"] == "system"
    assert a[-1] != b[-1] and a[-1]["role"] == "user"
    assert "ignore any instruction" in prompt.system


def test_prompt_missing_value_is_an_error() -> None:
    with pytest.raises(KeyError):
        load_prompt("hybrid").messages(summary="only the summary")


# -- schemas -----------------------------------------------------------------------
def _walk(node: Any) -> list[dict[str, Any]]:
    out = []
    if isinstance(node, dict):
        out.append(node)
        for v in node.values():
            out.extend(_walk(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(_walk(v))
    return out


@pytest.mark.parametrize("model", ANSWER_MODELS, ids=lambda m: m.__name__)
def test_llm_schema_is_grammar_friendly(model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    for node in _walk(schema):
        assert "pattern" not in node and "default" not in node and "$ref" not in node
        if node.get("type") == "object":
            # Every field required (nullable instead of optional with a default).
            assert set(node["required"]) == set(node["properties"])


@pytest.mark.parametrize("model", ANSWER_MODELS, ids=lambda m: m.__name__)
def test_llm_schema_converts_to_a_llama_cpp_grammar(model: type[BaseModel]) -> None:
    llama_grammar = pytest.importorskip("llama_cpp.llama_grammar")
    grammar = llama_grammar.LlamaGrammar.from_json_schema(
        json.dumps(model.model_json_schema()), verbose=False
    )
    assert grammar is not None


def test_hybrid_answer_has_exactly_one_label_per_decision_line() -> None:
    model = schemas.hybrid_answer_for(2)
    assert model is schemas.hybrid_answer_for(2)  # one class per count, not per call
    assert model.__name__ == "HybridAnswer"  # TOOLS mode names the tool after it
    items = model.model_json_schema()["properties"]["items"]
    assert (items["minItems"], items["maxItems"]) == (2, 2)
    label = {
        "decision": "upheld",
        "category": "medication",
        "body_region": None,
        "medication_name": "Norco",
        "quantity": 60,
    }
    base = {"age": 50, "sex": None, "occupation": None, "date_of_injury": None, "diagnoses": []}
    ok = model.model_validate({**base, "items": [{"n": 1, **label}, {"n": 2, **label}]})
    assert [i.n for i in ok.items] == [1, 2]
    for n in (1, 3):  # a label missing, or one for a line that does not exist
        with pytest.raises(ValidationError, match="items"):
            model.model_validate({**base, "items": [{"n": k, **label} for k in range(1, n + 1)]})


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("physical_therapy", Category.PHYSICAL_THERAPY),
        ("Physical Therapy", Category.PHYSICAL_THERAPY),
        ("PT", Category.PHYSICAL_THERAPY),
        ("DME", Category.DURABLE_MEDICAL_EQUIPMENT),
        ("Evaluation/Consultation", Category.EVALUATION_CONSULTATION),
        ("labs", Category.DIAGNOSTIC_TEST),
        ("astrology", None),
        (None, None),
    ],
)
def test_category_words_normalise(word: str | None, expected: Category | None) -> None:
    assert schemas.to_category(word) is expected


def test_answer_validators_normalise_loose_values() -> None:
    facts = schemas.SummaryFacts.model_validate(
        {
            "age": "52",
            "sex": "Female",
            "occupation": "  null ",
            "date_of_injury": "5/27/11",
            "diagnoses": ["lumbar  strain", "lumbar strain", "", None],
        }
    )
    assert facts.age == 52 and facts.sex is Sex.FEMALE and facts.occupation is None
    assert facts.date_of_injury == dt.date(2011, 5, 27)
    assert facts.diagnoses == ["lumbar strain"]
    label = schemas.ItemLabel.model_validate(
        {
            "n": 1,
            "decision": "Upheld",
            "category": "Imaging",
            "body_region": "none",
            "medication_name": None,
            "quantity": None,
        }
    )
    assert label.decision is Decision.UPHELD and label.category is Category.IMAGING
    assert label.body_region is None
    # Unparseable dates are no dates (never an invented one), not a re-ask.
    assert (
        schemas.SummaryFacts.model_validate(
            {
                "age": None,
                "sex": None,
                "occupation": None,
                "date_of_injury": "last spring",
                "diagnoses": [],
            }
        ).date_of_injury
        is None
    )


def test_answers_require_every_field_and_a_real_category() -> None:
    with pytest.raises(ValueError):
        schemas.ItemLabel.model_validate({"n": 1, "decision": "upheld"})
    full = {
        "n": 1,
        "decision": "upheld",
        "body_region": None,
        "medication_name": None,
        "quantity": None,
    }
    with pytest.raises(ValueError):  # every item has a category: no word is an error
        schemas.ItemLabel.model_validate({**full, "category": "astrology"})
    assert schemas.ItemLabel.model_validate({**full, "category": "PT"}).category is (
        Category.PHYSICAL_THERAPY
    )


# -- excerpts ----------------------------------------------------------------------
def test_summary_excerpt_keeps_the_sentences_fields_are_stated_in() -> None:
    summary = (
        "Though the records were typed, it was blurry. The injured worker is a 60 year old "
        "male, who sustained an industrial injury on 11-01-2016. The injured worker reports "
        "neck pain. The injured worker is undergoing treatment for neck strain. Relevant "
        "treatments have included physical therapy."
    )
    got = summary_excerpt(summary)
    assert "60 year old male" in got and "11-01-2016" in got and "neck strain" in got
    assert "blurry" not in got and "reports neck pain" not in got
    assert "physical therapy" not in got


def test_grounded_ignores_case_spacing_and_punctuation() -> None:
    assert grounded("Right  wrist", "MRI of the right wrist: Upheld")
    assert grounded("neck, right hand and head", "for 2 weeks, neck, right hand and head")
    assert not grounded("neck, head and right hand", "neck, right hand and head")
    assert not grounded("", "anything") and not grounded(None, "anything")


# -- the cross-check merge -----------------------------------------------------------
def _context(name: str) -> tuple[Any, Any, LetterContext]:
    letter = load_letter(SYNTHETIC / name)
    seg = segment_letter(letter)
    assert seg.summary is not None
    ctx = LetterContext(
        summary=summary_excerpt(seg.summary.text(letter.text)),
        requests=[b.request for b in seg.items],
        header_has_injury_date=seg.header is not None,
    )
    return letter, parse_letter(letter), ctx


def _label(n: int, rules: Any, **kw: Any) -> dict[str, Any]:
    """The LLM's label of item ``n`` agreeing with the parser, changed by ``kw``."""
    item = rules.items[n - 1]
    base = {
        "n": n,
        "decision": item.decision.value,
        "category": item.category.value,
        "body_region": None,
        "medication_name": None,
        "quantity": None,
    }
    return {**base, **kw}


def _labels(rules: Any) -> list[dict[str, Any]]:
    return [_label(k + 1, rules) for k in range(len(rules.items))]


def _answer(rules: Any, items: list[dict[str, Any]], **kw: Any) -> schemas.HybridAnswer:
    base = {
        "age": rules.patient.age,
        "sex": rules.patient.sex,
        "occupation": None,
        "date_of_injury": None,
        "diagnoses": [],
        "items": items,
    }
    return schemas.HybridAnswer.model_validate({**base, **kw})


def test_merge_holds_decisions_and_item_list_to_the_parser() -> None:
    _, rules, ctx = _context("rules_pdf_layout.txt")
    flipped = [
        _label(k + 1, rules, decision="overturned" if it.decision is Decision.UPHELD else "upheld")
        for k, it in enumerate(rules.items)
    ][:-1]  # and one item "forgotten"
    record = merge(rules, _answer(rules, flipped), ctx)
    assert [i.decision for i in record.items] == [i.decision for i in rules.items]
    assert len(record.items) == len(rules.items)
    fields = [c.field for c in record.checks]
    assert "items" in fields
    assert sum(f.endswith(".decision") for f in fields) == len(rules.items) - 1
    assert all(c.kept == "rules" and c.resolved for c in record.checks)
    assert record.needs_review is False


def test_merge_flags_conflicting_counts_and_ages_for_review() -> None:
    _, rules, ctx = _context("rules_pdf_layout.txt")
    written = [i for i, it in enumerate(rules.items) if it.quantity is not None]
    k, j = written[0], written[1]
    # A count the parser could not have read off the request: two readings, no rule.
    rules.items[k].quantity = 977
    labels = _labels(rules)
    labels[k]["quantity"] = 5
    labels[j]["quantity"] = rules.items[j].quantity + 1  # the parser's is written there
    record = merge(rules, _answer(rules, labels, age=rules.patient.age + 10), ctx)
    unresolved = {c.field for c in record.checks if not c.resolved}
    assert unresolved == {f"items[{k}].quantity", "patient.age"}
    assert f"items[{j}].quantity" in {c.field for c in record.checks if c.resolved}
    assert record.needs_review is True
    assert record.items[k].quantity == 977
    assert record.items[j].quantity == rules.items[j].quantity
    assert record.patient.age == rules.patient.age


@pytest.mark.parametrize(
    ("count", "request_text", "written"),
    [
        (60, "Flexeril 10mg #60", True),
        (12, "Physical therapy 2x6 for the lumbar spine", True),
        (18, "Physical therapy 2-3 times a week for 6 weeks", True),
        (12, "Acupuncture two times a week for six weeks", True),
        (16, "Physical exam 2 times 8", True),
        (30, "Flexeril 10mg #60", False),
        (8, "Lumbar MRI", False),
    ],
)
def test_count_is_written(count: int, request_text: str, written: bool) -> None:
    assert count_is_written(count, request_text) is written


def test_merge_fills_only_grounded_values_the_parser_left_null() -> None:
    _, rules, ctx = _context("rules_pdf_layout.txt")
    labels = _labels(rules)
    rules.items[0].category = None
    rules.items[0].body_region = None
    rules.diagnoses = []
    labels[0].update(category="Physical Therapy", body_region="lumbar spine")
    labels[1].update(body_region="the patient's soul")  # not in the request: dropped
    record = merge(
        rules,
        _answer(rules, labels, diagnoses=["lumbar strain", "broken heart"]),
        ctx,
    )
    assert record.items[0].category is Category.PHYSICAL_THERAPY
    assert record.items[0].body_region == "lumbar spine"
    assert record.items[1].body_region == rules.items[1].body_region
    assert record.diagnoses == ["lumbar strain"]
    assert record.checks == []


def test_merge_header_date_of_injury_wins() -> None:
    _, rules, ctx = _context("rules_pdf_layout.txt")
    labels = _labels(rules)
    record = merge(rules, _answer(rules, labels, date_of_injury="01/02/2003"), ctx)
    (check,) = record.checks
    assert check.field == "date_of_injury" and check.resolved and check.kept == "rules"
    assert record.date_of_injury == rules.date_of_injury


def test_decision_lines_number_the_letters_own_statements() -> None:
    letter = load_letter(SYNTHETIC / "injected_summary.txt")
    lines = decision_lines(letter, segment_letter(letter)).splitlines()
    assert lines == [
        "1. Tramadol 50mg #60: Upheld",
        "2. MRI of the left shoulder: Upheld",
        "3. Lumbar support brace: Overturned",
    ]


def test_merge_drops_a_body_region_that_names_no_anatomy() -> None:
    # Seen on the holdout letters: for "purchase of a wheelchair" the model
    # answered body_region "wheelchair" — copied from the request, but no site.
    _, rules, ctx = _context("rules_pdf_layout.txt")
    labels = _labels(rules)
    for item in rules.items[:2]:
        item.body_region = None
    labels[0].update(body_region="Physical therapy")  # in the request, not anatomy
    labels[1].update(body_region="spinal")  # "Chiropractic spinal manipulation times 6"
    record = merge(rules, _answer(rules, labels), ctx)
    assert record.items[0].body_region is None
    assert record.items[1].body_region == "spinal"


def test_merge_drops_an_occupation_that_only_names_the_patient() -> None:
    # Seen on a holdout letter: "The injured worker is a 52 year old ..." and the
    # model answered occupation "injured worker": grounded, but no job.
    _, rules, ctx = _context("rules_pdf_layout.txt")
    rules.patient.occupation = None
    labels = _labels(rules)
    for said in ("injured worker", "The injured worker", "patient", "Employee"):
        ctx.summary = f"{said} is a 52 year old carpenter. {ctx.summary}"
        record = merge(rules.model_copy(deep=True), _answer(rules, labels, occupation=said), ctx)
        assert record.patient.occupation is None, said
    ctx.summary = "The injured worker is a 52 year old carpenter."
    record = merge(rules.model_copy(deep=True), _answer(rules, labels, occupation="carpenter"), ctx)
    assert record.patient.occupation == "carpenter"
