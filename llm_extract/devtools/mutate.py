"""Mutators of real letters, for the fuzzing campaign (tests/test_fuzz.py, benchmarks/fuzz.py).

A user's archive holds letters that other people assembled: cut off, merged,
re-encoded, re-typed.  Each mutator here makes one such change to a real
letter, deterministically from a :class:`random.Random`, so a failing input
is reproduced from its seed alone:

* text mutators (``str -> str``) work on a letter's text: sections deleted,
  repeated or moved, headings misspelt, numbers and dates pushed to extremes,
  quantities made negative, text repeated, two letters spliced into one,
  unicode noise, line endings, a decision turned round;
* encoders (``str -> bytes``) write the text as a ``.txt`` file would come:
  UTF-8 with or without a BOM, UTF-16/32, Latin-1, Windows-1252, mojibake;
* byte and PDF mutators (:mod:`.mutate_files`) damage any file, or change a
  PDF's structure.

:func:`mutants` draws an endless, reproducible stream of mutated files from
seed letters; :data:`MUTATORS` names every mutator for the campaign's counts.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .mutate_files import BYTE_MUTATORS, PDF_MUTATORS

TextMutator = Callable[[random.Random, str, str], str]  # (rng, text, donor text)
Encoder = Callable[[str], bytes]

# Repeating text stops growing a letter past this: the campaign is about odd
# letters, not about the size limits (those have their own tests).
MAX_GROWN_CHARS = 400_000

# A section starts at a line in capitals or at one of the item labels.
_HEADING_LINE = re.compile(
    r"^[ \t]*(?:[A-Z][A-Z ,()'&/\-]{7,}[A-Z)][ \t]*"
    r"|(?:Claims Administrator guideline|MAXIMUS guideline|Decision rationale)\b.*)$",
    re.M,
)
_NUMBER = re.compile(r"\d+")
_DATE = re.compile(r"\b\d{1,2}[/-]\d{1,2}[/-]\d{2,4}\b")
_QUANTITY = re.compile(r"(?:(?<=[#xX])|(?<=[xX] ))(?=\d)")
_DECISION_WORD = re.compile(r"\b(Upheld|Overturned|UPHELD|OVERTURNED|upheld|overturned)\b")

EXTREME_NUMBERS = (
    "0",
    "-1",
    "-99999",
    "00000000",
    "9" * 30,
    "1" + "0" * 29,
    "-" + "7" * 30,
    "4294967296",
    "18446744073709551616",
)
EXTREME_DATES = (
    "00/00/0000",
    "01/01/0000",
    "12/31/9999",
    "99/99/9999",
    "10/99/2016",
    "02/30/2016",
    "13/45/2016",
    "00-00-00",
    "12-31-99",
    "0/0/0",
    "1/1/10000",
)
NOISE = (
    "\u200b",  # zero-width space
    "\u00a0",  # no-break space
    "\ufeff",  # a BOM in the middle of the text
    "\u202e",  # right-to-left override
    "\x00",
    "\x0c",  # form feed (a page break in extractor output)
    "\x1b[31m",  # a terminal escape
    "\u0301",  # a combining accent
    "\ufffd",
    "\ufffe",  # what PDFium reports for a line-end hyphen
    "\r",
    "\t",
    "\U0001f600",
    "\ufb01",  # the "fi" ligature
    "\u2028",  # line separator
    "&amp;",
    "Â§",  # mojibake of "§"
)


def _sections(text: str) -> list[int]:
    """Where each section starts (heading lines), with 0 and len(text) at the ends."""
    starts = sorted({0, *(m.start() for m in _HEADING_LINE.finditer(text)), len(text)})
    return starts


def _pick_section(rng: random.Random, text: str) -> tuple[int, int]:
    cuts = _sections(text)
    if len(cuts) < 2:  # an empty text (cut to nothing by an earlier mutator)
        return 0, 0
    i = rng.randrange(len(cuts) - 1)
    return cuts[i], cuts[i + 1]


def _cap(text: str) -> str:
    return text[:MAX_GROWN_CHARS]


# --- text mutators -----------------------------------------------------------------
def truncate_text(rng: random.Random, text: str, donor: str) -> str:
    return text[: rng.randrange(len(text) + 1)]


def delete_section(rng: random.Random, text: str, donor: str) -> str:
    start, end = _pick_section(rng, text)
    return text[:start] + text[end:]


def repeat_section(rng: random.Random, text: str, donor: str) -> str:
    start, end = _pick_section(rng, text)
    times = rng.choice((1, 1, 2, 5, 50))
    return _cap(text[:end] + text[start:end] * times + text[end:])


def move_section(rng: random.Random, text: str, donor: str) -> str:
    start, end = _pick_section(rng, text)
    rest = text[:start] + text[end:]
    at = rng.choice(_sections(rest))
    return rest[:at] + text[start:end] + rest[at:]


def _typo(rng: random.Random, word: str) -> str:
    if not word:
        return word
    i = rng.randrange(len(word))
    op = rng.randrange(7)
    if op == 0:
        return word[:i] + word[i + 1 :]
    if op == 1:
        return word[:i] + word[i] + word[i:]
    if op == 2 and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == 3:
        lookalike = {"O": "0", "I": "l", "S": "5", "E": "F", "L": "1", "A": "4", "N": "M"}
        return word[:i] + lookalike.get(word[i], "X") + word[i + 1 :]
    if op == 4:
        return word.lower()
    if op == 5:
        return word.replace(" ", "")
    return word[:i] + " " + word[i:]


def misspell_heading(rng: random.Random, text: str, donor: str) -> str:
    heads = list(_HEADING_LINE.finditer(text))
    if not heads:
        return text
    m = rng.choice(heads)
    return text[: m.start()] + _typo(rng, m.group()) + text[m.end() :]


def _replace_one(
    rng: random.Random, text: str, pattern: re.Pattern[str], values: Sequence[str]
) -> str:
    found = list(pattern.finditer(text))
    if not found:
        return text
    for m in sorted(
        rng.sample(found, min(len(found), rng.choice((1, 1, 3)))), key=lambda m: -m.start()
    ):
        text = text[: m.start()] + rng.choice(values) + text[m.end() :]
    return text


def extreme_number(rng: random.Random, text: str, donor: str) -> str:
    return _replace_one(rng, text, _NUMBER, EXTREME_NUMBERS)


def extreme_date(rng: random.Random, text: str, donor: str) -> str:
    return _replace_one(rng, text, _DATE, EXTREME_DATES)


def negative_quantity(rng: random.Random, text: str, donor: str) -> str:
    return _replace_one(rng, text, _QUANTITY, ("-", "-0", "- ", "−"))


def repeat_text(rng: random.Random, text: str, donor: str) -> str:
    if rng.random() < 0.3:
        return _cap(text * rng.choice((2, 3, 10)))
    start = rng.randrange(len(text) + 1)
    end = min(len(text), start + rng.randrange(1, 400))
    return _cap(text[:end] + text[start:end] * rng.choice((2, 10, 100, 1000)) + text[end:])


def splice_letters(rng: random.Random, text: str, donor: str) -> str:
    """Two letters in one text (a bundle): after it, or between two of its sections."""
    if rng.random() < 0.5:
        return text + "\n" + donor
    at = rng.choice(_sections(text))
    return text[:at] + donor + "\n" + text[at:]


def unicode_noise(rng: random.Random, text: str, donor: str) -> str:
    chars = list(text)
    for _ in range(rng.choice((1, 5, 50))):
        chars.insert(rng.randrange(len(chars) + 1), rng.choice(NOISE))
    return "".join(chars)


def line_endings(rng: random.Random, text: str, donor: str) -> str:
    return rng.choice(
        (
            lambda t: t.replace("\n", "\r\n"),
            lambda t: t.replace("\n", "\r"),
            lambda t: t.replace("\n", " "),
            lambda t: t.replace("\n", "\n\n"),
            lambda t: t.replace(" ", "\n"),
        )
    )(text)


def shuffle_lines(rng: random.Random, text: str, donor: str) -> str:
    lines = text.split("\n")
    start = rng.randrange(len(lines))
    window = lines[start : start + rng.choice((2, 5, 20))]
    rng.shuffle(window)
    lines[start : start + len(window)] = window
    return "\n".join(lines)


def drop_lines(rng: random.Random, text: str, donor: str) -> str:
    share = rng.choice((0.05, 0.2, 0.5))
    return "\n".join(line for line in text.split("\n") if rng.random() >= share)


def change_case(rng: random.Random, text: str, donor: str) -> str:
    return text.upper() if rng.random() < 0.5 else text.lower()


def turn_decision(rng: random.Random, text: str, donor: str) -> str:
    """A decision word turned round, doubled with its opposite, or gone."""
    swap = {"upheld": "Overturned", "overturned": "Upheld"}
    found = list(_DECISION_WORD.finditer(text))
    if not found:
        return text
    m = rng.choice(found)
    other = swap[m.group().lower()]
    new = rng.choice((other, other, f"{m.group()} {other}", ""))
    return text[: m.start()] + new + text[m.end() :]


TEXT_MUTATORS: dict[str, TextMutator] = {
    "truncate_text": truncate_text,
    "delete_section": delete_section,
    "repeat_section": repeat_section,
    "move_section": move_section,
    "misspell_heading": misspell_heading,
    "extreme_number": extreme_number,
    "extreme_date": extreme_date,
    "negative_quantity": negative_quantity,
    "repeat_text": repeat_text,
    "splice_letters": splice_letters,
    "unicode_noise": unicode_noise,
    "line_endings": line_endings,
    "shuffle_lines": shuffle_lines,
    "drop_lines": drop_lines,
    "change_case": change_case,
    "turn_decision": turn_decision,
}


# --- encoders ------------------------------------------------------------------------
def _mojibake(text: str) -> bytes:
    return text.encode("utf-8").decode("cp1252", errors="replace").encode("utf-8")


def _mixed(text: str) -> bytes:
    half = len(text) // 2
    return text[:half].encode("cp1252", errors="replace") + text[half:].encode("utf-8")


ENCODERS: dict[str, Encoder] = {
    "utf-8": lambda t: t.encode("utf-8", errors="surrogatepass"),
    "utf-8-bom": lambda t: t.encode("utf-8-sig", errors="surrogatepass"),
    "utf-16": lambda t: t.encode("utf-16", errors="surrogatepass"),
    "utf-16-be": lambda t: b"\xfe\xff" + t.encode("utf-16-be", errors="surrogatepass"),
    "utf-16-le-nobom": lambda t: t.encode("utf-16-le", errors="surrogatepass"),
    "utf-32": lambda t: t.encode("utf-32", errors="surrogatepass"),
    "latin-1": lambda t: t.encode("latin-1", errors="replace"),
    "cp1252": lambda t: t.encode("cp1252", errors="replace"),
    "mojibake": _mojibake,
    "mojibake-twice": lambda t: _mojibake(_mojibake(t).decode("utf-8")),
    "cp1252-then-utf-8": _mixed,
}


MUTATORS: tuple[str, ...] = (
    *(f"text:{n}" for n in TEXT_MUTATORS),
    *(f"enc:{n}" for n in ENCODERS),
    *(f"bytes:{n}" for n in BYTE_MUTATORS),
    *(f"pdf:{n}" for n in PDF_MUTATORS),
)


# --- seeds and the stream of mutated files
def corpus_seeds(
    corpus: Path, extra_texts: Sequence[Path] = ()
) -> tuple[list[tuple[str, str]], list[tuple[str, bytes]]]:
    """The corpus as seeds: ``(name, text)`` of every letter (text seeds, the
    PDFs' text as the loader reads it, and ``extra_texts``, e.g. the synthetic
    letters of other layouts under tests/letters) and ``(name, bytes)`` of every PDF."""
    from ..loading import load_letter

    pdf_paths = sorted((corpus / "letters").glob("*.pdf"))
    text_paths = [*sorted((corpus / "seeds").glob("*.txt")), *extra_texts]
    texts = [(p.stem, p.read_text(encoding="utf-8")) for p in text_paths]
    texts += [
        (p.stem, load_letter(p, text_from="pdfium", ocr="never", ocr_engine="auto").text)
        for p in pdf_paths
    ]
    return texts, [(p.stem, p.read_bytes()) for p in pdf_paths]


@dataclass(frozen=True)
class Mutant:
    """One mutated file: its bytes, suffix, the seed letter and the mutators applied."""

    data: bytes
    suffix: str  # ".txt" or ".pdf"
    seed: str
    mutators: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.seed}[{'+'.join(self.mutators)}]"


def mutate_text(
    rng: random.Random, text: str, donor: str, names: Sequence[str], encoding: str
) -> bytes:
    """``text`` through the named text mutators, then encoded."""
    for name in names:
        text = TEXT_MUTATORS[name](rng, text, donor)
    return ENCODERS[encoding](text)


def mutate_pdf(rng: random.Random, pdf: bytes, donor: bytes, name: str) -> bytes:
    """``pdf`` through one PDF or byte mutator (``pdf:…`` or ``bytes:…``)."""
    kind, _, short = name.partition(":")
    if kind == "pdf":
        return PDF_MUTATORS[short](rng, pdf, donor)
    return BYTE_MUTATORS[short](rng, pdf)


def mutants(
    rng: random.Random,
    texts: Sequence[tuple[str, str]],
    pdfs: Sequence[tuple[str, bytes]],
    *,
    pdf_share: float = 0.35,
) -> Iterator[Mutant]:
    """An endless stream of mutated letters from ``(name, text)`` and ``(name, pdf bytes)`` seeds.

    A text mutant goes through one or two text mutators, an encoding (UTF-8 for
    most) and sometimes a byte mutator; a PDF mutant through one PDF or byte
    mutator.  Each mutator is drawn evenly, so every one is exercised.
    """
    pdf_names = [f"pdf:{n}" for n in PDF_MUTATORS] + [f"bytes:{n}" for n in BYTE_MUTATORS]
    text_names = list(TEXT_MUTATORS)
    encodings = list(ENCODERS)
    while True:
        if pdfs and (not texts or rng.random() < pdf_share):
            (seed, pdf), (_, donor) = rng.choice(pdfs), rng.choice(pdfs)
            name = rng.choice(pdf_names)
            yield Mutant(mutate_pdf(rng, pdf, donor, name), ".pdf", seed, (name,))
            continue
        (seed, text), (_, other) = rng.choice(texts), rng.choice(texts)
        names = rng.sample(text_names, rng.choice((1, 1, 2)))
        encoding = "utf-8" if rng.random() < 0.6 else rng.choice(encodings)
        data = mutate_text(rng, text, other, names, encoding)
        applied = (*(f"text:{n}" for n in names), f"enc:{encoding}")
        if rng.random() < 0.1:
            byte_name = rng.choice(list(BYTE_MUTATORS))
            data = BYTE_MUTATORS[byte_name](rng, data)
            applied = (*applied, f"bytes:{byte_name}")
        yield Mutant(data, ".txt", seed, applied)


__all__ = [
    "BYTE_MUTATORS",
    "ENCODERS",
    "MUTATORS",
    "PDF_MUTATORS",
    "TEXT_MUTATORS",
    "Mutant",
    "corpus_seeds",
    "mutants",
    "mutate_pdf",
    "mutate_text",
]
