"""Turn a file (PDF or text) or a string into a :class:`Letter`.

PDF text comes from pypdfium2 (PDFium): on this corpus it is ~10x faster than
pypdf, opens the AES-encrypted-with-empty-password letters without an extra
crypto dependency, and keeps reading order (see README, "Choice of PDF library").
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ftfy

from .errors import (
    CorruptPdfError,
    EmptyLetterError,
    EncryptedPdfError,
    LetterNotFoundError,
    NotIMRLetterError,
    ScannedPdfError,
    UnsupportedFormatError,
)

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".pdf", ".txt")

# PDFium is not thread-safe: two threads opening PDFs at once crash the process
# (seen with the batch's thread pool). Every PDFium call goes through this lock.
_PDFIUM_LOCK = threading.Lock()

# Phrases every IMR Final Determination carries, in either layout.  Two of them
# must be present; one alone is too weak (a rationale may quote "MAXIMUS").
_IMR_MARKERS = (
    re.compile(r"IMR\s+FINAL\s+DETERMINATION", re.I),
    re.compile(r"MAXIMUS\s+Federal\s+Services", re.I),
    re.compile(r"IMR\s+ISSUES,?\s+DECISIONS", re.I),
    re.compile(r"Independent\s+Medical\s+Review", re.I),
    re.compile(r"CLINICAL\s+CASE\s+SUMMARY", re.I),
    re.compile(r"expert\s+reviewer", re.I),
)


@dataclass(frozen=True)
class Letter:
    """One letter's text, normalised, with where it came from.

    ``text`` is what every span in a record points into: the extracted text
    with mojibake repaired (ftfy), line endings as ``\\n`` and NFC unicode.
    """

    letter_id: str
    text: str
    source_file: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


# PDFium reports a hyphen it found at a line end as U+FFFE and joins the two
# lines.  Most are real hyphens ("x-ray", "right-sided", "non-steroidal"); some
# are word breaks ("Guide-lines", "Electro-diagnostic").
_PDFIUM_HYPHEN = re.compile(r"(\w*)\ufffe(\w*)")


def _resolve_pdfium_hyphens(text: str) -> str:
    """Undo a line-break hyphen only when the joined word occurs elsewhere in the letter.

    That is the evidence a reader uses too: "Electrodiagnostic" written whole in
    a heading means "Electro-diagnostic" at a line end was a break, while
    "rightsided" never occurs, so "right-sided" keeps its hyphen.
    """
    if "\ufffe" not in text:
        return text
    words = {w.casefold() for w in re.findall(r"\w+", text.replace("\ufffe", " "))}

    def join(m: re.Match[str]) -> str:
        left, right = m[1], m[2]
        joined = left + right
        if left and right and right[:1].islower() and joined.casefold() in words:
            return joined
        return f"{left}-{right}"

    return _PDFIUM_HYPHEN.sub(join, text)


# In ASCII text the only characters any of ftfy's fixes (as configured in
# normalise_text) act on: "&" (HTML entities), the control characters ftfy
# removes (ESC, which starts terminal escapes, among them), and "\r" (line breaks).
_FTFY_ASCII_WORK = re.compile(r"[&\x00-\x08\x0b\x0e-\x1f\x7f]")
_FTFY_CONFIG = ftfy.TextFixerConfig(
    normalization="NFC", uncurl_quotes=False, fix_line_breaks=True, explain=False
)


def _ascii_line_breaks(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")  # = ftfy's fix_line_breaks


def _fix_text(raw: str) -> str:
    """``ftfy.fix_text(raw, config=_FTFY_CONFIG)``, without its cost where it has nothing to do.

    ftfy runs its dozen fixes on each line (~3.5 ms for a letter), yet on ASCII
    text without "&" or control characters every fix but the line-break one is a
    no-op: ASCII cannot be mojibake, and ligatures, wide forms, C1 controls,
    surrogates and NFC all lie outside it.  Such a letter (most are) skips ftfy;
    in any other letter only the lines that are not such text go through it.
    This is ftfy.fix_text's own loop (same segments, same carried-over HTML
    setting), so the result is the same.
    """
    if raw.isascii() and not _FTFY_ASCII_WORK.search(raw):
        return _ascii_line_breaks(raw)
    config = _FTFY_CONFIG
    out: list[str] = []
    pos = 0
    while pos < len(raw):
        textbreak = raw.find("\n", pos) + 1
        if textbreak == 0:
            textbreak = len(raw)
        if (textbreak - pos) > config.max_decode_length:
            textbreak = pos + config.max_decode_length
        segment = raw[pos:textbreak]
        if config.unescape_html == "auto" and "<" in segment:
            config = config._replace(unescape_html=False)
        if segment.isascii() and not _FTFY_ASCII_WORK.search(segment):
            out.append(_ascii_line_breaks(segment))
        else:
            out.append(ftfy.fix_and_explain(segment, config).text)
        pos = textbreak
    return "".join(out)


def normalise_text(raw: str) -> str:
    """Repair mojibake (``Â§`` -> ``§``), PDFium line-end hyphens, line endings; NFC."""
    text = _fix_text(raw)
    text = _resolve_pdfium_hyphens(text.replace("\x00", ""))
    return unicodedata.normalize("NFC", text)


def pdf_text(path: Path, *, letter_id: str | None = None) -> str:
    """All pages' text from a PDF, pages joined by a newline."""
    import pypdfium2 as pdfium  # imported here: loading text letters never needs it

    lid = letter_id or path.stem
    with _PDFIUM_LOCK:
        return _pdf_text_locked(pdfium, path, lid)


def _pdf_text_locked(pdfium: Any, path: Path, lid: str) -> str:
    try:
        doc = pdfium.PdfDocument(str(path))
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
    try:
        pages = []
        for page in doc:
            textpage = page.get_textpage()
            pages.append(textpage.get_text_range())
            textpage.close()
            page.close()
    except pdfium.PdfiumError as exc:
        raise CorruptPdfError(f"PDF page unreadable ({exc})", letter=lid, cause=exc) from exc
    finally:
        doc.close()
    text = "\n".join(pages)
    if not text.strip():
        raise ScannedPdfError(
            f"the PDF has {len(pages)} page(s) but no text layer (a scan?); "
            "run OCR (e.g. ocrmypdf) and extract the result",
            letter=lid,
        )
    return text


def check_is_imr(text: str, letter_id: str) -> None:
    hits = sum(1 for marker in _IMR_MARKERS if marker.search(text))
    if hits < 2:
        raise NotIMRLetterError(
            "this is not an IMR Final Determination letter (none of its section "
            "headings such as 'IMR ISSUES, DECISIONS AND RATIONALES' were found)",
            letter=letter_id,
        )


def letter_from_text(text: str, letter_id: str = "text", *, source_file: str | None = None) -> Letter:
    """A letter from text already in memory. Raises on empty or non-IMR text."""
    if not text or not text.strip():
        raise EmptyLetterError("the letter is empty", letter=letter_id)
    text = normalise_text(text)
    check_is_imr(text, letter_id)
    return Letter(letter_id=letter_id, text=text, source_file=source_file)


def load_letter(path: str | Path) -> Letter:
    """Load a ``.pdf`` or ``.txt`` letter; ``letter_id`` is the file stem."""
    p = Path(path)
    lid = p.stem
    if not p.exists():
        raise LetterNotFoundError(f"no such file: {p}", letter=lid)
    if not p.is_file():
        raise LetterNotFoundError(f"not a file: {p}", letter=lid)
    suffix = p.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFormatError(
            f"unsupported file type {suffix or '(none)'!r}; give a .pdf or .txt letter",
            letter=lid,
        )
    try:
        if p.stat().st_size == 0:
            raise EmptyLetterError(f"the file is empty: {p}", letter=lid)
        if suffix == ".pdf":
            raw = pdf_text(p, letter_id=lid)
        else:
            data = p.read_bytes()
            # Letters come as UTF-8 or Windows-1252 (PDF-to-text tools vary).
            try:
                raw = data.decode("utf-8")
            except UnicodeDecodeError:
                raw = data.decode("cp1252", errors="replace")
    except OSError as exc:
        raise LetterNotFoundError(f"cannot read {p}: {exc.strerror}", letter=lid, cause=exc) from exc
    return letter_from_text(raw, lid, source_file=str(p))


def iter_letter_paths(inputs: list[str | Path]) -> list[Path]:
    """Expand files and folders (non-recursive sorted listing) into letter paths.

    A path that does not exist is returned as-is so the caller reports it as a
    per-letter error instead of silently dropping it.
    """
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out.extend(
                sorted(c for c in p.rglob("*") if c.is_file() and c.suffix.lower() in SUPPORTED_SUFFIXES)
            )
        else:
            out.append(p)
    return out
