"""Shared by the review tests: a real rules batch of a few corpus letters, some flagged."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from llm_extract.cli import main
from llm_extract.devtools.review_fixtures import flag_store

LETTERS = ("CM16-0228949", "CM16-0229336", "CM16-0230548", "CM16-0231884", "CM17-0003623")


def run_cli(*args: str | Path) -> int:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return int(exc.value.code or 0)


def make_base_store(corpus: Path, dest: Path) -> Path:
    """A batch of 5 real PDFs + 2 seeds (rules); the first 3 flagged, one failed row."""
    inputs = [corpus / "letters" / f"{n}.pdf" for n in LETTERS]
    inputs += sorted((corpus / "seeds").glob("00[01]_*.txt"))
    out = dest / "out"
    code = run_cli("batch", *inputs, "-o", out, "--backend", "rules", "-j", "1", "--no-progress")
    assert code == 0
    flag_store(out, 3)
    return out


def copy_store(base: Path, dest: Path) -> Path:
    """A private copy of a store (sqlite's backup: WAL content included)."""
    dest.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(base / "batch.sqlite3")
    dst = sqlite3.connect(dest / "batch.sqlite3")
    src.backup(dst)
    src.close()
    dst.close()
    return dest


@contextmanager
def review_server(outdir: Path, *args: str) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    """``llm-extract review OUTDIR`` as a real server process: (base url, token, process)."""
    exe = Path(sys.executable).with_name("llm-extract")
    proc = subprocess.Popen(
        [str(exe), "review", str(outdir), "--reviewer", "browser test", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                err = proc.stderr.read() if proc.stderr else ""
                raise AssertionError(f"review server exited: {err}")
            m = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=(\S+)", line)
            if m:
                yield m.group(1), m.group(2), proc
                return
        raise AssertionError("review server printed no address within 60 s")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
