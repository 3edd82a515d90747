"""A store written before a column existed still opens for export and stats."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from llm_extract.batch.store import DB_NAME, Store


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
