"""The batch store's on-disk format: its tables, their columns, one result's row.

Kept apart from :mod:`.store` (which opens, locks, checks and queries a store)
so that the format can be read in one place: a reader of an older store, or of
a store from another tool, compares against these definitions.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ..base import BackendIdentity
from ..result import LetterResult
from .worker import Task

DB_NAME = "batch.sqlite3"
LOCK_NAME = ".batch.lock"
STORE_VERSION = "1"

DONE = "done"
FAILED = "failed"
# Not a value of the status column: a done row whose record is the parser's
# because the LLM failed (column ``fallback``).  status_of() reports it apart so
# that --retry-failed redoes it and a re-run counts it.
FALLBACK = "fallback"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- One row per letter key (content sha256 + backend identity): its record or its error.
CREATE TABLE IF NOT EXISTS results (
    key               TEXT PRIMARY KEY,
    status            TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    letter_id         TEXT NOT NULL,
    source_path       TEXT NOT NULL,
    file_sha256       TEXT,
    text_sha256       TEXT,
    backend           TEXT NOT NULL,
    backend_version   TEXT NOT NULL,
    model             TEXT,
    prompt_version    TEXT,
    record_json       TEXT,
    error_class       TEXT,
    error_message     TEXT,
    error_json        TEXT,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    seconds           REAL NOT NULL DEFAULT 0,
    attempts          INTEGER NOT NULL DEFAULT 1,
    run_id            INTEGER,
    finished_at       TEXT NOT NULL,
    fallback          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS results_status ON results (status);
-- Every path seen for a key (renamed duplicates point at the same key).
CREATE TABLE IF NOT EXISTS sources (
    path   TEXT NOT NULL,
    key    TEXT NOT NULL,
    run_id INTEGER,
    PRIMARY KEY (path, key)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id            INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at        TEXT NOT NULL,
    finished_at       TEXT,
    argv              TEXT,
    backend           TEXT,
    done              INTEGER,
    skipped           INTEGER,
    failed            INTEGER,
    duplicates        INTEGER,
    seconds           REAL,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    cost_usd          REAL,
    fallbacks         INTEGER
);
"""
# Columns added after store version 1 was first written: added in place to an
# older store (readers of the old columns are unaffected).
ADDED_COLUMNS = (
    ("results", "fallback", "INTEGER NOT NULL DEFAULT 0"),
    ("runs", "fallbacks", "INTEGER"),
)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


UPSERT_RESULT = """
INSERT INTO results (
    key, status, letter_id, source_path, file_sha256, text_sha256,
    backend, backend_version, model, prompt_version, record_json,
    error_class, error_message, error_json, prompt_tokens, completion_tokens,
    seconds, attempts, run_id, finished_at, fallback
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    status = excluded.status, letter_id = excluded.letter_id,
    source_path = excluded.source_path, text_sha256 = excluded.text_sha256,
    record_json = excluded.record_json, error_class = excluded.error_class,
    error_message = excluded.error_message, error_json = excluded.error_json,
    prompt_tokens = excluded.prompt_tokens,
    completion_tokens = excluded.completion_tokens,
    seconds = excluded.seconds, attempts = results.attempts + 1,
    run_id = excluded.run_id, finished_at = excluded.finished_at,
    fallback = excluded.fallback
"""


def result_row(
    task: Task, result: LetterResult, ident: BackendIdentity, run_id: int | None
) -> tuple[Any, ...]:
    error = result.error or {}
    return (
        task.key,
        DONE if result.ok else FAILED,
        result.letter_id,
        task.path,
        task.file_sha256,
        result.text_sha256,
        ident.name,
        ident.version,
        ident.model,
        ident.prompt_version,
        result.record_json,
        error.get("error"),
        error.get("message"),
        json.dumps(error) if result.error else None,
        result.usage.prompt_tokens,
        result.usage.completion_tokens,
        result.seconds,
        run_id,
        now(),
        int(result.fallback),
    )
