"""Analysis rows: each stored record flattened once, for ``stats`` and ``query``.

A record is ~10 KB of JSON (its evidence mostly); reading 100,000 of them to
count decisions or to write the query views took minutes.  So when a letter is
committed, the same transaction (:meth:`Store.commit_many`, called by
``Run.commit`` for every engine) also writes:

- ``flat_letters``: the letter's row of ``export``'s ``letters`` table
  (:func:`~.export.letter_row`), plus its order in the store (``sort_id``: the
  results row's ``letter_id``; ``key``) and its ``letter`` (the file hash the
  review's corrections are keyed by);
- ``flat_items``: its rows of ``export``'s ``items`` table;
- ``flat_groups``: per item and per dimension of :mod:`.dimensions`, the
  groups the item counts in (one row per group; ``first`` marks the letter's
  first row in a group, so a sum of it counts letters).

These rows hold the extraction as produced.  The review's corrections are
applied when read (:func:`review_overlay`): only the few letters a person
touched are derived again, into temporary tables of the reader's connection.

**Always in step with ``results``.**  Triggers on ``results`` delete a
letter's rows whenever its row changes, whoever writes it (an older
llm-extract, a script), and list its key in ``flat_pending``; a commit writes
the new rows and clears the key in the same transaction.  A store written
before these tables existed, or by a version whose rows differ
(:func:`fingerprint`), has every letter pending: the first ``stats`` or
``query`` that can write the store derives them (:func:`prepare`, once); one
that cannot reads the records as before.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .corrections import LetterState, letter_ref
from .dimensions import DIMENSIONS, group_key, groups_of
from .export import ITEM_COLUMNS, LETTER_COLUMNS, NO_REVIEW, ReviewInfo, item_rows, letter_row
from .store import DONE, db_path

log = logging.getLogger(__name__)

# Changes whenever the rows written for a record would (with the columns and
# dimensions, in fingerprint()): a store with other rows derives them again.
FLAT_FORMAT = "1"
LETTERS, ITEMS, GROUPS, PENDING = "flat_letters", "flat_items", "flat_groups", "flat_pending"
_SQL_TYPES = {"str": "TEXT", "int": "INTEGER", "bool": "INTEGER", "date": "TEXT", "float": "REAL"}
# Keys per statement (SQLite's parameter limit is 32,766; a commit is smaller).
_CHUNK = 500


def q(name: str) -> str:
    """A quoted SQL identifier (export columns may be keywords)."""
    return '"' + name.replace('"', '""') + '"'


LETTER_SQL_COLUMNS = ["sort_id", "letter", *LETTER_COLUMNS]
ITEM_SQL_COLUMNS = ["lid", *ITEM_COLUMNS]
GROUP_SQL_COLUMNS = ["lid", "item", "dim", "pos", "gkey", "name", "decision", "first"]


def fingerprint() -> str:
    parts = [FLAT_FORMAT, LETTER_COLUMNS, ITEM_COLUMNS, list(DIMENSIONS)]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def _columns(columns: dict[str, str]) -> str:
    return ", ".join(f"{q(c)} {_SQL_TYPES[t]}" for c, t in columns.items())


def _tables(schema: str, prefix: str) -> list[str]:
    """The three tables of rows, in ``schema`` (``main``, or ``temp`` for a reader's
    re-derived letters), named ``prefix`` + letters/items/groups."""
    letter_cols = {k: v for k, v in LETTER_COLUMNS.items() if k != "key"}
    return [
        f"CREATE TABLE {schema}.{prefix}letters (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        f" sort_id TEXT NOT NULL, letter TEXT NOT NULL, key TEXT NOT NULL UNIQUE,"
        f" {_columns(letter_cols)})",
        f"CREATE TABLE {schema}.{prefix}items (lid INTEGER NOT NULL, {_columns(ITEM_COLUMNS)},"
        " PRIMARY KEY (lid, item_index)) WITHOUT ROWID",
        # Ordered by dimension and group: one dimension's figures are one range,
        # read in group order (GROUP BY needs no sort).
        f"CREATE TABLE {schema}.{prefix}groups (lid INTEGER NOT NULL, item INTEGER NOT NULL,"
        " dim TEXT NOT NULL, pos INTEGER NOT NULL, gkey TEXT NOT NULL, name TEXT NOT NULL,"
        " decision TEXT, first INTEGER NOT NULL,"
        " PRIMARY KEY (dim, gkey, lid, item, pos)) WITHOUT ROWID",
        # A letter's rows (deleting them) and an item's groups (two-way tables).
        f"CREATE INDEX {schema}.{prefix}groups_item ON {prefix}groups (lid, item, dim, name)",
    ]


# Not INSERT OR IGNORE: in a trigger, the upsert that fired it overrides the OR clause.
_PEND = (
    f"INSERT INTO {PENDING} (key) SELECT new.key"
    f" WHERE NOT EXISTS (SELECT 1 FROM {PENDING} WHERE key = new.key)"
)
_SCHEMA = [
    *_tables("main", "flat_"),
    # The letters of a file (the review's corrections are keyed by it).
    f"CREATE INDEX flat_letters_letter ON {LETTERS} (letter)",
    f"CREATE TABLE {PENDING} (key TEXT PRIMARY KEY) WITHOUT ROWID",
    f"""CREATE TRIGGER flat_letter_gone AFTER DELETE ON {LETTERS} BEGIN
        DELETE FROM {ITEMS} WHERE lid = old.id;
        DELETE FROM {GROUPS} WHERE lid = old.id;
    END""",
    # Whatever writes results: the letter's rows go, its key waits to be derived,
    # and the generation (what the query views were made from) moves on.
    f"""CREATE TRIGGER flat_result_added AFTER INSERT ON results BEGIN
        {_PEND};
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'results_generation';
    END""",
    f"""CREATE TRIGGER flat_result_changed AFTER UPDATE ON results BEGIN
        DELETE FROM {LETTERS} WHERE key = old.key;
        {_PEND};
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'results_generation';
    END""",
    f"""CREATE TRIGGER flat_result_gone AFTER DELETE ON results BEGIN
        DELETE FROM {LETTERS} WHERE key = old.key;
        DELETE FROM {PENDING} WHERE key = old.key;
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'results_generation';
    END""",
]
OBJECTS = (
    ("trigger", "flat_result_added"),
    ("trigger", "flat_result_changed"),
    ("trigger", "flat_result_gone"),
    ("table", LETTERS),
    ("table", ITEMS),
    ("table", GROUPS),
    ("table", PENDING),
)


def meta(db: sqlite3.Connection, name: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def is_current(db: sqlite3.Connection) -> bool:
    """The store has this version's tables (complete or not)."""
    return meta(db, "flat_format") == fingerprint()


def ensure(db: sqlite3.Connection) -> None:
    """This version's tables and triggers in the store (a writer's connection); when
    they are new, every stored letter is listed as pending."""
    if is_current(db):
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        if not is_current(db):  # another process may have done it meanwhile
            for kind, name in OBJECTS:
                db.execute(f"DROP {kind.upper()} IF EXISTS {name}")
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"INSERT INTO {PENDING} (key) SELECT key FROM results")
            db.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES ('results_generation', '0')"
            )
            db.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES ('flat_format', ?)",
                (fingerprint(),),
            )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


# --- writing a letter's rows ---------------------------------------------------------
@functools.lru_cache(maxsize=32)
def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table} ({', '.join(q(c) for c in columns)}) VALUES ({marks})"


def _insert(db: sqlite3.Connection, table: str, columns: list[str], rows: list[Any]) -> None:
    if rows:
        db.executemany(_insert_sql(table, tuple(columns)), rows)


def group_rows(lid: int, rec: dict[str, Any]) -> list[tuple[Any, ...]]:
    """``flat_groups`` rows of a record: each item's groups in every dimension."""
    out: list[tuple[Any, ...]] = []
    seen: set[tuple[str, str]] = set()
    for i, it in enumerate(rec.get("items") or []):
        decision = it.get("decision")
        for dim in DIMENSIONS:
            for pos, name in enumerate(groups_of(dim, rec, it)):
                gkey = group_key(name)
                first = (dim, gkey) not in seen
                seen.add((dim, gkey))
                out.append((lid, i, dim, pos, gkey, name, decision, int(first)))
    return out


def add_letter(
    db: sqlite3.Connection,
    row: Any,
    rec: dict[str, Any],
    *,
    prefix: str = "flat_",
    review: ReviewInfo = NO_REVIEW,
    lid: int | None = None,
) -> int:
    """Write one stored letter's rows (``row``: its results row; ``rec``: its record,
    corrected or not); its ``lid``, new unless given."""
    letter = letter_row(row, rec, review)
    values = [row["letter_id"], letter_ref(row), *(letter[c] for c in LETTER_COLUMNS)]
    columns = LETTER_SQL_COLUMNS
    if lid is not None:
        columns, values = ["id", *columns], [lid, *values]
    _insert(db, f"{prefix}letters", columns, [values])
    if lid is None:
        lid = int(db.execute("SELECT last_insert_rowid()").fetchone()[0])
    items = [[lid, *(r[c] for c in ITEM_COLUMNS)] for r in item_rows(row, rec, review)]
    _insert(db, f"{prefix}items", ITEM_SQL_COLUMNS, items)
    _insert(db, f"{prefix}groups", GROUP_SQL_COLUMNS, group_rows(lid, rec))
    return lid


def derive(db: sqlite3.Connection, keys: list[str]) -> None:
    """Write the rows of the letters ``keys`` from their results rows, in the caller's
    transaction (failed letters have none), and clear them from the pending list."""
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        db.execute(f"DELETE FROM {LETTERS} WHERE key IN ({marks})", chunk)
        for row in db.execute(f"SELECT * FROM results WHERE key IN ({marks})", chunk).fetchall():
            if row["status"] == DONE and row["record_json"]:
                add_letter(db, row, json.loads(row["record_json"]))
        db.execute(f"DELETE FROM {PENDING} WHERE key IN ({marks})", chunk)


def derive_committed(db: sqlite3.Connection, keys: list[str]) -> None:
    """:func:`derive` inside a commit: a letter whose rows cannot be written is still
    committed (its key stays pending and a reader derives it), never lost for them."""
    if not is_current(db):
        return  # another version's tables: the triggers listed the keys as pending
    db.execute("SAVEPOINT flat_rows")
    try:
        derive(db, keys)
    except Exception as exc:  # the letters matter more than their analysis rows
        db.execute("ROLLBACK TO flat_rows")
        log.warning("analysis rows not written for %d letter(s), left pending: %s", len(keys), exc)
    db.execute("RELEASE flat_rows")


# --- readers ---------------------------------------------------------------------------
def pending(db: sqlite3.Connection) -> int:
    return int(db.execute(f"SELECT COUNT(*) FROM {PENDING}").fetchone()[0])


def backfill(db: sqlite3.Connection, *, chunk: int = 500) -> int:
    """Derive every pending letter, ``chunk`` per transaction (a batch writing the
    store meanwhile waits for one chunk at most); how many."""
    done = 0
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            keys = [str(r[0]) for r in db.execute(f"SELECT key FROM {PENDING} LIMIT ?", (chunk,))]
            derive(db, keys)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        done += len(keys)
        if len(keys) < chunk:
            return done


def connect_rw(outdir: Path) -> sqlite3.Connection:
    db = sqlite3.connect(db_path(outdir), isolation_level=None, timeout=30.0)
    db.row_factory = sqlite3.Row
    return db


def connect_ro(outdir: Path) -> sqlite3.Connection:
    db = sqlite3.connect(f"file:{db_path(outdir)}?mode=ro", uri=True, isolation_level=None)
    db.row_factory = sqlite3.Row
    return db


def prepare(outdir: Path) -> bool:
    """Bring the store's analysis rows up to date when it can be written (once for a
    store made before they existed); True when they are complete and current."""
    outdir = Path(outdir)
    if os.access(db_path(outdir), os.W_OK) and os.access(outdir, os.W_OK):
        with contextlib.closing(connect_rw(outdir)) as db:
            ensure(db)
            n = backfill(db)
            if n:
                log.info("analysis rows derived for %d stored letter(s)", n)
            return True
    with contextlib.closing(connect_ro(outdir)) as db:
        return is_current(db) and pending(db) == 0


# --- the review's corrections, applied when read -----------------------------------------
TEMP_PREFIX = "reviewed_"


@dataclass(frozen=True)
class Touched:
    """A stored letter a person corrected or gave a state to in ``llm-extract review``."""

    lid: int
    row: sqlite3.Row  # its results row
    state: LetterState | None


def start_overlay(db: sqlite3.Connection) -> None:
    """Temporary tables on ``db`` (read-only is fine): ``reviewed_*`` for the letters
    derived again with their corrections, ``skip`` for the lids read from there (or
    left out) instead of from the stored rows."""
    for table in ("letters", "items", "groups"):
        db.execute(f"DROP TABLE IF EXISTS temp.{TEMP_PREFIX}{table}")
    db.execute("DROP TABLE IF EXISTS temp.skip")
    for statement in _tables("temp", TEMP_PREFIX):
        db.execute(statement)
    db.execute("CREATE TEMP TABLE skip (lid INTEGER PRIMARY KEY)")


def touched(
    db: sqlite3.Connection, letters: Iterable[str], states: dict[str, LetterState]
) -> Iterator[Touched]:
    """The stored letters of the review refs ``letters`` (each may be stored under several
    keys: one per backend), in the store's order; each is added to ``skip``."""
    found: list[Touched] = []
    for letter in set(letters):
        for r in db.execute(f"SELECT id, key FROM {LETTERS} WHERE letter = ?", (letter,)):
            row = db.execute("SELECT * FROM results WHERE key = ?", (r["key"],)).fetchone()
            found.append(Touched(int(r["id"]), row, states.get(letter)))
    db.executemany("INSERT OR IGNORE INTO skip (lid) VALUES (?)", [(t.lid,) for t in found])
    yield from sorted(found, key=lambda t: (t.row["letter_id"], t.row["key"]))
