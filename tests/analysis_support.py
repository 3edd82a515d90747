"""A small real batch store for the stats and query tests: 40 corpus letters, rules backend."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from llm_extract.batch.run import BatchSummary
from llm_extract.batch.runner import BatchOptions, run_batch
from llm_extract.cli import main
from llm_extract.config import load_config

N_LETTERS = 40


def run_cli(*args: str | Path) -> int:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return int(exc.value.code or 0)


def build_store(corpus: Path, out: Path, n: int = N_LETTERS, also: tuple[str, ...] = ()) -> Path:
    """The first ``n`` corpus letters and those named in ``also`` (ids), extracted by rules."""
    every = sorted((corpus / "letters").glob("*.pdf"))
    letters = every[:n] + [p for p in every[n:] if p.stem in also]
    s = run_rules(letters, out)
    assert (s.done, s.failed) == (len(letters), 0)
    return out


def run_rules(letters: list[Path], out: Path) -> BatchSummary:
    """A rules batch of ``letters`` into ``out``."""
    return run_batch(
        BatchOptions(
            inputs=[str(p) for p in letters],
            outdir=out,
            backend="rules",
            config=load_config(backend="rules"),
            progress=False,
        )
    )


def stored_records(outdir: Path) -> list[dict[str, Any]]:
    db = sqlite3.connect(outdir / "batch.sqlite3")
    try:
        return [
            json.loads(r)
            for (r,) in db.execute("SELECT record_json FROM results WHERE status = 'done'")
        ]
    finally:
        db.close()
