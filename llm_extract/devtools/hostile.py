"""Hostile files for tests and benchmarks, and a way to run a command under a memory cap.

The files an archive really holds besides well-formed letters: a PDF of
thousands of blank pages, several letters merged into one PDF or one text.
:func:`run_capped` runs a command in a subprocess whose address space is
capped (``RLIMIT_AS``), so a runaway stays inside its cap instead of taking
the machine down, and reports its wall time and peak RSS.
"""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


def blank_pdf(dst: str | Path, pages: int = 20_000) -> Path:
    """Write a PDF of ``pages`` blank letter-size pages (20,000 pages: ~2.5 MB)."""
    import pypdfium2 as pdfium

    from ..pdf_pages import PDFIUM_LOCK

    with PDFIUM_LOCK:
        doc = pdfium.PdfDocument.new()
        try:
            for _ in range(pages):
                doc.new_page(612, 792).close()
            doc.save(str(dst))
        finally:
            doc.close()
    return Path(dst)


def merged_pdf(sources: Sequence[str | Path], dst: str | Path) -> Path:
    """Write one PDF holding the pages of ``sources`` in order (as people merge letters)."""
    import pypdf

    writer = pypdf.PdfWriter()
    for src in sources:
        reader = pypdf.PdfReader(str(src))
        if reader.is_encrypted:
            reader.decrypt("")  # the corpus letters: AES with an empty user password
        for page in reader.pages:
            writer.add_page(page)
    with open(dst, "wb") as fh:
        writer.write(fh)
    return Path(dst)


def concatenated_text(texts: Sequence[str], dst: str | Path, *, megabytes: float) -> Path:
    """Write ``texts`` one after another, over and over, until the file has ``megabytes``."""
    target = int(megabytes * 1e6)
    written = 0
    with open(dst, "w", encoding="utf-8") as fh:
        while written < target:
            for text in texts:
                fh.write(text.rstrip("\n") + "\n\n")
                written += len(text.encode("utf-8")) + 2
    return Path(dst)


@dataclass(frozen=True)
class Capped:
    returncode: int  # negative: killed by that signal
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float


def run_capped(
    argv: Sequence[str], *, memory_mb: int, timeout_s: float, env: dict[str, str] | None = None
) -> Capped:
    """Run ``argv`` with its address space capped at ``memory_mb``; its time and peak RSS.

    Past ``timeout_s`` the process is killed (``returncode`` -9).
    """
    cap = memory_mb * 1024 * 1024

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, preexec_fn=limit, env=env)
        timer = threading.Timer(timeout_s, proc.kill)
        timer.start()
        try:
            # wait4, not wait: the child's own rusage (its peak RSS), not the
            # largest of every child this process ever had.
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return Capped(proc.returncode, out.read(), err.read(), seconds, usage.ru_maxrss / 1024)


__all__ = ["Capped", "blank_pdf", "concatenated_text", "merged_pdf", "run_capped"]
