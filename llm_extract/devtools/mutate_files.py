"""Byte and PDF mutators of the fuzzing campaign (see :mod:`.mutate`).

* byte mutators (``bytes -> bytes``) damage any file: truncation, flipped bits,
  inserted, deleted or duplicated chunks;
* PDF mutators (``(rng, pdf, donor pdf) -> bytes``, with pypdf from the ``dev``
  extra) change a PDF's structure: pages dropped, duplicated or reordered, two
  letters merged, a blank page added, encryption, damaged content streams.
"""

from __future__ import annotations

import io
import random
import re
from collections.abc import Callable, Sequence

PdfMutator = Callable[[random.Random, bytes, bytes], bytes]  # (rng, pdf, donor pdf)
ByteMutator = Callable[[random.Random, bytes], bytes]


# --- byte mutators ---------------------------------------------------------------------
def truncate_bytes(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def flip_bits(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.choice((1, 4, 32, 256))):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def random_chunk(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.randbytes(rng.choice((1, 16, 512))) + data[at:]


def delete_chunk(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + data[at + rng.choice((1, 64, 4096)) :]


def duplicate_chunk(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    chunk = data[at : at + rng.choice((16, 256, 4096))]
    return data[:at] + chunk * rng.choice((2, 10)) + data[at:]


BYTE_MUTATORS: dict[str, ByteMutator] = {
    "truncate_bytes": truncate_bytes,
    "flip_bits": flip_bits,
    "random_chunk": random_chunk,
    "delete_chunk": delete_chunk,
    "duplicate_chunk": duplicate_chunk,
}


# --- PDF mutators (pypdf) ----------------------------------------------------------------
def _pages(pdf: bytes) -> list[object]:
    from pypdf import PdfReader

    return list(PdfReader(io.BytesIO(pdf)).pages)


def _write(
    pages: Sequence[object], *, password: str | None = None, blank_at: int | None = None
) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for i, page in enumerate(pages):
        if i == blank_at:
            writer.add_blank_page(612, 792)
        writer.add_page(page)  # type: ignore[arg-type]
    if blank_at is not None and blank_at >= len(pages):
        writer.add_blank_page(612, 792)
    if password is not None:
        writer.encrypt(password, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def drop_pages(rng: random.Random, pdf: bytes, donor: bytes) -> bytes:
    pages = _pages(pdf)
    keep = [p for p in pages if rng.random() < 0.6] or pages[:1]
    return _write(keep)


def duplicate_pages(rng: random.Random, pdf: bytes, donor: bytes) -> bytes:
    pages = _pages(pdf)
    i = rng.randrange(len(pages))
    return _write(pages[: i + 1] + [pages[i]] * rng.choice((1, 2, 5)) + pages[i + 1 :])


def reorder_pages(rng: random.Random, pdf: bytes, donor: bytes) -> bytes:
    pages = _pages(pdf)
    order = pages[::-1] if rng.random() < 0.3 else rng.sample(pages, len(pages))
    return _write(order)


def merge_letters(rng: random.Random, pdf: bytes, donor: bytes) -> bytes:
    """Two letters in one PDF (a bundle), the donor after, before, or inside it."""
    pages, other = _pages(pdf), _pages(donor)
    at = rng.randrange(len(pages) + 1)
    return _write(pages[:at] + other + pages[at:])


def blank_page(rng: random.Random, pdf: bytes, donor: bytes) -> bytes:
    pages = _pages(pdf)
    return _write(pages, blank_at=rng.randrange(len(pages) + 1))


def encrypt(rng: random.Random, pdf: bytes, donor: bytes) -> bytes:
    return _write(_pages(pdf), password=rng.choice(("secret", "x")))


def damage_streams(rng: random.Random, pdf: bytes, donor: bytes) -> bytes:
    """Flip bytes inside content streams (compressed text becomes garbage or nothing)."""
    out = bytearray(pdf)
    starts = [m.end() for m in re.finditer(rb"stream\r?\n", pdf)]
    for start in rng.sample(starts, min(len(starts), rng.choice((1, 3)))):
        for _ in range(rng.choice((1, 8, 64))):
            i = min(len(out) - 1, start + rng.randrange(512))
            out[i] = rng.randrange(256)
    return bytes(out)


PDF_MUTATORS: dict[str, PdfMutator] = {
    "drop_pages": drop_pages,
    "duplicate_pages": duplicate_pages,
    "reorder_pages": reorder_pages,
    "merge_letters": merge_letters,
    "blank_page": blank_page,
    "encrypt": encrypt,
    "damage_streams": damage_streams,
}


__all__ = ["BYTE_MUTATORS", "PDF_MUTATORS", "ByteMutator", "PdfMutator"]
