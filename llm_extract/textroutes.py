"""A PDF's text by another extractor than PDFium: pypdf or poppler's pdftotext.

``Config.text_from`` names the route (``--text-from``); the loader calls
:func:`route_pages` for every route but ``pdfium`` (its own, in-process) and
``ocr`` (:mod:`llm_extract.ocr`).  These routes exist so that a letter whose
text a user made with a common tool reads the same, and so the eval harness
can measure that (``llm-extract eval --text-from ROUTE``).  Each route returns
one string per page, so pages without a text layer can be sent to OCR.

A tool that is not installed is a :class:`BackendUnavailableError` naming
what to install; :func:`route_available` answers without raising (the eval
harness lists skipped routes with it).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

from .config import OCR_MODES, TEXT_ROUTES
from .errors import BackendUnavailableError, CorruptPdfError, EncryptedPdfError
from .ocr import ocr_unavailable_reason

# pdftotext ends each page with a form feed.
_FORM_FEED = "\f"
_PDFTOTEXT_TIMEOUT_S = 60.0


def route_available(route: str) -> str | None:
    """None when ``route`` can run here, else why not (what to install)."""
    if route in ("pdftotext", "pdftotext-layout"):
        if shutil.which("pdftotext") is None:
            return "pdftotext is not installed (Debian/Ubuntu: apt-get install poppler-utils)"
        return None
    if route in ("pypdf", "pypdf-layout"):
        if importlib.util.find_spec("pypdf") is None:
            return 'pypdf is not installed (pip install pypdf cryptography, or pip install -e ".[dev]")'
        if importlib.util.find_spec("cryptography") is None:
            # Every corpus PDF is AES-encrypted (empty user password); pypdf
            # needs a crypto provider to open them.
            return "pypdf needs cryptography for AES-encrypted PDFs (pip install cryptography)"
        return None
    if route == "ocr":
        return ocr_unavailable_reason()
    if route == "pdfium":
        return None
    return f"unknown text route {route!r}; choose one of {', '.join(TEXT_ROUTES)}"


def _require(route: str, letter_id: str) -> None:
    why = route_available(route)
    if why is not None:
        raise BackendUnavailableError(f"--text-from {route}: {why}", letter=letter_id)


def route_pages(route: str, path: Path, *, letter_id: str) -> list[str]:
    """The text of each page of the PDF at ``path`` by ``route`` (pypdf*, pdftotext*)."""
    _require(route, letter_id)
    if route.startswith("pdftotext"):
        return _pdftotext_pages(path, layout=route.endswith("-layout"), letter_id=letter_id)
    if route.startswith("pypdf"):
        return _pypdf_pages(path, layout=route.endswith("-layout"), letter_id=letter_id)
    raise BackendUnavailableError(
        f"no external extractor for text route {route!r}", letter=letter_id
    )


def _pdftotext_pages(path: Path, *, layout: bool, letter_id: str) -> list[str]:
    cmd = ["pdftotext", "-enc", "UTF-8"]
    if layout:
        cmd.append("-layout")
    cmd += [str(path), "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=_PDFTOTEXT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CorruptPdfError(
            f"pdftotext took more than {_PDFTOTEXT_TIMEOUT_S:.0f} s", letter=letter_id, cause=exc
        ) from exc
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = err[-1] if err else f"exit code {proc.returncode}"
        if "password" in reason.lower():
            raise EncryptedPdfError(
                f"pdftotext: {reason}; decrypt it first (qpdf --decrypt)", letter=letter_id
            )
        raise CorruptPdfError(f"pdftotext: {reason}", letter=letter_id)
    pages = proc.stdout.decode("utf-8", "replace").split(_FORM_FEED)
    if pages and not pages[-1].strip():
        pages.pop()  # the text after the last page's form feed
    return pages


def _pypdf_pages(path: Path, *, layout: bool, letter_id: str) -> list[str]:
    import pypdf  # the route's own dependency, imported only when chosen

    try:
        reader = pypdf.PdfReader(str(path))
        if reader.is_encrypted:
            reader.decrypt("")
        if layout:
            return [page.extract_text(extraction_mode="layout") or "" for page in reader.pages]
        return [page.extract_text() or "" for page in reader.pages]
    except pypdf.errors.FileNotDecryptedError as exc:
        raise EncryptedPdfError(
            "the PDF is encrypted and needs a password; decrypt it first",
            letter=letter_id,
            cause=exc,
        ) from exc
    except pypdf.errors.PyPdfError as exc:
        raise CorruptPdfError(f"pypdf: {exc}", letter=letter_id, cause=exc) from exc


# --- repairs of what an extractor does to words --------------------------------
# pdftotext and pypdf join a word broken at a line end and drop its hyphen
# ("right-\nsided" -> "rightsided"); PDFium marks that hyphen instead, and the
# loader keeps it unless the joined word occurs elsewhere.  The same evidence
# works backwards: a joined word whose hyphenated form occurs elsewhere in the
# letter gets its hyphen back.
_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")
# pypdf's layout mode places characters by their x positions and so cuts words
# where the PDF kerns them: "Treatmen t", "wer          e", "Non -MTUS",
# "2- 3", "year-oldmale".
_HYPHEN_GAP = re.compile(r"(?<=\w)(?:-[ ]+|[ ]+-)(?=\w)")
_SPLIT_WORD = re.compile(r"\b([A-Za-z]+)([ ]+)([a-z]+)\b")
_GLUED_SEX = re.compile(r"(?<=old)(male|female|man|woman)\b", re.I)
_LINE_END_HYPHEN = re.compile(r"(?<=[A-Za-z])-[ \t]*\n[ \t]*(?=[a-z])")
_DEHYPHENATING = ("pdftotext", "pdftotext-layout", "pypdf", "pypdf-layout")


def repair_route_text(route: str, text: str) -> str:
    """Undo what ``route``'s extractor did to words (see the patterns above)."""
    if route not in _DEHYPHENATING and route != "ocr":
        return text
    # A hyphen left at a line end is marked as PDFium marks it; the loader then
    # keeps it or joins the word by the same rule for every route.
    text = _LINE_END_HYPHEN.sub("\ufffe", text)
    if route == "ocr":
        return text
    if route == "pypdf-layout":
        text = _HYPHEN_GAP.sub("-", text)
        text = _GLUED_SEX.sub(r" \1", text)
        seen: dict[str, int] = {}
        for w in re.findall(r"[A-Za-z]+", text):
            seen[w.casefold()] = seen.get(w.casefold(), 0) + 1

        def join(m: re.Match[str]) -> str:
            # A fragment is a piece of a word when it occurs nowhere else and the
            # whole word does ("Uph eld" in a letter that says "Upheld" elsewhere).
            left, right = m[1], m[3]
            lone_left, lone_right = seen[left.casefold()] == 1, seen[right.casefold()] == 1
            if (left + right).casefold() in seen and (lone_left or lone_right):
                return left + right
            if len(left) == 1 and left.isupper() and left not in "AI" and lone_right:
                return left + right  # "W ashington"
            return m[0]

        text = _SPLIT_WORD.sub(join, text)
    words = _WORD.findall(text)
    # Only a joined word written once: one that occurs joined several times
    # ("Postsurgical" in every MTUS citation) is a word of its own, even when
    # "post-surgical" occurs too.
    counts: dict[str, int] = {}
    for w in words:
        if "-" not in w:
            counts[w.casefold()] = counts.get(w.casefold(), 0) + 1
    hyphenated = {
        w.replace("-", "").casefold(): w
        for w in words
        if w.count("-") == 1 and counts.get(w.replace("-", "").casefold()) == 1
    }
    if not hyphenated:
        return text

    def rehyphenate(m: re.Match[str]) -> str:
        word = m[0]
        if "-" in word:
            return word
        hy = hyphenated.get(word.casefold())
        if hy is None:
            return word
        # Keep the case of the joined word as written here.
        cut = hy.index("-")
        return f"{word[:cut]}-{word[cut:]}"

    return _WORD.sub(rehyphenate, text)


# --- page furniture ----------------------------------------------------------
# A scan, a fax or another extractor may put a page number, a "Page 2 of 4" or a
# running header/footer (a fax banner, a letterhead) between two lines of one
# statement; the parser would read it as part of a request.
_PAGE_NUMBER = re.compile(
    r"^\s*(?:-\s*)?(?:Page\s*)?\d{1,3}(?:\s*(?:of|/)\s*\d{1,3})?(?:\s*-)?\s*$", re.I
)
_DIGITS = re.compile(r"\d+")
# Lines looked at, at each end of a page.
_EDGE = 2


def _edges(lines: list[str], depth: int = _EDGE) -> list[int]:
    filled = [k for k, ln in enumerate(lines) if ln.strip()]
    return sorted(set(filled[:depth] + filled[-depth:]))


def _key(line: str) -> str:
    return _DIGITS.sub("#", line.strip()).casefold()


def strip_page_furniture(pages: list[str]) -> list[str]:
    """Drop page numbers and running headers/footers at the top and bottom of pages.

    A page number ("3", "- 3 -", "Page 3 of 4") is dropped among the first or
    last two lines of a page.  A running line is the first or last line of
    all pages but at most one (digits aside: a fax banner's time, a page
    number) and occurs nowhere else: a letter whose items repeat the same
    sentence ("Claims Administrator guideline: The Claims Administrator did
    not cite …") may start two pages with it, and it stays.
    """
    split = [page.split("\n") for page in pages]
    at_edge: dict[str, int] = {}
    inside: set[str] = set()
    for lines in split:
        edges = _edges(lines, 1)
        for k, line in enumerate(lines):
            if not line.strip():
                continue
            if k in edges:
                at_edge[_key(line)] = at_edge.get(_key(line), 0) + 1
            else:
                inside.add(_key(line))
    need = max(2, len(pages) - 1)
    running = {key for key, n in at_edge.items() if n >= need and key not in inside}
    out = []
    for lines in split:
        drop = {k for k in _edges(lines) if _PAGE_NUMBER.match(lines[k])}
        drop |= {k for k in _edges(lines, 1) if _key(lines[k]) in running}
        out.append("\n".join(ln for k, ln in enumerate(lines) if k not in drop))
    return out


__all__ = [
    "OCR_MODES",
    "TEXT_ROUTES",
    "repair_route_text",
    "route_available",
    "route_pages",
    "strip_page_furniture",
]
