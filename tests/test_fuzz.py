"""The CI slice of the fuzzing campaign (benchmarks/fuzz.py runs the long one).

Real corpus letters, mutated by :mod:`llm_extract.devtools.mutate` as
hypothesis draws (derandomized, so CI is reproducible), go through
``llm_extract.extract`` in a fenced worker (2 GiB address space, killed past
the letter's time budget); every input must keep the invariants of
:mod:`llm_extract.devtools.fuzz_harness`: only typed errors, no hang, no
crash, and no record that silently contradicts its letter.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SYNTHETIC
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_extract.devtools.fuzz_harness import CASE_NUMBER, Worker, violations
from llm_extract.devtools.mutate import (
    BYTE_MUTATORS,
    ENCODERS,
    PDF_MUTATORS,
    TEXT_MUTATORS,
    Mutant,
    corpus_seeds,
    mutants,
    mutate_pdf,
    mutate_text,
)
from llm_extract.loading import letter_from_text
from llm_extract.review_flags import ReviewCode


class Seeds:
    """The corpus as seeds, with a short repr (hypothesis prints its arguments)."""

    def __init__(self, corpus: Path) -> None:
        self.texts, self.pdfs = corpus_seeds(corpus, sorted(SYNTHETIC.rglob("*.txt")))

    def __repr__(self) -> str:
        return f"Seeds({len(self.texts)} texts, {len(self.pdfs)} PDFs)"


def _slice(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


@pytest.fixture(scope="module")
def seeds(corpus: Path) -> Seeds:
    return Seeds(corpus)


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    with Worker() as w:
        yield w


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _holds(
    worker: Worker, scratch: Path, mutant: Mutant, backend: str = "rules", *, as_text: bool = False
) -> None:
    path = scratch / f"{mutant.seed}{mutant.suffix}"
    path.write_bytes(mutant.data)
    out = worker.run(path, mutant.label, backend, as_text=as_text)
    assert out.ok, (
        f"{out.label} ({backend}): {out.status} {out.error or ''} {out.violations or out.message}"
    )


@_slice(100)
@given(
    pick=st.integers(0, 10_000),
    names=st.lists(st.sampled_from(sorted(TEXT_MUTATORS)), min_size=1, max_size=2),
    encoding=st.sampled_from(sorted(ENCODERS)),
    rng_seed=st.integers(0, 2**32),
    as_text=st.booleans(),
)
def test_mutated_texts_keep_the_invariants(
    seeds: Seeds,
    worker: Worker,
    scratch: Path,
    pick: int,
    names: list[str],
    encoding: str,
    rng_seed: int,
    as_text: bool,
) -> None:
    """As a .txt file, or (``as_text``) as the string handed to ``extract``."""
    texts = seeds.texts
    rng = random.Random(rng_seed)
    (name, text), (_, donor) = texts[pick % len(texts)], texts[(pick * 7 + 3) % len(texts)]
    data = mutate_text(rng, text, donor, names, encoding)
    _holds(worker, scratch, Mutant(data, ".txt", name, (*names, encoding)), as_text=as_text)


@_slice(50)
@given(
    pick=st.integers(0, 10_000),
    name=st.sampled_from(
        [f"pdf:{n}" for n in sorted(PDF_MUTATORS)] + [f"bytes:{n}" for n in sorted(BYTE_MUTATORS)]
    ),
    rng_seed=st.integers(0, 2**32),
)
def test_mutated_pdfs_keep_the_invariants(
    seeds: Seeds, worker: Worker, scratch: Path, pick: int, name: str, rng_seed: int
) -> None:
    pdfs = seeds.pdfs
    (seed, pdf), (_, donor) = pdfs[pick % len(pdfs)], pdfs[(pick * 7 + 3) % len(pdfs)]
    data = mutate_pdf(random.Random(rng_seed), pdf, donor, name)
    _holds(worker, scratch, Mutant(data, ".pdf", seed, (name,)))


@_slice(40)
@given(pick=st.integers(0, 10_000), noise=st.text(max_size=300), at=st.floats(0, 1))
def test_arbitrary_text_inside_a_letter_keeps_the_invariants(
    seeds: Seeds, worker: Worker, scratch: Path, pick: int, noise: str, at: float
) -> None:
    texts = seeds.texts
    name, text = texts[pick % len(texts)]
    cut = int(len(text) * at)
    data = (text[:cut] + noise + text[cut:]).encode("utf-8", errors="surrogatepass")
    _holds(worker, scratch, Mutant(data, ".txt", name, ("hypothesis:text",)))


@_slice(30)
@given(data=st.binary(max_size=4096), suffix=st.sampled_from([".pdf", ".txt"]))
def test_arbitrary_bytes_get_a_typed_error_or_a_sound_record(
    worker: Worker, scratch: Path, data: bytes, suffix: str
) -> None:
    _holds(worker, scratch, Mutant(data, suffix, "random", ("hypothesis:bytes",)))


def test_the_hybrid_arbitrates_mutated_letters_soundly(
    seeds: Seeds, worker: Worker, scratch: Path
) -> None:
    """A bounded share through the hybrid, its fake endpoint answering in turn a
    schema-valid object, nonsense, an HTTP 500 and cut-off JSON."""
    texts, pdfs = seeds.texts, seeds.pdfs
    stream = mutants(random.Random(19), texts, pdfs)
    for _ in range(24):
        _holds(worker, scratch, next(stream), backend="hybrid")


# --- the mutators and the invariants themselves -----------------------------------------
def test_text_mutants_are_reproducible_from_their_seed(seeds: Seeds) -> None:
    """A failing input is replayed from the campaign's seed.  (PDF mutants keep
    their structure, but pypdf draws a fresh file ID and encryption salt.)"""
    first = [
        m.data for _, m in zip(range(60), mutants(random.Random(5), seeds.texts, []), strict=False)
    ]
    again = [
        m.data for _, m in zip(range(60), mutants(random.Random(5), seeds.texts, []), strict=False)
    ]
    assert first == again
    texts = {t for _, t in seeds.texts}
    assert sum(m.decode("utf-8", errors="replace") not in texts for m in first) > 50


def test_a_spliced_text_holds_both_case_numbers(seeds: Seeds) -> None:
    texts = seeds.texts
    with_case = [(n, t) for n, t in texts if CASE_NUMBER.search(t)]
    (_, a), (_, b) = with_case[0], with_case[1]
    spliced = TEXT_MUTATORS["splice_letters"](random.Random(1), a, b)
    assert set(CASE_NUMBER.findall(spliced)) == set(CASE_NUMBER.findall(a)) | set(
        CASE_NUMBER.findall(b)
    )
    assert len(set(CASE_NUMBER.findall(spliced))) == 2


def test_the_invariants_catch_a_contradicting_record(seeds: Seeds) -> None:
    """The checker is not vacuous: a decision turned round, a span moved off its
    line and a merged unflagged record are each reported."""
    from llm_extract import extract

    texts = seeds.texts
    name, text = next((n, t) for n, t in texts if CASE_NUMBER.search(t))
    letter = letter_from_text(text, name)
    record = extract(letter, backend="rules")
    assert record.items and violations([record], letter.text) == []
    turned = record.model_copy(deep=True)
    item = turned.items[0]
    item.decision = "overturned" if item.decision.value == "upheld" else "upheld"
    assert any("decision line says" in v for v in violations([turned], letter.text))
    moved = record.model_copy(deep=True)
    moved.items[0].span = None
    assert any("no decision span" in v for v in violations([moved], letter.text))
    other = next(
        t
        for n, t in texts
        if CASE_NUMBER.search(t) and CASE_NUMBER.search(t)[0] != record.case_number
    )  # type: ignore[index]
    assert any("unflagged record" in v for v in violations([record], letter.text + other))
    record.flag(ReviewCode.SEVERAL_LETTERS, "two letters")
    assert violations([record], letter.text + other) == []


@_slice(200)
@given(
    name=st.sampled_from(sorted(TEXT_MUTATORS)),
    text=st.text(max_size=200),
    donor=st.text(max_size=50),
    rng_seed=st.integers(0, 2**32),
)
def test_every_text_mutator_takes_any_text(name: str, text: str, donor: str, rng_seed: int) -> None:
    """Mutators chain (one may cut a letter to nothing before the next runs): none
    may fail on what another made, empty text included."""
    out = TEXT_MUTATORS[name](random.Random(rng_seed), text, donor)
    assert isinstance(out, str)
    assert len(out) <= max(len(text) * 1001 + len(donor) + 1000, 0)
