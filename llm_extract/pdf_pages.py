"""A PDF's text page by page: PDFium's text layer, another extractor's, or OCR.

Which pages have no text layer (a scan's pages show an image; a blank trailing
page does not), which of them to OCR under ``--ocr auto|always|never``, and
what the OCR engine reported about them (provenance).  :mod:`llm_extract.loading`
turns the result into a :class:`~llm_extract.loading.Letter`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CorruptPdfError, EncryptedPdfError, ScannedPdfError
from .models import OcrInfo, OcrPage
from .ocr import (
    INSTALL_HINT,
    engine_version,
    ocr_images,
    ocr_unavailable_reason,
    render_page,
    resolve_engine,
)
from .textroutes import repair_route_text, route_pages, strip_page_furniture

# PDFium is not thread-safe: two threads opening PDFs at once crash the process
# (seen with the batch's thread pool). Every PDFium call goes through this lock.
PDFIUM_LOCK = threading.Lock()


def _pdfium_page_info(path: Path, lid: str) -> list[tuple[str, bool]]:
    """Each page's PDFium text and whether the page carries an image (a scan's page does)."""
    import pypdfium2 as pdfium  # imported here: loading text letters never needs it
    import pypdfium2.raw as pdfium_c

    with PDFIUM_LOCK:
        doc = _open_pdf(pdfium, path, lid)
        try:
            pages = []
            for page in doc:
                textpage = page.get_textpage()
                text = textpage.get_text_range()
                textpage.close()
                has_image = False
                if len(text.strip()) < _MIN_PAGE_CHARS:
                    # Only asked for pages without text: walking objects costs time.
                    has_image = any(
                        obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE for obj in page.get_objects()
                    )
                pages.append((text, has_image))
                page.close()
        except pdfium.PdfiumError as exc:
            raise CorruptPdfError(f"PDF page unreadable ({exc})", letter=lid, cause=exc) from exc
        finally:
            doc.close()
    return pages


def _open_pdf(pdfium: Any, path: Path, lid: str) -> Any:
    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        msg = str(exc).lower()
        if "password" in msg:
            raise EncryptedPdfError(
                "the PDF is encrypted and needs a password; decrypt it first "
                "(e.g. qpdf --decrypt --password=... in.pdf out.pdf)",
                letter=lid,
                cause=exc,
            ) from exc
        raise CorruptPdfError(
            f"not a readable PDF ({exc}); re-download or re-export it", letter=lid, cause=exc
        ) from exc


def _scanned_error(n_pages: int, lid: str, *, why: str | None) -> ScannedPdfError:
    how = why or f"OCR is off (--ocr never); use --ocr auto with {INSTALL_HINT}"
    return ScannedPdfError(
        f"the PDF has {n_pages} page(s) but no text layer (a scan?) and {how}",
        letter=lid,
    )


def _ocr_pdf_pages(
    path: Path, lid: str, numbers: list[int], engine: str
) -> tuple[dict[int, str], OcrInfo]:
    """OCR the 1-based ``numbers`` pages of the PDF; their text and the provenance."""
    import pypdfium2 as pdfium

    with PDFIUM_LOCK:
        doc = _open_pdf(pdfium, path, lid)
        try:
            images = []
            for n in numbers:
                page = doc[n - 1]
                images.append((n, render_page(page)))
                page.close()
        finally:
            doc.close()
    read = ocr_images(images, engine)
    info = OcrInfo(
        engine=engine,
        engine_version=engine_version(engine),
        pages=[OcrPage(page=p.page, confidence=p.confidence) for p in read],
    )
    return {p.page: p.text for p in read}, info


# A page with less text than this has no real text layer (a scan may carry a
# stray OCR'd page number or a fax banner).
_MIN_PAGE_CHARS = 40


@dataclass(frozen=True)
class _PdfText:
    text: str
    source: str
    ocr: OcrInfo | None
    unread_pages: tuple[int, ...]


def pdf_letter_text(
    path: Path, lid: str, *, text_from: str, ocr: str, ocr_engine: str
) -> _PdfText:
    """The text of a PDF by the chosen route, with OCR where it is needed and allowed."""
    if text_from == "ocr":
        ocr = "always"
    info_pages = _pdfium_page_info(path, lid)
    if text_from in ("pdfium", "ocr"):
        pages = [text for text, _image in info_pages]
        source = "pdfium"
    else:
        pages = route_pages(text_from, path, letter_id=lid)
        source = text_from
    if len(pages) < len(info_pages):
        pages += [""] * (len(info_pages) - len(pages))
    no_text = not "".join(pages).strip()
    # A page without a text layer needs OCR when it shows an image (a scan);
    # a blank page (the corpus has trailing ones) does not.
    scanned = [
        k + 1
        for k, page in enumerate(pages)
        if len(page.strip()) < _MIN_PAGE_CHARS and (k >= len(info_pages) or info_pages[k][1])
    ]
    if ocr == "always":
        todo = list(range(1, len(pages) + 1))
    elif ocr == "auto":
        todo = list(range(1, len(pages) + 1)) if no_text else scanned
    else:
        if no_text:
            raise _scanned_error(len(pages), lid, why=None)
        todo = []
    engine = resolve_engine(ocr_engine) if todo else None
    if todo and engine is None:
        if ocr == "always" or no_text:
            raise _scanned_error(len(pages), lid, why=ocr_unavailable_reason(ocr_engine))
        # The pages with text are still worth reading; the scanned ones are
        # lost, which the backends flag (Letter.unread_pages).
        return _PdfText("\n".join(pages), source, None, tuple(todo))
    info = None
    if todo and engine is not None:
        texts, info = _ocr_pdf_pages(path, lid, todo, engine)
        for n, text in texts.items():
            pages[n - 1] = repair_route_text("ocr", text)
        source = "ocr" if len(todo) == len(pages) else f"{source}+ocr"
    text = repair_route_text(text_from, "\n".join(strip_page_furniture(pages)))
    if not text.strip():
        raise _scanned_error(len(pages), lid, why="OCR found no text on its pages")
    unread = tuple(k + 1 for k in range(len(pages)) if k + 1 in scanned and not pages[k].strip())
    return _PdfText(text, source, info, unread)
