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

from .config import Config
from .errors import CorruptPdfError, EncryptedPdfError, ScannedPdfError
from .limits import check_limit, check_time
from .models import OcrInfo, OcrPage
from .ocr import (
    INSTALL_HINT,
    OcrPageText,
    engine_version,
    ocr_images,
    ocr_unavailable_reason,
    page_workers,
    render_page,
    resolve_engine,
)
from .textroutes import repair_route_text, route_pages, strip_page_furniture

# PDFium is not thread-safe: two threads opening PDFs at once crash the process
# (seen with the batch's thread pool). Every PDFium call goes through this lock.
PDFIUM_LOCK = threading.Lock()


def _pdfium_page_info(path: Path, lid: str, config: Config) -> list[tuple[str, bool]]:
    """Each page's PDFium text and whether the page carries an image (a scan's page does).

    The page count is checked against ``config.max_pages`` before any page is
    read, the text read so far against ``config.max_chars`` after each page,
    and the letter's time budget between pages.
    """
    import pypdfium2 as pdfium  # imported here: loading text letters never needs it
    import pypdfium2.raw as pdfium_c

    with PDFIUM_LOCK:
        doc = _open_pdf(pdfium, path, lid)
        try:
            n_pages = len(doc)
            check_limit(config, "max_pages", n_pages, f"the PDF has {n_pages} pages", lid)
            pages = []
            chars = 0
            for k in range(n_pages):
                check_time(f"reading page {k + 1}")
                page = doc[k]
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
                chars += len(text)
                check_limit(
                    config, "max_chars", chars, f"the PDF's text has over {chars} characters", lid
                )
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
    """OCR the 1-based ``numbers`` pages of the PDF; their text and the provenance.

    Pages are rendered a window at a time (as many as are read at once,
    :func:`page_workers`) and each window is read before the next is
    rendered: memory holds a few page images (~4 MB each at 200 dpi), however
    many pages the PDF has.
    """
    import pypdfium2 as pdfium

    window = page_workers(len(numbers))
    read: list[OcrPageText] = []
    for at in range(0, len(numbers), window):
        chunk = numbers[at : at + window]
        check_time(f"OCR of page {chunk[0]}")
        with PDFIUM_LOCK:
            doc = _open_pdf(pdfium, path, lid)
            try:
                images = []
                for n in chunk:
                    page = doc[n - 1]
                    images.append((n, render_page(page)))
                    page.close()
            finally:
                doc.close()
        read.extend(ocr_images(images, engine))
        del images
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
class PdfPages:
    """A PDF's text page by page (after OCR and the route's repairs), and how it was read.

    :meth:`text` joins a run of pages as one letter's text; a file holding
    several letters (:mod:`llm_extract.bundle`) joins each letter's
    pages on their own, so each reads as it would alone.
    """

    pages: list[str]
    text_from: str
    source: str
    ocr: OcrInfo | None
    # 1-based pages that show an image but yielded no text.
    unread_pages: tuple[int, ...]

    def text(self, first: int = 1, last: int | None = None) -> str:
        """The text of pages ``first``..``last`` (1-based, inclusive) as one letter."""
        pages = self.pages[first - 1 : last]
        return repair_route_text(self.text_from, "\n".join(strip_page_furniture(pages)))

    def ocr_of(self, first: int, last: int) -> OcrInfo | None:
        """The OCR provenance of pages ``first``..``last``, numbered from ``first`` = 1."""
        if self.ocr is None:
            return None
        pages = [
            OcrPage(page=p.page - first + 1, confidence=p.confidence)
            for p in self.ocr.pages
            if first <= p.page <= last
        ]
        if not pages:
            return None
        return self.ocr.model_copy(update={"pages": pages})

    def unread_of(self, first: int, last: int) -> tuple[int, ...]:
        """The unread pages among ``first``..``last``, numbered from ``first`` = 1."""
        return tuple(n - first + 1 for n in self.unread_pages if first <= n <= last)


def pdf_pages(
    path: Path, lid: str, *, text_from: str, ocr: str, ocr_engine: str, config: Config
) -> PdfPages:
    """The text of each page of a PDF by the chosen route, with OCR where it is needed and allowed.

    Raises a :class:`~llm_extract.errors.LimitExceededError` past
    ``config.max_pages``, ``max_chars`` or ``max_ocr_pages`` (before any page
    is rendered), and past the letter's time budget between pages.
    """
    if text_from == "ocr":
        ocr = "always"
    info_pages = _pdfium_page_info(path, lid, config)
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
        return PdfPages(pages, text_from, source, None, tuple(todo))
    info = None
    if todo and engine is not None:
        check_limit(
            config, "max_ocr_pages", len(todo), f"{len(todo)} pages of the PDF need OCR", lid
        )
        texts, info = _ocr_pdf_pages(path, lid, todo, engine)
        for n, text in texts.items():
            pages[n - 1] = repair_route_text("ocr", text)
        source = "ocr" if len(todo) == len(pages) else f"{source}+ocr"
    if not "".join(pages).strip():
        raise _scanned_error(len(pages), lid, why="OCR found no text on its pages")
    unread = tuple(k + 1 for k in range(len(pages)) if k + 1 in scanned and not pages[k].strip())
    return PdfPages(pages, text_from, source, info, unread)
