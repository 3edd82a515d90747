"""Limits on one file: typed errors that say how to raise them, settings, OCR in windows."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from llm_extract import extract, load_letter
from llm_extract.config import LIMIT_FIELDS, Config, env_var, load_config
from llm_extract.errors import (
    ConfigError,
    FileTooLargeError,
    LetterTimeoutError,
    LimitExceededError,
    TextTooLongError,
    TooManyOcrPagesError,
    TooManyPagesError,
)
from llm_extract.limits import check_time, letter_budget

GOOD = "CM16-0228949"
# Every subprocess here runs under an address-space cap: a runaway stays inside it.
CAP_MB = 2048
CLI = [sys.executable, "-m", "llm_extract", "extract", "-b", "rules"]


def _raised(exc_info: pytest.ExceptionInfo[LimitExceededError], flag: str, var: str) -> str:
    message = str(exc_info.value)
    assert "\n" not in message
    assert flag in message and var in message, message
    assert exc_info.value.exit_code == 2
    return message


def test_every_limit_has_a_default_an_env_var_and_refuses_negatives() -> None:
    cfg = load_config(env={})
    assert cfg.max_pages >= 50 and cfg.max_file_mb >= 10 and cfg.max_chars >= 200_000
    assert cfg.max_ocr_pages >= 10 and cfg.letter_seconds >= 60
    env = {env_var(name): "7" for name in LIMIT_FIELDS}
    from_env = load_config(env=env)
    assert all(getattr(from_env, name) == 7 for name in LIMIT_FIELDS)
    assert load_config(env=env, max_pages=9).max_pages == 9  # a flag beats the environment
    with pytest.raises(ConfigError, match="LLM_EXTRACT_MAX_PAGES"):
        Config(max_pages=-1)


def test_the_largest_corpus_letters_are_far_under_the_defaults(letters_dir: Path) -> None:
    cfg = Config()
    for path in sorted(letters_dir.glob("*.pdf")):
        assert path.stat().st_size * 20 < cfg.max_file_mb * 1e6
        letter = load_letter(path, config=cfg)
        assert len(letter.text) * 20 < cfg.max_chars


def test_pages_limit(letters_dir: Path) -> None:
    with pytest.raises(TooManyPagesError) as exc:
        load_letter(letters_dir / f"{GOOD}.pdf", config=Config(max_pages=1))
    assert "pages" in _raised(exc, "--max-pages", "LLM_EXTRACT_MAX_PAGES")
    # 0 = no limit
    assert load_letter(letters_dir / f"{GOOD}.pdf", config=Config(max_pages=0)).text


def test_file_size_and_text_limits(seeds_dir: Path, tmp_path: Path) -> None:
    seed = sorted(seeds_dir.glob("*.txt"))[0]
    with pytest.raises(FileTooLargeError) as size:
        load_letter(seed, config=Config(max_file_mb=0.001))
    _raised(size, "--max-file-mb", "LLM_EXTRACT_MAX_FILE_MB")
    with pytest.raises(TextTooLongError) as chars:
        load_letter(seed, config=Config(max_chars=1000))
    _raised(chars, "--max-chars", "LLM_EXTRACT_MAX_CHARS")


def test_text_limit_stops_a_pdf_while_its_pages_are_read(letters_dir: Path) -> None:
    with pytest.raises(TextTooLongError):
        load_letter(letters_dir / f"{GOOD}.pdf", config=Config(max_chars=500))


def test_ocr_page_limit_before_any_page_is_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm_extract import pdf_pages
    from llm_extract.devtools.hostile import blank_pdf

    pdf = blank_pdf(tmp_path / "blank.pdf", pages=40)
    rendered: list[object] = []
    monkeypatch.setattr(pdf_pages, "render_page", lambda page: rendered.append(page))
    monkeypatch.setattr(pdf_pages, "resolve_engine", lambda engine: "tesseract")
    with pytest.raises(TooManyOcrPagesError) as exc:
        load_letter(pdf, config=Config(max_ocr_pages=30))
    _raised(exc, "--max-ocr-pages", "LLM_EXTRACT_MAX_OCR_PAGES")
    assert rendered == []


def test_ocr_reads_each_window_before_rendering_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never all pages rendered at once: at most one window of images is alive."""
    from llm_extract import pdf_pages
    from llm_extract.devtools.hostile import blank_pdf
    from llm_extract.ocr import OcrPageText

    pdf = blank_pdf(tmp_path / "blank.pdf", pages=12)
    events: list[tuple[str, int]] = []

    def render(page: object) -> str:
        events.append(("render", 1))
        return "image"

    def read(images: list[tuple[int, object]], engine: str) -> list[OcrPageText]:
        events.append(("read", len(images)))
        return [OcrPageText(page=n, text="", confidence=0.0) for n, _ in images]

    monkeypatch.setattr(pdf_pages, "render_page", render)
    monkeypatch.setattr(pdf_pages, "ocr_images", read)
    monkeypatch.setattr(pdf_pages, "resolve_engine", lambda engine: "tesseract")
    monkeypatch.setattr(pdf_pages, "engine_version", lambda engine: None)
    with pytest.raises(Exception, match="OCR found no text"):
        load_letter(pdf, config=Config(max_ocr_pages=0))
    window = pdf_pages.page_workers(12)
    alive = peak = 0
    for kind, n in events:
        alive = alive + n if kind == "render" else alive - n
        peak = max(peak, alive)
    assert sum(n for kind, n in events if kind == "read") == 12
    assert peak == window < 12


def test_time_budget_is_a_typed_error_naming_the_step() -> None:
    check_time("outside any budget")  # no budget: nothing happens
    with letter_budget(0.001, "slow"):
        time.sleep(0.01)
        with pytest.raises(LetterTimeoutError) as exc:
            check_time("OCR of page 3")
    message = _raised(exc, "--letter-seconds", "LLM_EXTRACT_LETTER_SECONDS")
    assert message.startswith("slow: ") and "OCR of page 3" in message


def test_time_budget_in_extract_and_in_the_loop(letters_dir: Path) -> None:
    from llm_extract import extract_many

    path = letters_dir / f"{GOOD}.pdf"
    with pytest.raises(LetterTimeoutError):
        extract(path, backend="rules", letter_seconds=1e-9)
    (result,) = extract_many([path], backend="rules", letter_seconds=1e-9)
    assert result.error_class == "LetterTimeoutError" and result.exit_code == 2
    assert extract(path, backend="rules", letter_seconds=0).items  # 0 = no budget


def test_cli_limit_is_one_line_and_exit_2(letters_dir: Path) -> None:
    from llm_extract.devtools.hostile import run_capped

    argv = [*CLI, str(letters_dir / f"{GOOD}.pdf"), "--max-pages", "1"]
    got = run_capped(argv, memory_mb=CAP_MB, timeout_s=60)
    assert got.returncode == 2 and got.stdout == ""
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in got.stderr
    assert lines[0].startswith(f"error: {GOOD}: the PDF has 2 pages") and "--max-pages" in lines[0]


# --- the hostile files, in capped subprocesses -------------------------------------


@pytest.fixture(scope="module")
def blank_20k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from llm_extract.devtools.hostile import blank_pdf

    return blank_pdf(tmp_path_factory.mktemp("hostile") / "blank.pdf", pages=20_000)


def test_20000_blank_pages_is_a_typed_error_fast_and_small(blank_20k: Path) -> None:
    from llm_extract.devtools.hostile import run_capped

    got = run_capped([*CLI, str(blank_20k)], memory_mb=CAP_MB, timeout_s=60)
    assert got.returncode == 2, got.stderr
    assert "20000 pages" in got.stderr and "--max-pages" in got.stderr
    assert got.seconds < 60 and got.peak_rss_mb < 1024


def test_20000_blank_pages_with_the_page_limit_off_stays_bounded(blank_20k: Path) -> None:
    """With --max-pages 0 the OCR limit stops it; with that off too, the time budget
    does, while OCR reads a window at a time (memory stays flat)."""
    from llm_extract.devtools.hostile import run_capped

    got = run_capped([*CLI, str(blank_20k), "--max-pages", "0"], memory_mb=CAP_MB, timeout_s=60)
    assert got.returncode == 2, got.stderr
    from llm_extract.ocr import resolve_engine

    # Without an OCR engine the pages cannot be read at all: a scan's error.
    expect = "20000 pages of the PDF need OCR" if resolve_engine() else "no text layer"
    assert expect in got.stderr
    assert got.peak_rss_mb < 1024
    argv = [*CLI, str(blank_20k), "--max-pages", "0", "--max-ocr-pages", "0"]
    got = run_capped([*argv, "--letter-seconds", "8"], memory_mb=CAP_MB, timeout_s=60)
    assert got.returncode == 2, got.stderr
    assert ("--letter-seconds" if resolve_engine() else "no text layer") in got.stderr
    assert got.seconds < 40 and got.peak_rss_mb < 1024


def test_50mb_of_concatenated_letters_is_a_typed_error(seeds_dir: Path, tmp_path: Path) -> None:
    from llm_extract.devtools.hostile import concatenated_text, run_capped

    texts = [p.read_text(encoding="utf-8") for p in sorted(seeds_dir.glob("*.txt"))]
    big = concatenated_text(texts, tmp_path / "archive.txt", megabytes=50)
    got = run_capped([*CLI, str(big)], memory_mb=CAP_MB, timeout_s=60)
    assert got.returncode == 2, got.stderr
    assert "--max-file-mb" in got.stderr and len(got.stderr.strip().splitlines()) == 1
    assert got.seconds < 60 and got.peak_rss_mb < 1024
