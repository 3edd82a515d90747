"""The rules backend end to end: the whole corpus, every bad-input class, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SYNTHETIC

from llm_extract import extract
from llm_extract.backends import create_backend
from llm_extract.base import Backend
from llm_extract.config import load_config
from llm_extract.errors import (
    CorruptPdfError,
    EmptyLetterError,
    EncryptedPdfError,
    LetterNotFoundError,
    NotIMRLetterError,
    ScannedPdfError,
    TruncatedLetterError,
)
from llm_extract.models import Record
from llm_extract.rules import RULES_VERSION, RulesBackend


def test_registered_and_satisfies_backend_protocol() -> None:
    backend = create_backend("rules", load_config())
    assert isinstance(backend, RulesBackend)
    assert isinstance(backend, Backend)
    assert backend.name == "rules" and backend.version == RULES_VERSION
    backend.close()


def test_record_provenance_and_spans() -> None:
    record = extract(SYNTHETIC / "rules_pdf_layout.txt", backend="rules")
    assert record.provenance is not None
    assert record.provenance.backend == "rules"
    assert record.provenance.backend_version == RULES_VERSION
    text = (SYNTHETIC / "rules_pdf_layout.txt").read_text()
    first = record.items[0]
    assert first.span is not None
    assert text[first.span.start : first.span.end] == (
        "Physical therapy for the lumbar spine 2-3 times a week for 6 weeks: Upheld"
    )


def test_extract_is_deterministic() -> None:
    a = extract(SYNTHETIC / "rules_pdf_layout.txt", backend="rules")
    b = extract(SYNTHETIC / "rules_pdf_layout.txt", backend="rules")
    assert a.model_dump(exclude={"provenance"}) == b.model_dump(exclude={"provenance"})


# --- bad input: one typed error per class ------------------------------------
def _blank_pdf(path: Path) -> Path:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    pdf.new_page(612, 792)
    pdf.save(str(path))
    pdf.close()
    return path


def _encrypted_pdf(path: Path) -> Path:
    pypdf = pytest.importorskip("pypdf")
    writer = pypdf.PdfWriter()
    writer.add_blank_page(612, 792)
    # RC4 needs no crypto library, so the test runs on the base install.
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LetterNotFoundError):
        extract(tmp_path / "nope.pdf", backend="rules")


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(EmptyLetterError):
        extract(empty, backend="rules")
    empty_pdf = tmp_path / "empty.pdf"
    empty_pdf.write_bytes(b"")
    with pytest.raises(EmptyLetterError):
        extract(empty_pdf, backend="rules")


def test_pdf_without_text_layer(tmp_path: Path) -> None:
    with pytest.raises(ScannedPdfError, match="no text layer"):
        extract(_blank_pdf(tmp_path / "scan.pdf"), backend="rules")


def test_encrypted_pdf_needing_a_password(tmp_path: Path) -> None:
    with pytest.raises(EncryptedPdfError, match="password"):
        extract(_encrypted_pdf(tmp_path / "locked.pdf"), backend="rules")


def test_corrupt_pdf(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.pdf"
    bad.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage without xref\n")
    with pytest.raises(CorruptPdfError):
        extract(bad, backend="rules")


def test_truncated_real_pdf(tmp_path: Path, letters_dir: Path) -> None:
    data = (letters_dir / "CM16-0239110.pdf").read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises((CorruptPdfError, ScannedPdfError, TruncatedLetterError)):
        extract(cut, backend="rules")


def test_non_imr_document() -> None:
    with pytest.raises(NotIMRLetterError):
        extract(SYNTHETIC / "rules_not_imr.txt", backend="rules")


def test_letter_cut_off_before_items() -> None:
    with pytest.raises(TruncatedLetterError):
        extract(SYNTHETIC / "rules_cut_before_items.txt", backend="rules")


# --- the whole corpus ----------------------------------------------------------
def test_every_corpus_letter(seed_paths: list[Path], letter_paths: list[Path]) -> None:
    paths = seed_paths + letter_paths
    assert len(paths) == 134
    n_items = 0
    for path in paths:
        record = extract(path, backend="rules")
        again = Record.model_validate_json(record.to_json())
        assert again.letter_id == path.stem
        assert record.items, path.name
        n_items += len(record.items)
        for item in record.items:
            assert item.request
            assert item.span is not None and item.span.end > item.span.start
        if path.suffix == ".pdf":
            # Every PDF has the header block, the credentials block and a summary.
            assert record.case_number == path.stem
            assert record.decision_date is not None and record.date_assigned is not None
            assert record.application_received is not None and record.ur_denial_date is not None
            assert record.priority is not None
            assert record.reviewer.licensure_states and record.reviewer.specialties
    # 278 items in the PDFs (one "Claims Administrator guideline" each) + 8 in the seeds.
    assert n_items == 286


# --- the command line ---------------------------------------------------------
def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llm_extract", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_extracts_the_corpus(tmp_path: Path, seeds_dir: Path, letters_dir: Path) -> None:
    out = tmp_path / "out.jsonl"
    proc = _cli("extract", seeds_dir, letters_dir, "--backend", "rules", "-o", out)
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 134
    # Every record validates against the checked-in JSON Schema (schemas/), not
    # only against the pydantic models it was generated from.
    import jsonschema

    schema = json.loads(
        (Path(__file__).resolve().parent.parent / "schemas" / "record.schema.json").read_text()
    )
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    for line in lines:
        data = json.loads(line)
        validator.validate(data)
        Record.model_validate(data)


@pytest.mark.parametrize("make", ["missing", "not_imr", "scan", "cut"])
def test_cli_bad_file_exits_2_with_one_error_line(tmp_path: Path, make: str) -> None:
    path = {
        "missing": lambda: tmp_path / "missing.pdf",
        "not_imr": lambda: SYNTHETIC / "rules_not_imr.txt",
        "scan": lambda: _blank_pdf(tmp_path / "scan.pdf"),
        "cut": lambda: SYNTHETIC / "rules_cut_before_items.txt",
    }[make]()
    proc = _cli("extract", path, "--backend", "rules")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert proc.stdout == ""


def test_document_that_only_mentions_imr_is_not_a_letter() -> None:
    # A UR denial explains how to apply for an IMR: it names MAXIMUS and
    # "Independent Medical Review" but is no determination.
    with pytest.raises(NotIMRLetterError):
        extract(SYNTHETIC / "rules_ur_denial.txt", backend="rules")


def test_a_request_no_category_rule_knows_is_flagged() -> None:
    """Every request has a category (RECORD.md has ``other``): a null is for a person."""
    from llm_extract.loading import letter_from_text

    text = (SYNTHETIC / "rules_pdf_layout.txt").read_text(encoding="utf-8")
    line = "Physical therapy for the lumbar spine 2-3 times a week for 6 weeks: Upheld"
    assert line in text
    # Supplies such as gloves are DME (RECORD.md Clarifications); an acute
    # rehabilitation unit is a request no category rule decides.
    unknown = "Acute Rehabilitation Unit"
    letter = letter_from_text(text.replace(line, f"{unknown}: Upheld"), letter_id="unknown")
    record = RulesBackend(load_config()).extract(letter)
    assert record.items[0].request == unknown and record.items[0].category is None
    assert record.needs_review
    assert f"items[0].category: no category was decided for {unknown!r}" in record.review_reasons
    # The unchanged letter decides every category: no such reason.
    plain = RulesBackend(load_config()).extract(letter_from_text(text, letter_id="plain"))
    assert not any(".category:" in r for r in plain.review_reasons)
