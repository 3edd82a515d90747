"""Turn a file (PDF or text) or a string into a :class:`Letter`.

PDF pages are read by :mod:`llm_extract.pdf_pages`. By default their text
comes from pypdfium2 (PDFium): on this corpus it is ~10x faster than pypdf,
opens the AES-encrypted-with-empty-password letters without an extra crypto
dependency, and keeps reading order (see README, "Choice of PDF library").
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import ftfy

from .bundle import Piece, piece_ids, split_pages, split_text
from .config import Config, load_config
from .errors import (
    BundleError,
    ConfigError,
    EmptyLetterError,
    LetterNotFoundError,
    NotIMRLetterError,
    UnsupportedFormatError,
)
from .layout import Layout, detect_layout, imr_marker_count
from .limits import check_limit, check_time
from .models import LetterPart, OcrInfo
from .pdf_pages import PdfPages, pdf_pages
from .textroutes import OCR_MODES, TEXT_ROUTES, strip_page_furniture

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".pdf", ".txt")


@dataclass(frozen=True)
class Letter:
    """One letter's text, normalised, with where it came from.

    ``text`` is what every span in a record points into: the extracted text
    with mojibake repaired (ftfy), line endings as ``\\n`` and NFC unicode.
    """

    letter_id: str
    text: str
    source_file: str | None = None
    # How the text was obtained ("pdfium", "text", "ocr", "pdftotext-layout", …)
    # and, when OCR read some pages, the engine and per-page confidence.
    text_source: str | None = None
    ocr: OcrInfo | None = None
    # Pages that show an image but yielded no text (no OCR engine installed):
    # the record misses whatever they say, so the backends flag it.
    unread_pages: tuple[int, ...] = ()
    # Set when the file holds several letters and this is one of them.
    part: LetterPart | None = None

    @functools.cached_property
    def layout(self) -> Layout:
        """The letter's layout (computed once from the text: ~0.05 ms)."""
        return detect_layout(self.text)

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


def check_is_imr(text: str, letter_id: str) -> None:
    """Raise unless ``text`` carries two phrases of an IMR determination (any layout)."""
    if imr_marker_count(text) < 2:
        raise NotIMRLetterError(
            "this is not an IMR Final Determination letter (none of its section "
            "headings such as 'IMR ISSUES, DECISIONS AND RATIONALES' were found)",
            letter=letter_id,
        )


# Byte-order marks, UTF-32 before UTF-16 (whose little-endian mark begins UTF-32's).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (codecs.BOM_UTF8, "utf-8-sig"),
)


def decode_text(data: bytes) -> str:
    """A text file's bytes as text.

    Letters come as UTF-8 or Windows-1252 (PDF-to-text tools vary), or as
    UTF-16/32 with a byte-order mark (Windows "Unicode" text).  NULs go at once
    (UTF-16 without its mark reads as text with a NUL after each letter), so
    everything that reads the raw text, not only the normalised letter, sees
    its words.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError:
        raw = data.decode("cp1252", errors="replace")
    return raw.replace("\x00", "")


def letter_from_text(
    text: str,
    letter_id: str = "text",
    *,
    source_file: str | None = None,
    text_source: str | None = "text",
    ocr: OcrInfo | None = None,
    unread_pages: tuple[int, ...] = (),
    part: LetterPart | None = None,
) -> Letter:
    """A letter from text already in memory. Raises on empty or non-IMR text."""
    if not text or not text.strip():
        raise EmptyLetterError("the letter is empty", letter=letter_id)
    text = normalise_text(text)
    check_is_imr(text, letter_id)
    return Letter(
        letter_id=letter_id,
        text=text,
        source_file=source_file,
        text_source=text_source,
        ocr=ocr,
        unread_pages=unread_pages,
        part=part,
    )


def letters_from_text(
    raw: str, letter_id: str = "text", *, source_file: str | None = None, text_source: str = "text"
) -> list[Letter]:
    """The letters of a text: one, or one per letter when it holds several.

    A text with form feeds (a tool's text output) is cut at its page breaks,
    as a PDF is; a plain text by characters.  Each letter is normalised on its
    own, so it reads exactly as it would in a file of its own.
    """
    if "\f" in raw:
        pages = raw.split("\f")
        cut = split_pages(pages, letter_id)
        if cut is None:
            text = "\n".join(strip_page_furniture(pages))
            return [
                letter_from_text(text, letter_id, source_file=source_file, text_source=text_source)
            ]
        return [
            letter_from_text(
                "\n".join(strip_page_furniture(pages[p.start : p.end])),
                lid,
                source_file=source_file,
                text_source=text_source,
                part=LetterPart(index=k, count=len(cut), pages=(p.start + 1, p.end)),
            )
            for k, (p, lid) in enumerate(zip(cut, piece_ids(cut, letter_id), strict=True), 1)
        ]
    pieces = split_text(raw, letter_id)
    if pieces is None:
        return [letter_from_text(raw, letter_id, source_file=source_file, text_source=text_source)]
    return [
        letter_from_text(
            raw[p.start : p.end],
            lid,
            source_file=source_file,
            text_source=text_source,
            part=LetterPart(index=k, count=len(pieces), chars=(p.start, p.end)),
        )
        for k, (p, lid) in enumerate(zip(pieces, piece_ids(pieces, letter_id), strict=True), 1)
    ]


def _pdf_letters(got: PdfPages, lid: str, source_file: str) -> list[Letter]:
    """The letters of a PDF's pages: one, or one per letter when it holds several."""
    pieces: list[Piece] | None = split_pages(got.pages, lid)
    if pieces is None:
        return [
            letter_from_text(
                got.text(),
                lid,
                source_file=source_file,
                text_source=got.source,
                ocr=got.ocr,
                unread_pages=got.unread_pages,
            )
        ]
    letters = []
    for k, (p, part_id) in enumerate(zip(pieces, piece_ids(pieces, lid), strict=True), 1):
        first, last = p.start + 1, p.end
        letters.append(
            letter_from_text(
                got.text(first, last),
                part_id,
                source_file=source_file,
                text_source=got.source,
                ocr=got.ocr_of(first, last),
                unread_pages=got.unread_of(first, last),
                part=LetterPart(index=k, count=len(pieces), pages=(first, last)),
            )
        )
    return letters


def load_letters(
    path: str | Path,
    *,
    text_from: str | None = None,
    ocr: str | None = None,
    ocr_engine: str | None = None,
    config: Config | None = None,
) -> list[Letter]:
    """The letters of a ``.pdf`` or ``.txt`` file: one, or one per letter of a bundle.

    ``letter_id`` is the file stem for a file of one letter; in a file holding
    several (:mod:`llm_extract.bundle`) each letter's case number, or
    the stem plus ``-part<k>``.  ``text_from`` (a route of :data:`TEXT_ROUTES`,
    default ``pdfium``) says which extractor reads a PDF; ``ocr``
    (``auto``/``always``/``never``, default ``auto``) whether pages without a
    text layer go to OCR.  Unset arguments come from ``config``
    (``Config.text_from``/``ocr``/``ocr_engine``), as do the limits
    (``Config.max_file_mb`` …, :mod:`llm_extract.limits`).  A ``.txt`` letter
    is read as it is whatever the route.
    """
    if config is None:
        config = load_config()  # the environment's LLM_EXTRACT_TEXT_FROM, limits etc.
    text_from = text_from or config.text_from
    ocr = ocr or config.ocr
    ocr_engine = ocr_engine or config.ocr_engine
    p = Path(path)
    lid = p.stem
    if text_from not in TEXT_ROUTES:
        raise ConfigError(
            f"unknown text route {text_from!r}; choose one of {', '.join(TEXT_ROUTES)}",
            field="text_from",
        )
    if ocr not in OCR_MODES:
        raise ConfigError(
            f"unknown OCR mode {ocr!r}; choose one of {', '.join(OCR_MODES)}", field="ocr"
        )
    try:
        exists, is_file = p.exists(), p.is_file()
    except OSError as exc:  # e.g. a name too long for the file system
        raise LetterNotFoundError(
            f"cannot use {str(p)[:200]!r} as a file name: {exc.strerror}",
            letter=lid[:200],
            cause=exc,
        ) from exc
    if not exists:
        raise LetterNotFoundError(f"no such file: {p}", letter=lid)
    if not is_file:
        raise LetterNotFoundError(f"not a file: {p}", letter=lid)
    suffix = p.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFormatError(
            f"unsupported file type {suffix or '(none)'!r}; give a .pdf or .txt letter",
            letter=lid,
        )
    try:
        size = p.stat().st_size
        if size == 0:
            raise EmptyLetterError(f"the file is empty: {p}", letter=lid)
        check_limit(config, "max_file_mb", size / 1e6, f"the file has {size / 1e6:.1f} MB", lid)
        if suffix == ".pdf":
            got = pdf_pages(
                p, lid, text_from=text_from, ocr=ocr, ocr_engine=ocr_engine, config=config
            )
            check_time("cutting the file into letters")
            return _pdf_letters(got, lid, str(p))
        data = p.read_bytes()
    except OSError as exc:
        raise LetterNotFoundError(
            f"cannot read {p}: {exc.strerror}", letter=lid, cause=exc
        ) from exc
    raw = decode_text(data)
    del data
    check_limit(config, "max_chars", len(raw), f"the text has {len(raw)} characters", lid)
    return letters_from_text(raw, lid, source_file=str(p))


def load_letter(
    path: str | Path,
    *,
    text_from: str | None = None,
    ocr: str | None = None,
    ocr_engine: str | None = None,
    config: Config | None = None,
) -> Letter:
    """The one letter of a ``.pdf`` or ``.txt`` file (see :func:`load_letters`).

    Raises :class:`BundleError` when the file holds several letters: one
    record for them would be wrong, and :func:`load_letters` gives them all.
    """
    letters = load_letters(path, text_from=text_from, ocr=ocr, ocr_engine=ocr_engine, config=config)
    if len(letters) > 1:
        raise bundle_error(letters, Path(path).stem)
    return letters[0]


def bundle_error(letters: list[Letter], lid: str) -> BundleError:
    """The error for a caller that wanted one letter from a file holding several."""
    ids = ", ".join(letter.letter_id for letter in letters)
    return BundleError(
        f"the file holds {len(letters)} letters ({ids}); use llm_extract.extract_all() "
        "or load_letters() for one record each (the commands do this themselves)",
        letter=lid,
    )
