"""Files holding several letters: one record per letter, or a typed error naming the pages."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llm_extract import Record, extract, extract_all, extract_many, load_letter, load_letters
from llm_extract.bundle import split_text
from llm_extract.devtools.hostile import merged_pdf
from llm_extract.errors import BundleError, BundleSplitError
from llm_extract.loop import process_one

A, B = "CM16-0228949", "CM17-0010885"


def _content(record: Record) -> dict[str, Any]:
    """A record without what says where it came from (letter id, provenance)."""
    data = json.loads(record.to_json())
    data.pop("letter_id")
    data.pop("provenance")
    return data


@pytest.fixture
def two_pdf(letters_dir: Path, tmp_path: Path) -> Path:
    return merged_pdf([letters_dir / f"{A}.pdf", letters_dir / f"{B}.pdf"], tmp_path / "claim.pdf")


def test_two_letter_pdf_gives_each_letters_own_record(two_pdf: Path, letters_dir: Path) -> None:
    records = extract_all(two_pdf, backend="rules")
    alone = [extract(letters_dir / f"{lid}.pdf", backend="rules") for lid in (A, B)]
    assert [r.letter_id for r in records] == [A, B]
    assert [r.case_number for r in records] == [A, B]
    for got, want in zip(records, alone, strict=True):
        assert _content(got) == _content(want)
        assert got.provenance is not None and want.provenance is not None
        assert got.provenance.text_sha256 == want.provenance.text_sha256  # its own text
        assert got.provenance.source_file == str(two_pdf)
    parts = [r.provenance.part for r in records if r.provenance is not None]
    pages_a = _pages(letters_dir / f"{A}.pdf")
    assert [(p.index, p.count, p.pages) for p in parts if p is not None] == [
        (1, 2, (1, pages_a)),
        (2, 2, (pages_a + 1, pages_a + _pages(letters_dir / f"{B}.pdf"))),
    ]


def _pages(path: Path) -> int:
    import pypdfium2 as pdfium

    from llm_extract.pdf_pages import PDFIUM_LOCK

    with PDFIUM_LOCK:
        doc = pdfium.PdfDocument(str(path))
        try:
            return len(doc)
        finally:
            doc.close()


def test_every_corpus_pair_merged_splits_into_its_two_letters(
    letter_paths: list[Path], tmp_path: Path
) -> None:
    """Each corpus PDF merged with the next: two letters whose texts are the letters' own."""
    texts = {p: load_letter(p).text for p in letter_paths}
    for first, second in zip(letter_paths, letter_paths[1:] + letter_paths[:1], strict=True):
        letters = load_letters(merged_pdf([first, second], tmp_path / "pair.pdf"))
        assert [x.letter_id for x in letters] == [first.stem, second.stem]
        assert [x.text for x in letters] == [texts[first], texts[second]]


def test_two_letter_text_gives_each_letters_own_record(
    seed_paths: list[Path], tmp_path: Path
) -> None:
    first, second = seed_paths[0], seed_paths[3]
    raw = [first.read_text(encoding="utf-8"), second.read_text(encoding="utf-8")]
    bundle = tmp_path / "two.txt"
    bundle.write_text(raw[0] + "\n\n" + raw[1], encoding="utf-8")
    records = extract_all(bundle, backend="rules")
    alone = [extract(p, backend="rules") for p in (first, second)]
    assert len(records) == 2
    # Seeds carry no case number: the file stem and the part number.
    assert [r.letter_id for r in records] == ["two-part1", "two-part2"]
    for got, want in zip(records, alone, strict=True):
        assert _content(got) == _content(want)
    part = records[1].provenance.part if records[1].provenance else None
    assert part is not None and part.chars is not None
    assert bundle.read_text(encoding="utf-8")[part.chars[0] : part.chars[1]] == raw[1]


def test_text_of_two_pdf_letters_splits_at_the_second_header(
    letters_dir: Path, tmp_path: Path
) -> None:
    texts = [load_letter(letters_dir / f"{lid}.pdf").text for lid in (A, B)]
    bundle = tmp_path / "two.txt"
    bundle.write_text(texts[0] + "\n" + texts[1], encoding="utf-8")
    records = extract_all(bundle, backend="rules")
    assert [r.letter_id for r in records] == [A, B]
    for got, text in zip(records, texts, strict=True):
        assert got.provenance is not None and got.provenance.part is not None
        alone = extract(text, backend="rules", letter_id=got.letter_id)
        assert _content(got) == _content(alone)


def test_extract_refuses_a_bundle_and_says_what_to_call(two_pdf: Path) -> None:
    with pytest.raises(BundleError, match=r"extract_all\(\)") as exc:
        extract(two_pdf, backend="rules")
    assert A in str(exc.value) and B in str(exc.value) and exc.value.exit_code == 2
    with pytest.raises(BundleError):
        load_letter(two_pdf)


def test_the_loop_yields_one_result_per_letter(two_pdf: Path, letters_dir: Path) -> None:
    results = list(extract_many([two_pdf, letters_dir / f"{A}.pdf"], backend="rules"))
    assert [(r.letter_id, r.ok) for r in results] == [(A, True), (B, True), (A, True)]
    # process_one (one result per file) never passes a bundle off as one record.
    from llm_extract.api import get_backend

    one = process_one(two_pdf, get_backend("rules"))
    assert not one.ok and one.error_class == "BundleError"
    assert [p.letter_id for p in one.parts] == [A, B] and all(p.ok for p in one.parts)


def test_two_case_numbers_that_cannot_be_cut_are_a_typed_error(
    letters_dir: Path, tmp_path: Path
) -> None:
    """The second letter's header pasted into the first letter's body: two case
    numbers, one opening heading — no clean cut, so no record at all."""
    first = load_letter(letters_dir / f"{A}.pdf").text
    second = load_letter(letters_dir / f"{B}.pdf").text
    header = second[: second.index("HOW THE IMR")]
    middle = first.index("CLINICAL CASE SUMMARY")
    bad = tmp_path / "bad.txt"
    bad.write_text(first[:middle] + header + first[middle:], encoding="utf-8")
    with pytest.raises(BundleSplitError, match=r"lines \d+") as exc:
        extract_all(bad, backend="rules")
    assert exc.value.exit_code == 2
    (result,) = extract_many([bad], backend="rules")
    assert result.error_class == "BundleSplitError"


def test_a_letter_opening_mid_page_is_a_typed_error_naming_pages(
    letters_dir: Path, tmp_path: Path
) -> None:
    """Pages (form feeds) where the second letter starts in the middle of a page
    that holds the end of the first: the cut is unsure."""
    import pypdfium2 as pdfium

    from llm_extract.pdf_pages import PDFIUM_LOCK

    def pages(lid: str) -> list[str]:
        with PDFIUM_LOCK:
            doc = pdfium.PdfDocument(str(letters_dir / f"{lid}.pdf"))
            try:
                return [page.get_textpage().get_text_range() for page in doc]
            finally:
                doc.close()

    first, second = pages(A), pages(B)
    glued = [*first[:-1], first[-1] + "\n" + second[0], *second[1:]]
    bad = tmp_path / "glued.txt"
    bad.write_text("\f".join(glued), encoding="utf-8")
    with pytest.raises(BundleSplitError, match=rf"pages .*\b{len(first)}\b"):
        load_letters(bad)
    # The same pages, each letter starting on a page of its own: a clean cut.
    good = tmp_path / "paged.txt"
    good.write_text("\f".join(first + second), encoding="utf-8")
    letters = load_letters(good)
    assert [x.letter_id for x in letters] == [A, B]
    assert letters[1].part is not None and letters[1].part.pages == (len(first) + 1, len(glued) + 1)


def test_no_corpus_letter_is_taken_for_a_bundle(
    letter_paths: list[Path], seed_paths: list[Path]
) -> None:
    for path in [*letter_paths, *seed_paths]:
        (letter,) = load_letters(path)
        assert letter.part is None and letter.letter_id == path.stem
        assert split_text(letter.text, path.stem) is None


def test_extract_o_writes_one_line_per_letter(two_pdf: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    cli = [sys.executable, "-m", "llm_extract", "extract", "-b", "rules"]
    proc = subprocess.run([*cli, str(two_pdf), "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(ln)["letter_id"] for ln in out.read_text().splitlines()] == [A, B]
    assert "2 record(s) written" in proc.stderr
    # To stdout, a file of several letters is JSON Lines too (pretty JSON is for one).
    proc = subprocess.run([*cli, str(two_pdf)], capture_output=True, text=True)
    assert [json.loads(ln)["letter_id"] for ln in proc.stdout.splitlines()] == [A, B]


def test_batch_stores_one_row_per_letter_and_skips_them_next_time(
    two_pdf: Path, letters_dir: Path, tmp_path: Path
) -> None:
    from llm_extract.devtools.hostile import blank_pdf, run_capped

    inbox = tmp_path / "in"
    inbox.mkdir()
    two_pdf.rename(inbox / "claim.pdf")
    (inbox / f"{B}.pdf").write_bytes((letters_dir / f"{B}.pdf").read_bytes())
    blank_pdf(inbox / "blank.pdf", pages=20_000)
    argv = [sys.executable, "-m", "llm_extract", "batch", str(inbox), "-o", str(tmp_path / "out")]
    # Capped: the 20,000-page PDF must not be able to take the machine's memory.
    proc = run_capped([*argv, "-b", "rules"], memory_mb=2048, timeout_s=300)
    assert proc.returncode == 1, proc.stderr  # the blank PDF failed, as it should
    db = sqlite3.connect(tmp_path / "out" / "batch.sqlite3")
    rows = sorted(db.execute("SELECT letter_id, status, error_class, key FROM results"))
    assert [r[:3] for r in rows] == [
        (A, "done", None),
        (B, "done", None),  # the letter alone
        (B, "done", None),  # the same letter inside claim.pdf: another file, another key
        ("blank", "failed", "TooManyPagesError"),
    ]
    assert len({r[3] for r in rows}) == 4
    again = run_capped([*argv, "-b", "rules"], memory_mb=2048, timeout_s=300)
    assert again.returncode == 1, again.stderr  # the stored failure still counts
    n = db.execute("SELECT SUM(attempts) FROM results").fetchone()[0]
    assert n == 4  # nothing extracted again


def test_batch_progress_counts_files_so_a_bundle_never_passes_the_total(
    two_pdf: Path, letters_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm_extract.batch import runner
    from llm_extract.batch.progress import BatchProgress
    from llm_extract.batch.run import BatchOptions
    from llm_extract.batch.runner import run_batch

    seen: list[BatchProgress] = []

    class Recorded(BatchProgress):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            seen.append(self)

    monkeypatch.setattr(runner, "BatchProgress", Recorded)
    inbox = tmp_path / "in"
    inbox.mkdir()
    two_pdf.rename(inbox / "claim.pdf")
    (inbox / f"{B}.pdf").write_bytes((letters_dir / f"{B}.pdf").read_bytes())
    from llm_extract.config import load_config

    opts = BatchOptions(
        inputs=[str(inbox)],
        outdir=tmp_path / "out",
        backend="rules",
        config=load_config(env={}, backend="rules"),
        progress=False,
    )
    summary = run_batch(opts)
    assert summary.total == 2 and summary.done == 3  # two files, three letters
    (progress,) = seen
    assert progress.total == 2 and progress.completed == 2 and progress.extracted == 2
