"""Inputs the fuzzing campaign (benchmarks/fuzz.py) found breaking an invariant, kept as tests.

Each one is rebuilt here from a corpus letter (letters are never copied into
the repository) the way the campaign's mutator changed it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

import llm_extract
from llm_extract.devtools.fuzz_harness import violations
from llm_extract.errors import EmptyLetterError, LetterNotFoundError, NotIMRLetterError
from llm_extract.loading import decode_text, load_letter


def _letter_text(letters_dir: Path, stem: str) -> str:
    return load_letter(
        letters_dir / f"{stem}.pdf", text_from="pdfium", ocr="never", ocr_engine="auto"
    ).text


@pytest.mark.parametrize("line_break", ["\r", " "])
def test_a_letter_without_newlines_given_as_text_is_read_as_text(
    letters_dir: Path, line_break: str
) -> None:
    """Found as ``text:line_endings`` passed as a string: with no "\\n" in it the
    text was taken for a path, and checking that path raised OSError (file name
    too long) instead of reading the letter."""
    text = _letter_text(letters_dir, "CM17-0015218").replace("\n", line_break)
    assert "\n" not in text and len(text) > 4096
    if line_break == "\r":  # the loader turns "\r" into line breaks: the letter reads as before
        record = llm_extract.extract(text, backend="rules")
        assert record.case_number == "CM17-0015218" and record.items
    else:  # one long line: whatever the parser makes of it, never an untyped error
        with contextlib.suppress(llm_extract.ExtractionError):
            llm_extract.extract(text, backend="rules")


def test_a_long_or_nul_holding_string_is_never_an_untyped_error() -> None:
    with pytest.raises(NotIMRLetterError):
        llm_extract.extract("no letter " * 1000, backend="rules")
    with pytest.raises(NotIMRLetterError):
        llm_extract.extract("no\x00letter " * 10, backend="rules")


def test_an_empty_text_is_an_empty_letter_not_the_current_folder() -> None:
    """Found as ``text:truncate_text`` cut to nothing and passed as a string:
    ``Path("")`` names the current folder, so the error said "not a file: .\"."""
    with pytest.raises(EmptyLetterError):
        llm_extract.extract("", backend="rules")


def test_a_path_too_long_for_the_file_system_is_a_typed_error() -> None:
    with pytest.raises(LetterNotFoundError, match="as a file name"):
        llm_extract.extract("a" * 5000 + ".txt", backend="rules")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8-sig"])
def test_a_unicode_text_file_reads_as_its_utf8_twin(
    letters_dir: Path, tmp_path: Path, encoding: str
) -> None:
    """Found as ``text:splice_letters`` + ``enc:utf-16``: the file was read as
    Windows-1252, a NUL after each letter, so nothing that reads the raw text
    (the bundle cut among them) found its headings; only normalising dropped
    the NULs later."""
    text = _letter_text(letters_dir, "CM16-0228949")
    twin, odd = tmp_path / "twin.txt", tmp_path / "odd.txt"
    twin.write_text(text, encoding="utf-8")
    odd.write_bytes(text.encode(encoding))
    assert load_letter(odd).text == load_letter(twin).text
    assert decode_text(text.encode(encoding)) == text


def test_two_letters_in_a_utf16_text_are_never_one_silent_record(
    letters_dir: Path, tmp_path: Path
) -> None:
    two = (
        _letter_text(letters_dir, "CM16-0228949") + "\n" + _letter_text(letters_dir, "CM16-0230651")
    )
    path = tmp_path / "two.txt"
    path.write_bytes(two.encode("utf-16"))
    try:
        record = llm_extract.extract(path, backend="rules")
    except llm_extract.ExtractionError:
        return  # refused as several letters: never merged
    assert violations([record], load_letter(path).text) == []


def test_two_case_numbers_that_escape_the_cut_are_flagged(letters_dir: Path) -> None:
    """Found as ``text:splice_letters``: the second letter inside the first (its
    header block in the middle of the first letter's case summary) gave one
    unflagged record with both letters' items."""
    first = _letter_text(letters_dir, "CM16-0228949")
    second = _letter_text(letters_dir, "CM16-0230651")
    at = first.index("IMR ISSUES, DECISIONS AND RATIONALES")
    text = first[:at] + second + "\n" + first[at:]
    try:
        record = llm_extract.extract(text, backend="rules")
    except llm_extract.ExtractionError:
        return  # refused as several letters: never merged
    assert record.needs_review
    assert any("2 case numbers (CM16-0228949, CM16-0230651)" in r for r in record.review_reasons)
