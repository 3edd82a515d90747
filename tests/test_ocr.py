"""OCR of scanned letters: image-only PDFs built from corpus letters, scored against gold.

Needs an OCR engine: the ``ocr`` extra (rapidocr + onnxruntime + Pillow) and/or
tesseract (``apt-get install tesseract-ocr``).  Skips with the reason when
none is installed, fails instead in CI (``CI=true`` and ``IMR_REQUIRE_CORPUS=1``),
where ``.ci/run`` installs them.  Two short letters keep the cost small;
speed is measured by ``benchmarks/bench_ocr.py``, not here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from llm_extract import extract
from llm_extract.errors import ScannedPdfError
from llm_extract.evaluation.gold import load_gold
from llm_extract.loading import load_letter
from llm_extract.models import OcrInfo, OcrPage, Record
from llm_extract.ocr import LOW_CONFIDENCE, resolve_engine

ROOT = Path(__file__).resolve().parents[1]
# Short labelled letters (holdout: not tuned on), one with an overturned item.
GOLD = ("CM17-0009574", "CM17-0009887")


def _require_engine(engine: str = "auto") -> str:
    found = resolve_engine(engine)
    if found is None:
        reason = f'no OCR engine ({engine}) installed: pip install -e ".[ocr]" / apt-get install tesseract-ocr'
        if os.environ.get("CI") == "true" and os.environ.get("IMR_REQUIRE_CORPUS") == "1":
            pytest.fail(reason + " (CI: .ci/run must install it)")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    pytest.importorskip("PIL", reason='Pillow (the ocr extra: pip install -e ".[ocr]") is needed')
    from llm_extract.devtools.scanned import image_only_pdf

    corpus = request.getfixturevalue("letters_dir")
    out = tmp_path_factory.mktemp("scans")
    for lid in GOLD:
        image_only_pdf(corpus / f"{lid}.pdf", out / f"{lid}.pdf")
    return out


def _gold() -> dict[str, object]:
    return {g.letter_id: g for g in load_gold(ROOT / "evals" / "fixtures") if g.letter_id in GOLD}


def test_scanned_pdf_has_no_text_layer_and_never_means_never(scans: Path) -> None:
    with pytest.raises(ScannedPdfError, match="no text layer"):
        load_letter(scans / f"{GOLD[0]}.pdf", ocr="never")


def test_without_an_engine_the_error_says_how_to_install(
    scans: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llm_extract.ocr as ocr

    monkeypatch.setattr(ocr, "rapidocr_installed", lambda: False)
    monkeypatch.setattr(ocr, "tesseract_installed", lambda: False)
    with pytest.raises(ScannedPdfError, match=r'pip install -e "\.\[ocr\]"'):
        load_letter(scans / f"{GOLD[0]}.pdf")


# rapidocr costs ~12 s of CPU per page here: one 2-page letter for it.
@pytest.mark.parametrize(("engine", "letters"), [("auto", GOLD), ("rapidocr", GOLD[:1])])
def test_ocr_extracts_scanned_letters_like_gold(
    scans: Path, engine: str, letters: tuple[str, ...], tmp_path: Path
) -> None:
    used = _require_engine(engine)
    if engine == "rapidocr" and resolve_engine("auto") == "rapidocr":
        pytest.skip("auto is rapidocr here: covered by the auto case")
    gold = _gold()
    lines = []
    for lid in letters:
        letter = load_letter(scans / f"{lid}.pdf", ocr_engine=engine)
        assert letter.text_source == "ocr"
        assert letter.ocr is not None and letter.ocr.engine == used
        assert [p.page for p in letter.ocr.pages] == [1, 2]
        assert all(p.confidence >= LOW_CONFIDENCE for p in letter.ocr.pages)
        record = extract(letter, backend="rules")
        assert record.provenance is not None and record.provenance.ocr == letter.ocr
        assert not record.needs_review, record.review_reasons
        want = gold[lid].record  # type: ignore[attr-defined]
        assert [(i.request, i.decision) for i in record.items] == [
            (i.request, i.decision) for i in want.items
        ]
        assert record.case_number == want.case_number
        assert record.decision_date == want.decision_date
        lines.append(record.to_json())
    # Scored by the eval harness like any run.
    from click.testing import CliRunner

    from llm_extract.cli import cli

    preds = tmp_path / "ocr.jsonl"
    preds.write_text("\n".join(lines) + "\n")
    gold_dir = tmp_path / "gold"
    gold_dir.mkdir()
    for lid in letters:
        src = next((ROOT / "evals" / "fixtures").rglob(f"{lid}.json"))
        (gold_dir / src.name).write_text(src.read_text())
    res = CliRunner().invoke(
        cli, ["eval", "--predictions", str(preds), "--gold", str(gold_dir), "--json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["decision_accuracy"] == 1.0
    assert doc["mean_field_score"] >= 0.95


def test_low_confidence_flags_the_record(letters_dir: Path) -> None:
    import dataclasses

    from llm_extract.document.completeness import flag_record

    letter = load_letter(letters_dir / f"{GOLD[0]}.pdf")
    letter = dataclasses.replace(
        letter, ocr=OcrInfo(engine="tesseract", pages=[OcrPage(page=1, confidence=0.41)])
    )
    record = flag_record(letter, extract(letter, backend="rules").model_copy(deep=True))
    assert isinstance(record, Record) and record.needs_review
    assert any("confidence" in r and "0.41" in r for r in record.review_reasons)


def _mixed_pdf(letters_dir: Path, scans: Path, out: Path) -> Path:
    """The text-layer pages of one letter followed by a scanned page of another."""
    import pypdfium2 as pdfium

    from llm_extract.pdf_pages import PDFIUM_LOCK

    with PDFIUM_LOCK:
        doc = pdfium.PdfDocument(str(letters_dir / f"{GOLD[1]}.pdf"))
        scan = pdfium.PdfDocument(str(scans / f"{GOLD[0]}.pdf"))
        doc.import_pages(scan, [1])
        doc.save(str(out))
        n = len(doc)
        scan.close()
        doc.close()
    assert n == 3
    return out


def test_scanned_page_among_text_pages(
    letters_dir: Path, scans: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llm_extract.ocr as ocr

    path = _mixed_pdf(letters_dir, scans, tmp_path / "mixed.pdf")
    engine = resolve_engine()
    if engine is not None:
        letter = load_letter(path)
        assert letter.text_source == "pdfium+ocr"
        assert letter.ocr is not None and [p.page for p in letter.ocr.pages] == [3]
    # Without an engine the text pages are read, the scanned one is named.
    monkeypatch.setattr(ocr, "rapidocr_installed", lambda: False)
    monkeypatch.setattr(ocr, "tesseract_installed", lambda: False)
    letter = load_letter(path)
    assert letter.unread_pages == (3,)
    record = extract(letter, backend="rules")
    assert record.items and record.needs_review
    assert any("page(s) 3 have no text layer" in r for r in record.review_reasons)


def test_upside_down_page_is_read_turned(scans: Path) -> None:
    """A page fed upside down (no angle classifier) reads badly, then is read turned."""
    import pypdfium2 as pdfium

    from llm_extract.ocr import ocr_images, render_page
    from llm_extract.pdf_pages import PDFIUM_LOCK

    engine = _require_engine()
    with PDFIUM_LOCK:
        doc = pdfium.PdfDocument(str(scans / f"{GOLD[0]}.pdf"))
        image = render_page(doc[0]).rotate(180)
        doc.close()
    (page,) = ocr_images([(1, image)], engine)
    assert page.confidence >= LOW_CONFIDENCE
    assert GOLD[0] in page.text.replace("O", "0")


def test_page_workers_are_bounded_by_pages_and_cores() -> None:
    from llm_extract.ocr import page_workers

    cores = os.cpu_count() or 1
    assert page_workers(1) == 1
    assert page_workers(3) == min(3, cores, 4)
    assert page_workers(100) <= 4
