"""SQL over a batch store: DuckDB views ``letters``, ``items``, ``failures``, ``corrections``.

The first three are the tables of ``llm-extract export`` (the same columns,
corrections from ``llm-extract review`` applied unless ``raw``; see
:mod:`.export`), written as Parquet into ``OUTDIR/.query/`` (a folder of the temporary
directory when OUTDIR is not writable) and read by
DuckDB from there; ``corrections`` is the review's own table (every value a
person set, with its history).  The Parquet files are written again only when
the store changed (results, corrections or review states: :func:`store_version`),
so a second query over a large archive starts at once.  They are written from
the store's analysis rows (:mod:`.flat`: the export's rows, stored when each
letter was committed), a column block at a time; only the letters a person
touched are derived again.  A store whose analysis rows are incomplete and
that cannot be written is exported from its records instead.  Streamed in
blocks, read by DuckDB without loading them into Python: memory stays flat.

DuckDB and pyarrow are the ``sql`` extra; without them :func:`connect` raises
:class:`~llm_extract.errors.MissingExtraError` saying what to install.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigError, MissingExtraError, QueryError
from .corrections import UNUSABLE
from .export import (
    FAILURE_COLUMNS,
    ITEM_COLUMNS,
    LETTER_COLUMNS,
    Reviews,
    export_store,
    failure_row,
)
from .flat import (
    TEMP_PREFIX,
    add_letter,
    connect_ro,
    fingerprint,
    meta,
    prepare,
    q,
    start_overlay,
    touched,
)
from .store import DB_NAME, Store
from .tables import atomic, write_atomic, write_parquet_blocks, write_parquet_rows

CACHE_DIR = ".query"
VIEWS = ("letters", "items", "failures", "corrections")
CORRECTION_COLUMNS: dict[str, str] = {
    "id": "int",
    "letter_id": "str",
    "field": "str",
    "action": "str",
    "old_value": "str",
    "new_value": "str",
    "reviewer": "str",
    "origin": "str",
    "created_at": "str",
    "letter": "str",
    "key": "str",
}


def require_duckdb() -> Any:
    try:
        import duckdb
        import pyarrow  # noqa: F401  (DuckDB reads the Parquet pyarrow writes)
    except ImportError as exc:
        raise MissingExtraError(
            'llm-extract query needs DuckDB: pip install "llm-extract[sql]" '
            "(or open OUTDIR/export/*.parquet from `llm-extract export -f parquet` "
            "in any SQL tool)",
            cause=exc,
        ) from exc
    return duckdb


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    row = db.execute(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return bool(row[0])


def store_version(outdir: Path, raw: bool) -> str:
    """What the cached views were made from: changes when any result, correction
    or review state does (and with the export's columns)."""
    with contextlib.closing(
        sqlite3.connect(f"file:{Path(outdir) / DB_NAME}?mode=ro", uri=True)
    ) as db:
        generation = meta(db, "results_generation")
        if generation is not None:  # moved on by every change to results (.flat's triggers)
            parts: list[Any] = [generation, meta(db, "flat_format"), fingerprint()]
        else:  # a store no llm-extract with analysis rows has written: read every row
            parts = list(
                db.execute("SELECT COUNT(*), MAX(finished_at), MAX(rowid) FROM results").fetchone()
            )
        for table in ("corrections", "letter_reviews"):
            if not raw and _has_table(db, table):
                parts.append(db.execute(f"SELECT COUNT(*), MAX(id) FROM {table}").fetchone())
    parts += [raw, list(LETTER_COLUMNS), list(ITEM_COLUMNS), list(CORRECTION_COLUMNS)]
    return json.dumps(parts, default=str)


def _corrections(outdir: Path) -> Iterator[dict[str, Any]]:
    with contextlib.closing(
        sqlite3.connect(f"file:{Path(outdir) / DB_NAME}?mode=ro", uri=True)
    ) as db:
        if not _has_table(db, "corrections"):
            return
        db.row_factory = sqlite3.Row
        for r in db.execute(f"SELECT {', '.join(CORRECTION_COLUMNS)} FROM corrections ORDER BY id"):
            yield dict(r)


def _cache_dir(outdir: Path) -> Path:
    """``OUTDIR/.query``; for a store that is not writable (a shared archive),
    a folder of the system's temporary directory named after the store's path."""
    mine = outdir / CACHE_DIR
    if os.access(outdir, os.W_OK) and (not mine.exists() or os.access(mine, os.W_OK)):
        return mine
    digest = hashlib.sha256(str(outdir.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"llm-extract-query-{digest}"


def materialise(outdir: Path, *, raw: bool = False) -> Path:
    """The Parquet files of the four views, written unless up to date; their folder."""
    outdir = Path(outdir)
    Store(outdir, writer=False).close()  # a clear StoreError when OUTDIR is no store
    ready = prepare(outdir)  # first: it may install what store_version reads
    version = store_version(outdir, raw)
    dest = _cache_dir(outdir) / ("raw" if raw else "corrected")
    stamp = dest / "version.json"
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == version:
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    try:
        dest.mkdir(parents=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the query cache {dest}: {exc.strerror} (set TMPDIR to a writable folder)"
        ) from exc
    if ready:
        write_views(outdir, dest, raw=raw)
    else:
        export_store(outdir, "parquet", dest=dest, raw=raw)
    write_atomic(dest / "corrections.parquet", "parquet", CORRECTION_COLUMNS, _corrections(outdir))
    stamp.write_text(version, encoding="utf-8")
    return dest


# Rows per block read from SQLite and written as one Parquet row group.
_BLOCK = 16_384


def _blocks(db: sqlite3.Connection, sql: str) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of ``sql`` from the stored rows (but the overlay's letters), then from
    the overlay, a block at a time.  In the order they are stored, not the export's
    (reading in letter order costs random reads: seconds at 100,000 letters)."""
    for where in ("flat_", f"temp.{TEMP_PREFIX}"):
        skip = "NOT IN (SELECT lid FROM temp.skip)" if where == "flat_" else "IS NOT NULL"
        cur = db.execute(sql.format(p=where, skip=skip))
        while block := cur.fetchmany(_BLOCK):
            yield block


def write_views(outdir: Path, dest: Path, *, raw: bool) -> None:
    """``letters``, ``items`` and ``failures`` as :func:`.export.export_store` writes
    them (the same rows; in the order stored), from the analysis rows."""
    reviews = Reviews(outdir, raw)
    with contextlib.closing(connect_ro(outdir)) as db:
        start_overlay(db)
        unusable = []
        for t in touched(db, {*reviews.corrections, *reviews.states}, reviews.states):
            if t.state is not None and t.state.status == UNUSABLE:
                unusable.append(failure_row(t.row, t.state))
                continue
            rec, info = reviews.apply(t.row, json.loads(t.row["record_json"]))
            add_letter(db, t.row, rec, prefix=TEMP_PREFIX, review=info, lid=t.lid)
        db.row_factory = None  # tuples: the blocks are built from them
        cols = ", ".join(q(c) for c in LETTER_COLUMNS)
        letters = _blocks(db, f"SELECT {cols} FROM {{p}}letters WHERE id {{skip}}")
        atomic(
            dest / "letters.parquet",
            lambda tmp: write_parquet_blocks(tmp, LETTER_COLUMNS, letters),
        )
        cols = ", ".join(q(c) for c in ITEM_COLUMNS)
        items = _blocks(db, f"SELECT {cols} FROM {{p}}items WHERE lid {{skip}}")
        atomic(dest / "items.parquet", lambda tmp: write_parquet_blocks(tmp, ITEM_COLUMNS, items))
        db.row_factory = sqlite3.Row
        failed = [
            failure_row(r)
            for r in db.execute(
                "SELECT * FROM results WHERE status = 'failed' ORDER BY letter_id, key"
            )
        ]
        rows = [tuple(f[c] for c in FAILURE_COLUMNS) for f in failed + unusable]
        atomic(
            dest / "failures.parquet", lambda tmp: write_parquet_rows(tmp, FAILURE_COLUMNS, rows)
        )


def connect(outdir: Path, *, raw: bool = False) -> Any:
    """An in-memory DuckDB connection with the four views over OUTDIR's store."""
    duckdb = require_duckdb()
    dest = materialise(outdir, raw=raw)
    con = duckdb.connect(":memory:")
    for view in VIEWS:
        path = str(dest / f"{view}.parquet").replace("'", "''")
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{path}')")
    return con


def run_query(con: Any, sql: str) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """Column names and a stream of rows of ``sql`` (a DuckDB error is a QueryError)."""
    duckdb = require_duckdb()
    try:
        cur = con.execute(sql)
    except duckdb.Error as exc:
        raise QueryError(f"the query failed: {exc}") from exc
    columns = [d[0] for d in cur.description or []]

    def rows() -> Iterator[tuple[Any, ...]]:
        while batch := cur.fetchmany(1000):
            yield from batch

    return columns, rows()
