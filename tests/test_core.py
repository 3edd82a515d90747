"""Fast unit tests of the core: normalisation, models, configuration, loading."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from llm_extract import errors
from llm_extract.config import Config, load_config
from llm_extract.loading import letter_from_text, load_letter, normalise_text
from llm_extract.models import Category, Decision, GuidelineSource, Record
from llm_extract.normalize import clean_string, expand_year, parse_date
from llm_extract.sources import iter_letter_paths

IMR_TEXT = (
    "HOW THE IMR FINAL DETERMINATION WAS MADE\nMAXIMUS Federal Services sent the case file.\n"
    "IMR ISSUES, DECISIONS AND RATIONALES\nPT x8: Upheld\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10-18-16", dt.date(2016, 10, 18)),
        ("10/18/2016", dt.date(2016, 10, 18)),
        ("10-18-2016", dt.date(2016, 10, 18)),
        ("2016-10-18", dt.date(2016, 10, 18)),
        ("4/17/09", dt.date(2009, 4, 17)),
        ("06/05/99", dt.date(1999, 6, 5)),
        ("01/01/30", dt.date(2030, 1, 1)),
        ("01/01/31", dt.date(1931, 1, 1)),
        ("October 18, 2016", dt.date(2016, 10, 18)),
        ("Oct. 18 2016", dt.date(2016, 10, 18)),
        ("18 October 2016", dt.date(2016, 10, 18)),
        ("13/45/2016", None),
        ("Standard", None),
    ],
)
def test_parse_date(text: str, expected: dt.date | None) -> None:
    assert parse_date(text) == expected


def test_two_digit_year_boundary() -> None:
    assert expand_year(0) == 2000 and expand_year(30) == 2030 and expand_year(31) == 1931


def test_clean_string_collapses_whitespace_and_undoes_hyphenation() -> None:
    assert clean_string("  Physical   Therapy\n x8  ") == "Physical Therapy x8"
    assert clean_string("treat-\nment of the lumbar spine") == "treatment of the lumbar spine"
    # A real hyphen between words stays ("Post-op", "L4-5").
    assert clean_string("Post-op PT L4-5") == "Post-op PT L4-5"


def test_record_normalises_in_validators() -> None:
    r = Record(
        letter_id="x",
        decision_date="01/20/17",
        priority="Standard",
        items=[
            {
                "request": "Physical  therapy\nx8",
                "decision": "Overturned",
                "category": "Physical Therapy",
                "date_of_service": "12/29/15",
                "guideline_sources": {"maximus": ["MTUS", "ACOEM", "mtus"]},
            }
        ],
    )
    assert r.decision_date == dt.date(2017, 1, 20)
    item = r.items[0]
    assert item.request == "Physical therapy x8"
    assert item.decision is Decision.OVERTURNED
    assert item.category is Category.PHYSICAL_THERAPY
    assert item.date_of_service == dt.date(2015, 12, 29)
    assert item.guideline_sources.maximus == [GuidelineSource.MTUS, GuidelineSource.ACOEM]
    dumped = r.to_dict()
    assert dumped["decision_date"] == "2017-01-20" and dumped["priority"] == "standard"
    assert Record.model_validate_json(r.to_json()) == r


@pytest.mark.parametrize(
    "bad",
    [
        {"letter_id": "x", "date_assigned": "yesterday"},
        {"letter_id": "x", "priority": "urgent"},
        {"letter_id": "x", "items": [{"request": "PT", "decision": "denied"}]},
        {"letter_id": "x", "items": [{"request": "PT", "decision": "upheld", "category": "yoga"}]},
        {"letter_id": "x", "unknown_field": 1},
    ],
)
def test_record_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(ValidationError):
        Record.model_validate(bad)


def test_load_config_reads_environment_and_overrides() -> None:
    cfg = load_config(
        env={"LLM_EXTRACT_BASE_URL": "http://localhost:8000/v1", "LLM_EXTRACT_MAX_RETRIES": "7"},
        model="qwen",
    )
    assert (
        cfg.base_url == "http://localhost:8000/v1" and cfg.max_retries == 7 and cfg.model == "qwen"
    )
    with pytest.raises(dataclasses_frozen_error()):
        cfg.model = "other"  # type: ignore[misc]


def dataclasses_frozen_error() -> type[Exception]:
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_load_config_errors_say_how_to_fix() -> None:
    with pytest.raises(errors.ConfigError, match="LLM_EXTRACT_MAX_RETRIES"):
        load_config(env={"LLM_EXTRACT_MAX_RETRIES": "many"})
    with pytest.raises(errors.ConfigError, match="choose one of rules, llm, hybrid"):
        Config(backend="magic")
    with pytest.raises(errors.ConfigError, match="loopback"):
        Config(local_host="0.0.0.0")


def test_normalise_text_repairs_mojibake_and_line_endings() -> None:
    assert normalise_text("8 CCR Â§Â§9792.20\r\nnext") == "8 CCR §§9792.20\nnext"


def test_letter_from_text_rejects_empty_and_non_imr() -> None:
    with pytest.raises(errors.EmptyLetterError):
        letter_from_text("   \n ", "x")
    with pytest.raises(errors.NotIMRLetterError) as info:
        letter_from_text("Dear customer, your invoice is attached.", "invoice")
    assert info.value.letter == "invoice" and info.value.exit_code == 2
    letter = letter_from_text(IMR_TEXT, "ok")
    assert letter.letter_id == "ok" and len(letter.sha256) == 64


def test_load_letter_errors(tmp_path: Path) -> None:
    with pytest.raises(errors.LetterNotFoundError):
        load_letter(tmp_path / "missing.pdf")
    (tmp_path / "notes.docx").write_text("x")
    with pytest.raises(errors.UnsupportedFormatError):
        load_letter(tmp_path / "notes.docx")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(errors.EmptyLetterError):
        load_letter(tmp_path / "empty.txt")
    (tmp_path / "junk.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    with pytest.raises(errors.CorruptPdfError) as info:
        load_letter(tmp_path / "junk.pdf")
    assert info.value.cause is not None and "junk" in str(info.value)


def test_cp1252_text_letter_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "letter.txt"
    path.write_bytes(IMR_TEXT.replace("PT x8", "PT x8 \u00a7 9792").encode("cp1252"))
    assert "§ 9792" in load_letter(path).text


def test_iter_letter_paths_keeps_missing_paths_for_reporting(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(IMR_TEXT)
    (tmp_path / "b.pdf").write_bytes(b"x")
    (tmp_path / "c.md").write_text("x")
    paths = iter_letter_paths([tmp_path, tmp_path / "nope.txt"])
    assert [p.name for p in paths] == ["a.txt", "b.pdf", "nope.txt"]


def test_error_to_dict_carries_context() -> None:
    cause = ValueError("boom")
    err = errors.LLMError("gave up", letter="CM1", field="items[0].category", cause=cause)
    data = err.to_dict()
    assert data["error"] == "LLMError" and data["letter"] == "CM1"
    assert data["field"] == "items[0].category" and "boom" in (data["cause"] or "")
    assert str(err) == "CM1: field items[0].category: gave up"


def test_pdf_loading_is_safe_from_many_threads(letter_paths: list[Path]) -> None:
    # PDFium crashes the process when two threads use it at once; the loader's
    # lock must make concurrent loads (the batch's thread pool) safe.
    from concurrent.futures import ThreadPoolExecutor

    paths = letter_paths[:24]
    with ThreadPoolExecutor(max_workers=8) as pool:
        letters = list(pool.map(load_letter, paths))
    assert [lt.letter_id for lt in letters] == [p.stem for p in paths]
    assert all("IMR" in lt.text for lt in letters)
