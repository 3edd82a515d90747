"""One truth per value: on every corpus letter and every backend, a record's values,
evidence and checks agree (llm_extract/consistency.py).

``rules`` runs as it is; ``hybrid`` and ``llm`` run against the fake
OpenAI-compatible endpoint, answering each field from the parser's own record
of the letter -- agreeing, another reading the letter holds, an ill-formed
value, an invented one, or none (tests/truth_support.py) -- so that every
branch of the arbitration meets real letters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fake_support import fake_config
from truth_support import answers_for

from llm_extract.backends import create_backend
from llm_extract.consistency import path_exists, truth_violations
from llm_extract.devtools.fake_openai import FakeOpenAI, Reply
from llm_extract.loading import Letter, load_letters
from llm_extract.loop import process_one
from llm_extract.models import Check, Evidence, Record, Span
from llm_extract.review_flags import ReviewCode
from llm_extract.rules.backend import parse_letter


@pytest.fixture(scope="module")
def corpus_letters(seed_paths: list[Path], letter_paths: list[Path]) -> list[Letter]:
    letters = [letter for p in [*seed_paths, *letter_paths] for letter in load_letters(p)]
    assert len(letters) >= 134
    return letters


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


class _Run:
    """One backend over the corpus: each letter's violations, and what its records hold."""

    def __init__(self) -> None:
        self.found: dict[str, list[str]] = {}
        self.seen: set[str] = set()


def _run(backend_name: str, letters: list[Letter], fake: FakeOpenAI, round_: int) -> _Run:
    config = fake_config(fake)
    backend = create_backend(backend_name, config)
    run = _Run()
    try:
        for letter in letters:
            parsed = parse_letter(letter)
            fake.default = Reply.built(answers_for(parsed, f"{letter.letter_id}:{round_}"))
            result = process_one(letter, backend, config)
            record = result.record
            assert record is not None, (letter.letter_id, result.error)
            parser = parsed.record if backend_name != "llm" else None
            bad = truth_violations(record, letter.text, parser)
            if bad:
                run.found[letter.letter_id] = bad
            run.seen.update(f"kept:{c.kept}" for c in record.checks)
            run.seen.update(f"reader:{e.reader}" for e in record.evidence)
            run.seen.update(f"flag:{f.code.value}" for f in record.review_flags)
            run.seen.update(
                f"lost:{why}"
                for c in record.checks
                for why in ("ill-formed", "not in the letter text")
                if why in c.reason
            )
    finally:
        backend.close()
    return run


@pytest.fixture(scope="module")
def runs(corpus_letters: list[Letter], fake: FakeOpenAI) -> Callable[[str, int], _Run]:
    done: dict[tuple[str, int], _Run] = {}

    def get(backend_name: str, round_: int) -> _Run:
        if (backend_name, round_) not in done:
            done[backend_name, round_] = _run(backend_name, corpus_letters, fake, round_)
        return done[backend_name, round_]

    return get


# The hybrid asks only what the parser is unsure of (46 of the 134 letters): three
# rounds of answers, each field's mode drawn anew, meet more of its branches.
ROUNDS = [("rules", 0), ("hybrid", 0), ("hybrid", 1), ("hybrid", 2), ("llm", 0)]


@pytest.mark.parametrize(("backend_name", "round_"), ROUNDS)
def test_every_value_its_evidence_and_its_checks_agree(
    backend_name: str, round_: int, runs: Callable[[str, int], _Run]
) -> None:
    found = runs(backend_name, round_).found
    shown = "\n".join(f"{lid}: {v}" for lid, vs in sorted(found.items()) for v in vs[:4])
    assert not found, f"{len(found)} letters where a record contradicts itself:\n{shown}"


def test_the_fake_answers_reach_the_branches_of_the_arbitration(
    runs: Callable[[str, int], _Run],
) -> None:
    """The property above means something only if the answers were really arbitrated."""
    seen = set().union(*(runs("hybrid", r).seen for r in range(3)))
    assert {"kept:rules", "kept:llm", "reader:llm", "reader:both", "reader:rules"} <= seen
    assert {"flag:readers_disagree", "lost:ill-formed", "lost:not in the letter text"} <= seen


# -- the invariants themselves, on records made to break them --------------------------
_TEXT = "The patient is a 54 year old female injured on 04/17/2009. Upheld."
_AT = _TEXT.index("04/17")


def _record() -> Record:
    return Record(
        letter_id="x",
        date_of_injury=dt.date(2009, 4, 17),
        patient={"age": 54},
        evidence=[
            Evidence(
                field="patient.age", spans=[Span(start=17, end=19)], certainty="exact",
                grounded=True,
            ),
            Evidence(
                field="date_of_injury", spans=[Span(start=_AT, end=_AT + 10)], certainty="exact",
                grounded=True,
            ),
        ],
    )  # fmt: skip


def test_a_consistent_record_has_no_violation() -> None:
    assert truth_violations(_record(), _TEXT) == []


def test_a_check_that_names_a_third_value_is_a_violation() -> None:
    rec = _record()
    rec.checks = [
        Check(field="patient.age", llm_value=45, rules_value=53, kept="rules", reason="r")
    ]
    (v,) = truth_violations(rec, _TEXT)
    assert "the parser's 53 was kept" in v and "holds 54" in v


def test_a_reader_the_check_contradicts_is_a_violation() -> None:
    rec = _record()
    rec.checks = [Check(field="patient.age", llm_value=54, rules_value=45, kept="llm", reason="r")]
    (v,) = truth_violations(rec, _TEXT)
    assert "the check kept the model's reading but the evidence says the parser's" in v


def test_a_span_that_does_not_hold_the_value_is_a_violation() -> None:
    rec = _record()
    rec.patient.age = 45
    (v,) = truth_violations(rec, _TEXT)
    assert v.startswith("patient.age: 45 is not what the text at its evidence says")


def test_evidence_without_a_value_and_a_value_without_evidence_are_violations() -> None:
    rec = _record()
    rec.patient.age = None
    rec.patient.occupation = "clerk"
    got = truth_violations(rec, _TEXT)
    assert "patient.age: no value, yet evidence with spans (grounded=True)" in got
    assert "patient.occupation: 'clerk' has no evidence" in got


def test_paths_that_name_no_field_are_violations() -> None:
    rec = _record()
    rec.flag(ReviewCode.READERS_DISAGREE, "two readings", "items[0].quantity")
    rec.evidence = [*rec.evidence, Evidence(field="diagnoses[2]")]
    got = truth_violations(rec, _TEXT)
    assert any(v.startswith("flag readers_disagree on items[0].quantity") for v in got)
    assert any(v.startswith("evidence for diagnoses[2]") for v in got)
    assert path_exists(rec, "patient.age") and not path_exists(rec, "patient.height")


def test_a_value_the_parser_did_not_read_is_not_the_parsers() -> None:
    parser = _record()
    rec = _record()
    rec.evidence = [e.model_copy(update={"spans": [], "grounded": False}) for e in rec.evidence]
    rec.patient.age = 55
    (v,) = truth_violations(rec, _TEXT, parser)
    assert v == "patient.age: the evidence says the parser read 55, the parser reads 54"


def test_a_set_aside_reading_must_not_be_in_the_record() -> None:
    rec = _record()
    rec.diagnoses = ["lumbar strain"]
    dropped = Check(
        field="diagnoses", llm_value=["physical therapy"], rules_value=[], kept="rules", reason="r"
    )
    rec.checks = [dropped]
    assert not [v for v in truth_violations(rec, _TEXT) if "a check says" in v]
    rec.diagnoses = ["lumbar strain", "physical therapy"]
    assert any("a check says" in v for v in truth_violations(rec, _TEXT))
