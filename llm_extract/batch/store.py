"""The batch's durable store: one SQLite database in WAL mode in OUTDIR.

Why SQLite (WAL) rather than append-only JSONL:

- **Atomic per letter.**  A letter's result and its path are committed
  together or not at all (letters that finish at the same moment share one
  transaction: :meth:`Store.commit_many`); a ``kill -9`` or a full disk at any
  moment leaves the last committed letter intact and nothing half-written.
- **No duplicates by construction.**  ``key`` is the primary key; retrying a
  failed letter replaces its row in place.
- **Skip checks are index lookups**: memory stays flat and a re-run skips
  hundreds of letters in milliseconds.
- Exports and ``stats`` stream rows with SQL; readers never block the writer
  (WAL), so ``export`` works while a batch runs.

``synchronous=FULL``: every commit is fsynced, so a finished letter survives a
power cut too (0.5-6 ms per commit, hence group commit).

Only the batch's main thread writes; one batch at a time per OUTDIR (an
``flock`` on ``OUTDIR/.batch.lock``, released by the OS when the process dies,
even by SIGKILL).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from ..base import BackendIdentity
from ..errors import ConfigError
from ..loop import LetterResult
from .disk import disk_full_error, is_disk_full, writing
from .worker import Task

log = logging.getLogger(__name__)

DB_NAME = "batch.sqlite3"
LOCK_NAME = ".batch.lock"
STORE_VERSION = "1"

DONE = "done"
FAILED = "failed"
# Not a value of the status column: a done row whose record is the parser's
# because the LLM failed (column ``fallback``).  status_of() reports it apart so
# that --retry-failed redoes it and a re-run counts it.
FALLBACK = "fallback"

_SCHEMA = """
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
_ADDED_COLUMNS = (
    ("results", "fallback", "INTEGER NOT NULL DEFAULT 0"),
    ("runs", "fallbacks", "INTEGER"),
)


class StoreError(ConfigError):
    """OUTDIR cannot hold a batch store (not writable, locked, not a store)."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def db_path(outdir: Path) -> Path:
    return Path(outdir) / DB_NAME


class Store:
    """The results of every letter of the batches run into one OUTDIR."""

    def __init__(self, outdir: Path, *, writer: bool = True) -> None:
        self.outdir = Path(outdir)
        self.writer = writer
        self._lock_fh: Any = None
        if writer:
            try:
                self.outdir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the output folder {self.outdir}: {exc.strerror}"
                ) from exc
            self._take_lock()
        elif not db_path(self.outdir).is_file():
            raise StoreError(
                f"{self.outdir} holds no batch results ({DB_NAME} is missing); "
                "run `llm-extract batch INPUT... -o OUTDIR` first"
            )
        try:
            self.db = sqlite3.connect(db_path(self.outdir), isolation_level=None, timeout=30.0)
            self.db.row_factory = sqlite3.Row
            self._check_is_store()
            if writer:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")
                self.db.executescript(_SCHEMA)
                self.db.execute(
                    "INSERT OR IGNORE INTO meta (name, value) VALUES ('store_version', ?)",
                    (STORE_VERSION,),
                )
            # Readers too: a store written before a column was added must still
            # export and report (adding a column with a default is instant).
            self._add_columns()
            row = self.db.execute("SELECT value FROM meta WHERE name = 'store_version'").fetchone()
        except StoreError:
            self.close()
            raise
        except sqlite3.DatabaseError as exc:
            self.close()
            if is_disk_full(exc):
                raise disk_full_error(self.outdir, exc) from exc
            raise StoreError(
                f"{db_path(self.outdir)} is not a batch store ({exc}); move it away or "
                "use another OUTDIR"
            ) from exc
        if row is None or row[0] != STORE_VERSION:
            found = row[0] if row else "none"
            self.close()
            raise StoreError(
                f"{db_path(self.outdir)} has store version {found}, this llm-extract writes "
                f"{STORE_VERSION}; use a new OUTDIR"
            )

    def _check_is_store(self) -> None:
        """Refuse a database that is not ours before writing a byte to it (a store's
        tables added to someone else's SQLite file would pass for a store)."""
        tables = {
            str(r[0])
            for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if tables and "meta" not in tables:
            shown = ", ".join(sorted(tables)[:5])
            raise StoreError(
                f"{db_path(self.outdir)} is an SQLite database but not a batch store (its "
                f"tables: {shown}); move it away or use another OUTDIR"
            )

    def _take_lock(self) -> None:
        lock_path = self.outdir / LOCK_NAME
        try:
            fh = lock_path.open("a+")
        except OSError as exc:
            raise StoreError(f"cannot write to {self.outdir}: {exc.strerror}") from exc
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise StoreError(
                f"another batch ({holder}) is writing to {self.outdir}; wait for it to "
                "finish or use another OUTDIR"
            ) from None
        self._lock_fh = fh
        fh.seek(0)
        fh.truncate()
        try:
            with writing(self.outdir):  # who holds the lock: a message for the next batch
                fh.write(f"pid {os.getpid()}")
                fh.flush()
        except BaseException:
            self.close()
            raise

    def _add_columns(self) -> None:
        for table, column, decl in _ADDED_COLUMNS:
            have = {str(r[1]) for r in self.db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")

    # --- lifecycle -----------------------------------------------------------
    def close(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            db.close()
            self.db = None  # type: ignore[assignment]
        if self._lock_fh is not None:
            self._lock_fh.close()  # closing releases the flock
            self._lock_fh = None

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- runs ----------------------------------------------------------------
    def start_run(self, *, argv: list[str], backend: str) -> int:
        with writing(self.outdir):
            cur = self.db.execute(
                "INSERT INTO runs (started_at, argv, backend) VALUES (?, ?, ?)",
                (_now(), json.dumps(argv), backend),
            )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def finish_run(self, run_id: int, summary: dict[str, Any]) -> None:
        with writing(self.outdir):
            self._finish_run(run_id, summary)

    def _finish_run(self, run_id: int, summary: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE runs SET finished_at = ?, done = ?, skipped = ?, failed = ?, duplicates = ?,"
            " seconds = ?, prompt_tokens = ?, completion_tokens = ?, cost_usd = ?,"
            " fallbacks = ? WHERE run_id = ?",
            (
                _now(),
                summary["done"],
                summary["skipped"],
                summary["failed"],
                summary["duplicates"],
                summary["seconds"],
                summary["prompt_tokens"],
                summary["completion_tokens"],
                summary.get("cost_usd"),
                summary.get("fallbacks", 0),
                run_id,
            ),
        )

    # --- letters -------------------------------------------------------------
    def status_of(self, key: str) -> str | None:
        """``done``, ``failed``, ``fallback`` (done, but the parser's record), or None."""
        row = self.db.execute(
            "SELECT status, fallback FROM results WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        return FALLBACK if row[0] == DONE and row[1] else str(row[0])

    def commit_many(
        self,
        finished: list[tuple[Task, LetterResult]],
        ident: BackendIdentity,
        run_id: int | None,
    ) -> None:
        """Record the letters that have finished, in one transaction (one fsync).

        Group commit: the runner passes every letter that is finished *now*, so
        none waits for company; at -j 32 the fsync per letter (~4 ms on a busy VM)
        was what capped the batch, as every commit runs in the main thread.  Each
        letter's row and path still go in together or not at all.
        """
        if not finished:
            return
        rows = [_result_row(task, result, ident, run_id) for task, result in finished]
        with writing(self.outdir), self.db:  # BEGIN ... COMMIT (ROLLBACK on error)
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(_UPSERT_RESULT, rows)
            self.db.executemany(
                "INSERT OR IGNORE INTO sources (path, key, run_id) VALUES (?, ?, ?)",
                [(task.path, task.key, run_id) for task, _ in finished],
            )

    def add_source(self, path: str, key: str, run_id: int | None) -> None:
        """Remember another path for a known key (a renamed duplicate)."""
        with writing(self.outdir):
            self.db.execute(
                "INSERT OR IGNORE INTO sources (path, key, run_id) VALUES (?, ?, ?)",
                (path, key, run_id),
            )

    def has_source(self, path: str, key: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM sources WHERE path = ? AND key = ?", (path, key)
        ).fetchone()
        return row is not None

    def failed_paths(self) -> Iterator[str]:
        """Every path of every failed or fallback letter (``--retry-failed`` without INPUTs)."""
        for row in self.db.execute(
            "SELECT DISTINCT s.path FROM sources s JOIN results r ON r.key = s.key"
            " WHERE r.status = 'failed' OR r.fallback = 1 ORDER BY s.path"
        ):
            yield str(row[0])

    def iter_results(
        self, status: str | None = DONE, *, backend: str | None = None
    ) -> Iterator[sqlite3.Row]:
        """Rows of ``results`` in a stable order (letter_id, key), streamed."""
        where, params = [], []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if backend is not None:
            where.append("backend = ?")
            params.append(backend)
        sql = "SELECT * FROM results"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY letter_id, key"
        # A second connection: the caller may write while iterating.
        reader = sqlite3.connect(db_path(self.outdir), isolation_level=None)
        reader.row_factory = sqlite3.Row
        try:
            yield from reader.execute(sql, params)
        finally:
            reader.close()

    def counts(self, *, backend: str | None = None) -> dict[str, int]:
        """Rows by status; ``fallback`` counts the done rows that are fallbacks."""
        out = {DONE: 0, FAILED: 0, FALLBACK: 0}
        sql = "SELECT status, COUNT(*), SUM(fallback) FROM results"
        params: tuple[str, ...] = ()
        if backend is not None:
            sql += " WHERE backend = ?"
            params = (backend,)
        for status, n, fallbacks in self.db.execute(sql + " GROUP BY status", params):
            out[str(status)] = int(n)
            out[FALLBACK] += int(fallbacks or 0)
        return out

    def backends(self) -> list[tuple[str, str, str | None, str | None, int]]:
        """The backend identities present, with their count of done letters."""
        return [
            (str(r[0]), str(r[1]), r[2], r[3], int(r[4]))
            for r in self.db.execute(
                "SELECT backend, backend_version, model, prompt_version, COUNT(*) FROM results"
                " WHERE status = 'done' GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC"
            )
        ]


_UPSERT_RESULT = """
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


def _result_row(
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
        _now(),
        int(result.fallback),
    )
