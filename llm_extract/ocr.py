"""OCR for PDF pages without a text layer (scans, faxes, attorneys' copies).

Two engines, behind one function (:func:`ocr_pages`):

``rapidocr``
    The ``ocr`` extra (``pip install -e ".[ocr]"``: ``rapidocr`` +
    ``onnxruntime``).  Its PP-OCRv6 detection and recognition models ship
    inside the wheel, so nothing is downloaded at run time.  It returns text
    boxes with a score each; the boxes are put back into lines here (sorted
    by their vertical centre, joined left to right).
``tesseract``
    The Debian/Ubuntu package ``tesseract-ocr`` (a binary, not a pip
    package), run as a subprocess with one thread; per-word confidences from
    its TSV output.  Pages are handed to it as PNG files written by Pillow
    (which the extra installs).

``engine="auto"`` takes tesseract when its binary is on PATH (and Pillow, from
the extra, is installed), else rapidocr.  Both read the corpus letters' renders
with every decision right; tesseract costs ~1.8-2.3 s of CPU per page here,
rapidocr 7.4-9.9 s after tuning (its PP-OCRv6 recognizer alone 5.5-8 s: the
wheel has no smaller one).  Figures and what was tried: docs/text-routes.md.

Pages are rendered with PDFium at :data:`OCR_DPI` and read in parallel
(:func:`page_workers`).  A page's confidence is
the mean of its boxes'/words' confidences (0-1); a letter with any page under
:data:`LOW_CONFIDENCE` is flagged for review by the backends
(``Record.flag``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import OCR_ENGINES
from .errors import BackendUnavailableError

# 200 dpi: small print (the header's dates, "#60") reads reliably; 300 dpi
# costs twice the time for no gain on these letters (docs/text-routes.md).
OCR_DPI = 200
# A page whose mean confidence is below this is read badly enough that a
# person should check the record (clean renders score 0.97-1.0 with both
# engines; a blurred or skewed fax falls well below).
LOW_CONFIDENCE = 0.80
INSTALL_HINT = 'pip install -e ".[ocr]" (or install tesseract: apt-get install tesseract-ocr)'

_TESSERACT_TIMEOUT_S = 120.0
# Pages read at once, at most (memory: a 200 dpi page is ~4 MB as an image).
_MAX_PAGE_WORKERS = 4


@dataclass(frozen=True)
class OcrPageText:
    page: int  # 1-based
    text: str
    confidence: float


def rapidocr_installed() -> bool:
    return (
        importlib.util.find_spec("rapidocr") is not None
        and importlib.util.find_spec("onnxruntime") is not None
    )


def tesseract_installed() -> bool:
    # Pages reach tesseract as PNG files written by Pillow (in the ocr extra).
    return shutil.which("tesseract") is not None and importlib.util.find_spec("PIL") is not None


def resolve_engine(engine: str = "auto") -> str | None:
    """The engine that ``engine`` means here, or None when none is installed."""
    if engine == "rapidocr":
        return "rapidocr" if rapidocr_installed() else None
    if engine == "tesseract":
        return "tesseract" if tesseract_installed() else None
    # tesseract first: as accurate on these letters and ~4x cheaper per page
    # even after tuning rapidocr (docs/text-routes.md); rapidocr when only pip
    # packages can be installed.
    if tesseract_installed():
        return "tesseract"
    if rapidocr_installed():
        return "rapidocr"
    return None


def ocr_unavailable_reason(engine: str = "auto") -> str | None:
    if resolve_engine(engine) is not None:
        return None
    if engine == "rapidocr":
        return 'the ocr extra is not installed (pip install -e ".[ocr]")'
    if engine == "tesseract":
        return 'tesseract is not installed (apt-get install tesseract-ocr; pip install -e ".[ocr]")'

    return f"no OCR engine is installed ({INSTALL_HINT})"


def engine_version(engine: str) -> str | None:
    if engine == "rapidocr":
        try:
            return importlib.metadata.version("rapidocr")
        except importlib.metadata.PackageNotFoundError:
            return None
    try:
        out = subprocess.run(
            ["tesseract", "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0].split()[-1] if first else None


# --- rapidocr --------------------------------------------------------------

_RAPID: Any = None
_RAPID_LOCK = threading.Lock()

# rapidocr settings (measured on dev-split letters, docs/text-routes.md):
# - detection on the page scaled to at most 1280 px on its long side
#   (``limit_type: max``) instead of rapidocr's default of upscaling the short
#   side to >= 736 (which leaves a 200 dpi page at ~1540x2000): 40 % of the
#   pixels, nearly the same boxes (a word space differs in ~1 place per page,
#   either way); 960 px starts to clip characters.  The boxes are cut from the
#   full-resolution page, so the recognizer sees the same pixels.
# - one onnxruntime thread per call, and pages read in parallel instead
#   (:func:`ocr_images`): two threads inside one call contend and spin
#   (11.7 s of CPU per page against 7.7-8.7 s with one thread per call and
#   two pages at once, on this 2-core machine).
# - recognition batches of 6 (rapidocr's default): its crops are sorted by
#   width, larger batches pad more and were slower here.
# - no angle classifier: PDF pages are upright; an upside-down page is caught
#   by its confidence instead (:func:`_read_upright`).
_RAPID_PARAMS: dict[str, Any] = {
    "Global.use_cls": False,
    "Global.log_level": "warning",
    "Det.limit_type": "max",
    "Det.limit_side_len": 1280,
    "EngineConfig.onnxruntime.intra_op_num_threads": 1,
    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
}


def _rapid_engine() -> Any:
    """One RapidOCR instance per process, shared by the page threads.

    Loading the models takes ~1 s; onnxruntime sessions may be run from
    several threads at once and rapidocr keeps no per-call state.
    """
    global _RAPID
    with _RAPID_LOCK:
        if _RAPID is None:
            from rapidocr import RapidOCR

            _RAPID = RapidOCR(params=dict(_RAPID_PARAMS))
        return _RAPID


def _boxes_to_lines(boxes: Sequence[Any], txts: Sequence[str], scores: Sequence[float]) -> str:
    """Text boxes back into lines: same line when the vertical centres are close.

    Boxes of one printed line (a header's label and its value in another
    column) are joined left to right with a space, as PDFium writes them.
    """
    items = []
    for box, txt, score in zip(boxes, txts, scores, strict=False):
        ys = [float(p[1]) for p in box]
        xs = [float(p[0]) for p in box]
        items.append((min(ys), max(ys), min(xs), txt, score))
    items.sort(key=lambda it: ((it[0] + it[1]) / 2, it[2]))
    lines: list[list[tuple[float, float, float, str, float]]] = []
    for it in items:
        centre = (it[0] + it[1]) / 2
        if lines:
            last = lines[-1]
            top = sum(x[0] for x in last) / len(last)
            bottom = sum(x[1] for x in last) / len(last)
            if abs(centre - (top + bottom) / 2) < (bottom - top) * 0.5:
                last.append(it)
                continue
        lines.append([it])
    return "\n".join(" ".join(x[3] for x in sorted(line, key=lambda x: x[2])) for line in lines)


def _rapid_page(image: Any) -> tuple[str, float]:
    import numpy as np

    result = _rapid_engine()(np.asarray(image.convert("RGB")))
    txts = list(result.txts or ())
    scores = [float(s) for s in (result.scores or ())]
    if not txts:
        return "", 0.0
    return _boxes_to_lines(result.boxes, txts, scores), sum(scores) / len(scores)


# --- tesseract -------------------------------------------------------------


def _tesseract_page(image: Any) -> tuple[str, float]:
    """Text (tesseract's own line grouping) and the mean word confidence."""
    with tempfile.TemporaryDirectory(prefix="llm-extract-ocr-") as tmp:
        png = Path(tmp) / "page.png"
        image.save(png)
        # One thread: OpenMP threads fight each other on a busy machine (2 s
        # per page with one thread, 9 s with the default, measured here).
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        proc = subprocess.run(
            ["tesseract", str(png), "-", "--psm", "4", "tsv"],
            capture_output=True,
            text=True,
            timeout=_TESSERACT_TIMEOUT_S,
            env=env,
            check=False,
        )
    if proc.returncode != 0:
        raise BackendUnavailableError(f"tesseract failed: {proc.stderr.strip()[-200:]}")
    lines: dict[tuple[int, int, int], list[str]] = {}
    order: list[tuple[int, int, int]] = []
    confs: list[float] = []
    for row in proc.stdout.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        word = cols[11]
        if not word.strip():
            continue
        key = (int(cols[2]), int(cols[3]), int(cols[4]))  # block, paragraph, line
        if key not in lines:
            lines[key] = []
            order.append(key)
        lines[key].append(word)
        conf = float(cols[10])
        if conf >= 0:
            confs.append(conf / 100.0)
    text = "\n".join(" ".join(lines[k]) for k in order)
    return text, (sum(confs) / len(confs) if confs else 0.0)


# --- pages -----------------------------------------------------------------


def render_page(page: Any, dpi: int = OCR_DPI) -> Any:
    """A PDFium page as a greyscale PIL image at ``dpi``."""
    return page.render(scale=dpi / 72, grayscale=True).to_pil()


def page_workers(n_pages: int) -> int:
    """How many pages are read at once: one per core (each engine call uses one thread)."""
    return max(1, min(n_pages, os.cpu_count() or 1, _MAX_PAGE_WORKERS))


def _read_upright(read: Any, image: Any) -> tuple[str, float]:
    """``read(image)``, and again turned 180 degrees when it reads badly.

    Neither engine looks at orientation (no angle classifier, tesseract's
    ``--psm 4``); an upside-down page (a fax fed the wrong way) reads as
    low-confidence noise.  Only such a page pays for the second read.
    """
    text, conf = read(image)
    if conf >= LOW_CONFIDENCE:
        return text, conf
    turned, turned_conf = read(image.rotate(180))
    return (turned, turned_conf) if turned_conf > conf else (text, conf)


def ocr_images(images: Sequence[tuple[int, Any]], engine: str) -> list[OcrPageText]:
    """OCR ``(page_number, PIL image)`` pairs with a resolved engine, in page order.

    Pages are read by :func:`page_workers` threads: the engines release the
    GIL (onnxruntime runs, tesseract subprocesses), so two pages on two cores
    take the time of one.
    """
    read = _rapid_page if engine == "rapidocr" else _tesseract_page
    if engine == "rapidocr":
        _rapid_engine()  # load once, before the threads race for it

    def one(item: tuple[int, Any]) -> OcrPageText:
        number, image = item
        text, conf = _read_upright(read, image)
        return OcrPageText(page=number, text=text, confidence=round(min(1.0, conf), 4))

    workers = page_workers(len(images))
    if workers == 1:
        return [one(item) for item in images]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm-extract-ocr") as pool:
        return list(pool.map(one, images))


def require_engine(engine: str, letter_id: str) -> str:
    resolved = resolve_engine(engine)
    if resolved is None:
        raise BackendUnavailableError(
            f"OCR is needed but {ocr_unavailable_reason(engine)}", letter=letter_id
        )
    return resolved


__all__ = [
    "INSTALL_HINT",
    "LOW_CONFIDENCE",
    "OCR_DPI",
    "OCR_ENGINES",
    "OcrPageText",
    "engine_version",
    "ocr_images",
    "ocr_unavailable_reason",
    "page_workers",
    "render_page",
    "require_engine",
    "resolve_engine",
]
