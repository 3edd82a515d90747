"""Prompts, LLM-facing schemas and excerpts (no model needed); arbitration: test_llm_arbitration.py."""

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
from llm_extract.llm import askable, schemas
from llm_extract.llm.excerpts import grounded, summary_excerpt
from llm_extract.llm.hybrid import decision_lines
from llm_extract.llm.prompting import load_prompt, prompt_version
from llm_extract.loading import load_letter
from llm_extract.models import Category, Sex

PROMPTS = ("hybrid", "summary", "header", "item", "whole_items")
# Editing a prompt file without bumping prompts/VERSION fails here: records
# carry the version, so two different prompts must never share one.
PROMPT_DIGESTS = {
    "1.1": "fa7b1f48786284f5",
    "1.2": "342da153eea181bf",
    "2.0": "4f1862b5153c4506",
    "2.1": "1199c9fbb64f0925",  # + whole_items.md (unknown layouts, llm/whole_letter.py)
    "2.2": "f0923ced5faa157f",  # hybrid.md: the category line is RECORD.md's table
    "2.3": "90279c127ed58541",  # hybrid.md: diagnoses_N picks between the parser's readings
}
ANSWER_MODELS = (
    askable.hybrid_answer_for(("age", "diagnoses"), ((0, ("category", "quantity")),)),
    askable.hybrid_answer_for(
        tuple(r.key for r in askable.rows("letter")),
        tuple((i, tuple(r.key for r in askable.rows("item"))) for i in range(3)),
    ),
    schemas.SummaryFacts,
    schemas.HeaderFacts,
    schemas.ItemFacts,
    schemas.FoundItems,
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
    a = prompt.messages(**{k: "letter A" for k in ("summary", "choices", "lines", "text")})
    b = prompt.messages(**{k: "letter B" for k in ("summary", "choices", "lines", "text")})
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


def test_hybrid_answer_holds_only_the_fields_asked() -> None:
    model = askable.hybrid_answer_for(("diagnoses",), ((1, ("quantity",)),))
    assert model is askable.hybrid_answer_for(("diagnoses",), ((1, ("quantity",)),))  # cached
    assert model.__name__ == "HybridAnswer"  # TOOLS mode names the tool after it
    schema = model.model_json_schema()
    assert set(schema["properties"]) == {"diagnoses", "item_2"}
    assert set(schema["properties"]["item_2"]["properties"]) == {"quantity"}
    ok = model.model_validate({"diagnoses": ["a", "a", None], "item_2": {"quantity": "60"}})
    assert ok.diagnoses == ["a"] and ok.item_2.quantity == 60  # type: ignore[attr-defined]
    with pytest.raises(ValidationError):
        model.model_validate({"diagnoses": []})  # every key asked is required


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
    item = askable.hybrid_answer_for((), ((0, ("category", "body_region")),)).model_validate(
        {"item_1": {"category": "Imaging", "body_region": "none"}}
    )
    assert item.item_1.category is Category.IMAGING  # type: ignore[attr-defined]
    assert item.item_1.body_region is None  # type: ignore[attr-defined]
    assert schemas.to_category("astrology") is None  # an unknown word: no category, no re-ask
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


def test_summary_excerpt_holds_only_the_sentences_of_the_fields_asked() -> None:
    summary = (
        "The injured worker is a 60 year old male, who sustained an industrial injury on "
        "11-01-2016. The injured worker is undergoing treatment for neck strain."
    )
    got = summary_excerpt(summary, fields=frozenset({"diagnoses"}))
    assert "neck strain" in got and "60 year old" not in got


def test_decision_lines_number_the_letters_own_statements() -> None:
    letter = load_letter(SYNTHETIC / "injected_summary.txt")
    seg = segment_letter(letter)
    assert decision_lines(letter, seg).splitlines() == [
        "1. Tramadol 50mg #60: Upheld",
        "2. MRI of the left shoulder: Upheld",
        "3. Lumbar support brace: Overturned",
    ]
    # Only the lines asked, under their own numbers.
    assert decision_lines(letter, seg, {2}) == "3. Lumbar support brace: Overturned"
