"""Batch stores for the review's tests, benchmark and screenshot, made from real records.

The rules backend flags almost nothing on the corpus, and the LLM backends
are too slow to run in a test; so these helpers take the real rules records
of a real batch and give some of them what a hybrid run produces when it is
unsure -- ``needs_review`` with reasons, an unresolved ``checks`` entry, a
fallback -- plus a failed letter.  The texts, spans and evidence stay the
real ones.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from ..batch.store import DB_NAME
from ..rules.backend import RULES_VERSION


def _records(db: sqlite3.Connection) -> list[sqlite3.Row]:
    db.row_factory = sqlite3.Row
    return list(db.execute("SELECT * FROM results WHERE status = 'done' ORDER BY letter_id, key"))


def _flag(record: dict[str, Any], code: str, path: str, why: str) -> None:
    # As Record.flag writes it: the flag, its sentence among the reasons.
    message = f"{path}: {why}"
    record["needs_review"] = True
    record["review_flags"] = [{"code": code, "path": path, "message": message}]
    record["review_reasons"] = [message]


def flag(record: dict[str, Any], i: int) -> dict[str, Any]:
    """Make record ``i`` look like an unsure hybrid result (in place; returned)."""
    items = record.get("items") or []
    kind = i % 3
    if kind == 0 and items:
        cat = items[0].get("category")
        other = "other" if cat != "other" else "medication"
        record["checks"] = [
            {
                "field": "items[0].category",
                "llm_value": other,
                "rules_value": cat,
                "kept": "rules",
                "reason": "the parser's category rule and the LLM disagree",
                "resolved": False,
            }
        ]
        _flag(record, "readers_disagree", "items[0].category", "the LLM and the parser disagree")
    elif kind == 1:
        _flag(record, "ungrounded", "patient.age", "no exact rule matched; heuristic value")
    else:
        prov = record.setdefault("provenance", {})
        prov["fallback"] = True
        prov["fallback_reason"] = "LLMError: the endpoint timed out after 4 retries"
    return record


def flag_store(outdir: Path, n: int) -> list[str]:
    """Flag the first ``n`` done letters of a store and add one failed letter; their keys."""
    db = sqlite3.connect(Path(outdir) / DB_NAME, isolation_level=None)
    try:
        rows = _records(db)[:n]
        keys = []
        with db:
            db.execute("BEGIN")
            # LOOP's column, when the store has it (a Row's `in` tests values).
            has_fallback = bool(rows) and "fallback" in rows[0].keys()  # noqa: SIM118
            for i, row in enumerate(rows):
                rec = flag(json.loads(row["record_json"]), i)
                db.execute(
                    "UPDATE results SET record_json = ? WHERE key = ?",
                    (json.dumps(rec), row["key"]),
                )
                if has_fallback and (rec.get("provenance") or {}).get("fallback"):
                    # LOOP's column: --retry-failed extracts fallback letters again.
                    db.execute("UPDATE results SET fallback = 1 WHERE key = ?", (row["key"],))
                keys.append(row["key"])
            add_failed(db, "missing-letter", "/nonexistent/missing-letter.pdf")
        return keys
    finally:
        db.close()


def add_failed(db: sqlite3.Connection, letter_id: str, path: str) -> str:
    key = hashlib.sha256(f"failed:{path}".encode()).hexdigest()
    db.execute(
        "INSERT OR REPLACE INTO results (key, status, letter_id, source_path, backend,"
        " backend_version, error_class, error_message, error_json, finished_at)"
        " VALUES (?, 'failed', ?, ?, 'rules', ?, 'LetterNotFoundError', ?, ?,"
        " '2026-12-01T00:00:00.000+00:00')",
        (
            key,
            letter_id,
            path,
            RULES_VERSION,
            f"no such file: {path}",
            json.dumps({"error": "LetterNotFoundError", "message": f"no such file: {path}"}),
        ),
    )
    return key


def synthesise(source_outdir: Path, dest_outdir: Path, n: int, *, flagged_every: int = 10) -> int:
    """A store of ``n`` letters made from the real records of ``source_outdir``.

    Row ``i`` copies real record ``i % len(records)`` under a new key and file
    hash (so each is its own letter for the corrections); every
    ``flagged_every``-th is flagged like an unsure hybrid result.
    """
    dest_outdir.mkdir(parents=True, exist_ok=True)
    dest = dest_outdir / DB_NAME
    src = sqlite3.connect(source_outdir / DB_NAME)
    real = _records(src)
    # The schema (and meta) by a backup of the real store, then emptied.
    db = sqlite3.connect(dest, isolation_level=None)
    src.backup(db)
    src.close()
    db.row_factory = sqlite3.Row
    cols = [r[1] for r in db.execute("PRAGMA table_info(results)")]
    have = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    with db:
        db.execute("BEGIN")
        for table in ("results", "sources", "corrections", "letter_reviews", "review_texts"):
            if table in have:
                db.execute(f"DELETE FROM {table}")
        for i in range(n):
            base = dict(real[i % len(real)])
            rec = json.loads(base["record_json"])
            if i % flagged_every == 0:
                flag(rec, i // flagged_every)
            base["key"] = hashlib.sha256(f"synthetic-key:{i}".encode()).hexdigest()
            base["file_sha256"] = hashlib.sha256(f"synthetic-file:{i}".encode()).hexdigest()
            base["letter_id"] = f"{base['letter_id']}-{i:05d}"
            rec["letter_id"] = base["letter_id"]
            base["record_json"] = json.dumps(rec)
            db.execute(
                f"INSERT INTO results ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [base.get(c) for c in cols],
            )
    db.close()
    return n
