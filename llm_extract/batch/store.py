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

import fcntl
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from ..base import BackendIdentity
from ..errors import ConfigError
from ..loop import LetterResult
from .disk import disk_full_error, is_disk_full, writing
from .identity import part_key
from .store_schema import (
    ADDED_COLUMNS,
    DB_NAME,
    DONE,
    FAILED,
    FALLBACK,
    LOCK_NAME,
    SCHEMA,
    STORE_VERSION,
    UPSERT_RESULT,
    now,
    result_row,
)
from .worker import Task

log = logging.getLogger(__name__)


class StoreError(ConfigError):
    """OUTDIR cannot hold a batch store (not writable, locked, not a store)."""


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
                self.db.executescript(SCHEMA)
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
        for table, column, decl in ADDED_COLUMNS:
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
                (now(), json.dumps(argv), backend),
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
                now(),
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
        status = self.status_of_row(key)
        return self._bundle_status(key) if status is None else status

    def status_of_row(self, key: str) -> str | None:
        """The status of the row ``key`` alone (None: no such row)."""
        row = self.db.execute(
            "SELECT status, fallback FROM results WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        return FALLBACK if row[0] == DONE and row[1] else str(row[0])

    def _bundle_status(self, key: str) -> str | None:
        """The status of a file holding several letters: its worst letter's."""
        statuses: list[str] = []
        while True:
            part = part_key(key, len(statuses) + 1)
            status = self.status_of_row(part)
            if status is None:
                break
            statuses.append(status)
        return next((s for s in (FAILED, FALLBACK, DONE) if s in statuses), None)

    def commit_many(
        self,
        finished: list[tuple[Task, LetterResult]],
        ident: BackendIdentity,
        run_id: int | None,
        also: Callable[[sqlite3.Connection, list[str]], None] | None = None,
    ) -> None:
        """Record the letters that have finished, in one transaction (one fsync).

        ``also(db, keys)`` writes more about the letters ``keys`` in the same
        transaction (their analysis rows: :mod:`.flat`).

        Group commit: the runner passes every letter that is finished *now*, so
        none waits for company; at -j 32 the fsync per letter (~4 ms on a busy VM)
        was what capped the batch, as every commit runs in the main thread.  Each
        letter's row and path still go in together or not at all.
        """
        if not finished:
            return
        # A file holding several letters: one row per letter, each under its own
        # key, and the file's path under its key too (has_source, status_of).
        paths = [(task.path, task.key, run_id) for task, result in finished if result.parts]
        finished = [
            (replace(task, key=part_key(task.key, k)), part) if result.parts else (task, result)
            for task, result in finished
            for k, part in enumerate(result.parts or (result,), start=1)
        ]
        rows = [result_row(task, result, ident, run_id) for task, result in finished]
        with writing(self.outdir), self.db:  # BEGIN ... COMMIT (ROLLBACK on error)
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(UPSERT_RESULT, rows)
            self.db.executemany(
                "INSERT OR IGNORE INTO sources (path, key, run_id) VALUES (?, ?, ?)",
                [(task.path, task.key, run_id) for task, _ in finished] + paths,
            )
            if also is not None:
                also(self.db, [task.key for task, _ in finished])

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

    def record_json(self, key: str) -> str:
        """One letter's stored record (JSON text); KeyError when it has none."""
        row = self.db.execute("SELECT record_json FROM results WHERE key = ?", (key,)).fetchone()
        if row is None or row[0] is None:
            raise KeyError(key)
        return str(row[0])

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
