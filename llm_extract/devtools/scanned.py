"""Make an image-only PDF (a "scan") from a PDF, for tests and benchmarks of OCR.

Each page is rendered by PDFium and written back as one image per page with
Pillow, so the result has no text layer at all, like a scanned or faxed letter.
Needs Pillow (a dependency of the ``ocr`` extra).
"""

from __future__ import annotations

from pathlib import Path

from ..pdf_pages import PDFIUM_LOCK  # PDFium is not thread-safe


def image_only_pdf(src: str | Path, dst: str | Path, *, dpi: int = 200) -> int:
    """Write ``dst``: the pages of ``src`` as images at ``dpi``; returns the page count."""
    import pypdfium2 as pdfium

    with PDFIUM_LOCK:
        doc = pdfium.PdfDocument(str(src))
        try:
            images = [page.render(scale=dpi / 72, grayscale=True).to_pil() for page in doc]
        finally:
            doc.close()
    first, rest = images[0], images[1:]
    first.save(str(dst), "PDF", resolution=float(dpi), save_all=True, append_images=rest)
    return len(images)
