"""The store across versions and routes: old stores still open; another text route is a new key."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from llm_extract.base import BackendIdentity
from llm_extract.batch.runner import BatchOptions, BatchSummary, run_batch
from llm_extract.batch.store import DB_NAME, Store
from llm_extract.config import load_config
from llm_extract.rules import RulesBackend


def test_reader_opens_a_store_from_before_the_fallback_column(tmp_path: Path) -> None:
    with Store(tmp_path) as store:  # today's schema, then drop what was added later
        pass
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("ALTER TABLE results DROP COLUMN fallback")
    db.execute("ALTER TABLE runs DROP COLUMN fallbacks")
    db.commit()
    db.close()

    reader = Store(tmp_path, writer=False)
    try:
        counts = reader.counts()
    finally:
        reader.close()
    assert counts.get("done", 0) == 0
    assert "fallback" in {
        r[1] for r in sqlite3.connect(tmp_path / DB_NAME).execute("PRAGMA table_info(results)")
    }
    del store


@pytest.mark.corpus
def test_another_text_route_is_another_key_and_is_not_skipped(
    letter_paths: list[Path], tmp_path: Path
) -> None:
    letters = [str(p) for p in letter_paths[:2]]
    out = tmp_path / "out"

    def run(**cfg: str) -> BatchSummary:
        opts = BatchOptions(
            inputs=letters,
            outdir=out,
            backend="rules",
            config=load_config(backend="rules", **cfg),
            progress=False,
        )
        return run_batch(opts)

    first = run()
    again = run()
    other = run(text_from="pypdf")
    assert (first.done, again.skipped, other.done) == (2, 2, 2)
    with Store(out, writer=False) as store:
        keys = {row["key"] for row in store.db.execute("SELECT key FROM results")}
    assert len(keys) == 4  # the default route's keys are unchanged, pypdf's are new
    assert BackendIdentity.of(RulesBackend(load_config()), load_config()).text_route is None
