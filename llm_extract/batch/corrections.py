"""Corrections as data: tables of their own in the batch store, and applying them.

Three tables, created here on the batch's own SQLite file (``batch.sqlite3``)
beside ``results``, which is never written by the review:

- ``corrections``: one row per value a person set or accepted (letter, field
  path, old value, new value, reviewer, time, where it came from).  Rows are
  only ever appended: the last row of a field is its value, the earlier ones
  are its history.
- ``letter_reviews``: one row each time a person marks a letter reviewed or
  unusable (with a note), or opens it again.  The last row is its state.
- ``review_texts``: the letter text a reviewer saw, by ``text_sha256``, so a
  letter page opens without reading the PDF again and still opens when the
  archive has moved.

**Which letter.**  A correction belongs to the letter (``file_sha256``, the
hash of its bytes), not to one extraction of it (``results.key`` also hashes
the backend, model and prompt version).  So it survives a later batch run,
``--retry-failed`` (which replaces the ``results`` row in place) and a run
with another backend version.  It records the value it corrected
(``old_value``) and applies only while the extraction still says that:

- extraction == old value: the person's value replaces it (*applied*);
- extraction == new value: the extractor now agrees (*applied*, nothing to do);
- anything else: **stale** -- the extraction changed since the person looked
  (or the item list did and ``items[2]`` is another item).  A stale correction
  is not applied; the letter goes back into the review queue with the reason,
  and ``export`` / ``stats`` count it.

Why a person's value is not applied blindly over a changed extraction: an item
path is positional, and a re-extraction that finds one more item shifts every
index after it.

**The item list.**  Adding or deleting an item is one correction of the field
``items`` whose value is the whole list as the page had it (earlier item edits
included, so those are not applied again); it is applied before the item
fields' corrections, which name items of the changed list.

(A little over 400 lines: the tables, their reading and writing, and the rule
that applies them belong together; split, each part would need the others.)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..field_paths import PathError, get_path, set_path
from .store import DB_NAME, STORE_VERSION, StoreError

# The field path of the item list: a person added or deleted an item.
ITEMS = "items"
REVIEWED = "reviewed"
UNUSABLE = "unusable"
REOPENED = "reopened"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS corrections (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    letter      TEXT NOT NULL,   -- results.file_sha256 (or 'key:' + key without one)
    key         TEXT NOT NULL,   -- the results row the person looked at
    letter_id   TEXT NOT NULL,
    field       TEXT NOT NULL,   -- items[0].quantity
    action      TEXT NOT NULL CHECK (action IN ('set', 'accept')),
    old_value   TEXT,            -- JSON: what the extraction said
    new_value   TEXT,            -- JSON: what the person set (= old for accept)
    reviewer    TEXT NOT NULL,
    origin      TEXT NOT NULL DEFAULT 'review',  -- review | label-studio
    created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS corrections_letter ON corrections (letter, field, id);
CREATE TABLE IF NOT EXISTS letter_reviews (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    letter      TEXT NOT NULL,
    key         TEXT NOT NULL,
    letter_id   TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('reviewed', 'unusable', 'reopened')),
    note        TEXT,
    reviewer    TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS letter_reviews_letter ON letter_reviews (letter, id);
-- MAX(finished_at) answers from this index instead of reading every record
-- (the review's change check; 120 MiB of rows at 10,000 letters).
CREATE INDEX IF NOT EXISTS review_results_finished ON results (finished_at);
CREATE TABLE IF NOT EXISTS review_texts (
    text_sha256 TEXT PRIMARY KEY,
    text        TEXT NOT NULL
);
"""


class ConflictError(Exception):
    """Someone else changed the field since the page was loaded."""

    def __init__(self, field: str, current: Any, by: str | None) -> None:
        self.field = field
        self.current = current
        self.by = by
        who = f" by {by}" if by else ""
        super().__init__(
            f"{field} was changed{who} to {json.dumps(current)} while you were editing; "
            "your value was not saved: reload the letter and set it again"
        )


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def letter_ref(row: Any) -> str:
    """The letter a results row is about: its file hash (or its key when unknown)."""
    return row["file_sha256"] or f"key:{row['key']}"


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class Correction:
    id: int
    letter: str
    key: str
    letter_id: str
    field: str
    action: str
    old_value: Any
    new_value: Any
    reviewer: str
    origin: str
    created_at: str

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> Correction:
        return cls(
            id=r["id"],
            letter=r["letter"],
            key=r["key"],
            letter_id=r["letter_id"],
            field=r["field"],
            action=r["action"],
            old_value=json.loads(r["old_value"]) if r["old_value"] is not None else None,
            new_value=json.loads(r["new_value"]) if r["new_value"] is not None else None,
            reviewer=r["reviewer"],
            origin=r["origin"],
            created_at=r["created_at"],
        )


@dataclass(frozen=True)
class LetterState:
    status: str
    note: str | None
    reviewer: str
    created_at: str


@dataclass
class Applied:
    """A record with a letter's corrections applied, and what happened to each."""

    record: dict[str, Any]
    corrected: dict[str, Correction] = field(default_factory=dict)  # a person changed it
    accepted: dict[str, Correction] = field(default_factory=dict)  # a person confirmed it
    stale: dict[str, Correction] = field(default_factory=dict)  # not applied

    @property
    def person_fields(self) -> list[str]:
        """Fields whose value a person set or confirmed (in record order of paths)."""
        return sorted({*self.corrected, *self.accepted})


def latest_per_field(corrections: Iterable[Correction]) -> dict[str, Correction]:
    out: dict[str, Correction] = {}
    for c in sorted(corrections, key=lambda c: c.id):
        out[c.field] = c
    return out


def apply_corrections(record: dict[str, Any], corrections: Iterable[Correction]) -> Applied:
    """Apply the last correction of each field to a copy of ``record`` (JSON)."""
    data = json.loads(json.dumps(record))
    applied = Applied(data)
    latest = latest_per_field(corrections)
    if ITEMS in latest:
        # A changed item list was taken from the page with every earlier item
        # edit in it: those edits are in its value and must not apply again
        # (item 0 may be another item now).
        cut = latest[ITEMS].id
        latest = {p: c for p, c in latest.items() if not (p.startswith("items[") and c.id < cut)}
    # The item list itself (an item added or deleted) first: the item fields'
    # corrections were made against the list as the person had changed it.
    order = sorted(latest, key=lambda p: p != ITEMS)
    for path in order:
        c = latest[path]
        try:
            current = get_path(data, path)
            if current == c.new_value:
                pass
            elif current == c.old_value:
                set_path(data, path, c.new_value)
            else:
                applied.stale[path] = c
                continue
        except PathError:
            applied.stale[path] = c
            continue
        if c.action == "set" and c.new_value != c.old_value:
            applied.corrected[path] = c
        else:
            applied.accepted[path] = c
    return applied


class ReviewDB:
    """The review's tables in ``OUTDIR/batch.sqlite3``; one connection per thread.

    It does not take the batch's lock: a batch may run while people review
    (WAL lets the two write the same file; each write is one short
    transaction, and ``results`` is only read here).
    """

    def __init__(self, outdir: Path) -> None:
        self.outdir = Path(outdir)
        self.path = self.outdir / DB_NAME
        if not self.path.is_file():
            raise StoreError(
                f"{self.outdir} holds no batch results ({DB_NAME} is missing); "
                "run `llm-extract batch INPUT... -o OUTDIR` first"
            )
        self._local = threading.local()
        try:
            db = self.conn()
            row = db.execute("SELECT value FROM meta WHERE name = 'store_version'").fetchone()
            if row is None or row[0] != STORE_VERSION:
                raise StoreError(f"{self.path} is not a batch store of version {STORE_VERSION}")
            db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a batch store ({exc})") from exc

    def conn(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout = 30000")
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # --- reading ------------------------------------------------------------
    def result(self, key: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = (
            self.conn().execute("SELECT * FROM results WHERE key = ?", (key,)).fetchone()
        )
        return row

    def iter_results(self, status: str | None = None) -> Iterator[sqlite3.Row]:
        sql = "SELECT * FROM results"
        params: tuple[str, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            params = (status,)
        yield from self.conn().execute(sql + " ORDER BY letter_id, key", params)

    def corrections(self, letter: str) -> list[Correction]:
        return [
            Correction.from_row(r)
            for r in self.conn().execute(
                "SELECT * FROM corrections WHERE letter = ? ORDER BY id", (letter,)
            )
        ]

    def all_corrections(self) -> dict[str, list[Correction]]:
        out: dict[str, list[Correction]] = {}
        for r in self.conn().execute("SELECT * FROM corrections ORDER BY id"):
            out.setdefault(r["letter"], []).append(Correction.from_row(r))
        return out

    def state(self, letter: str) -> LetterState | None:
        r = (
            self.conn()
            .execute(
                "SELECT status, note, reviewer, created_at FROM letter_reviews"
                " WHERE letter = ? ORDER BY id DESC LIMIT 1",
                (letter,),
            )
            .fetchone()
        )
        return None if r is None else LetterState(r[0], r[1], r[2], r[3])

    def all_states(self) -> dict[str, LetterState]:
        out: dict[str, LetterState] = {}
        for r in self.conn().execute(
            "SELECT letter, status, note, reviewer, created_at FROM letter_reviews ORDER BY id"
        ):
            out[r[0]] = LetterState(r[1], r[2], r[3], r[4])
        return out

    def version(self) -> tuple[Any, ...]:
        """Changes whenever results, corrections or letter states change."""
        db = self.conn()
        # Separate statements: each is answered from an index alone.
        n = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        last = db.execute("SELECT MAX(finished_at) FROM results").fetchone()[0]
        cor = db.execute("SELECT MAX(id) FROM corrections").fetchone()[0]
        rev = db.execute("SELECT MAX(id) FROM letter_reviews").fetchone()[0]
        return (n, last, cor, rev)

    # --- writing ------------------------------------------------------------
    def add_correction(
        self,
        key: str,
        path: str,
        new_value: Any,
        *,
        reviewer: str,
        expected: Any = ...,
        action: str = "set",
        origin: str = "review",
    ) -> Correction:
        """Append one correction of ``path`` on the letter of results row ``key``.

        ``expected`` is the value the person saw (the extraction with the
        corrections of that moment); when someone else has changed the field
        since, :class:`ConflictError` is raised and nothing is written, so two
        people editing one letter never overwrite each other unknowingly.
        Edits of different fields never conflict.
        """
        db = self.conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT * FROM results WHERE key = ?", (key,)).fetchone()
            if row is None or not row["record_json"]:
                raise KeyError(key)
            letter = letter_ref(row)
            record = json.loads(row["record_json"])
            # What the page showed: the extraction with all the letter's corrections.
            everything = [
                Correction.from_row(r)
                for r in db.execute(
                    "SELECT * FROM corrections WHERE letter = ? ORDER BY id", (letter,)
                )
            ]
            # An item path names an item of the list as the person changed it:
            # its old value is read after the item-list corrections.
            structural = [c for c in everything if c.field == ITEMS and path.startswith("items[")]
            old = get_path(apply_corrections(record, structural).record, path)
            history = [c for c in everything if c.field == path]
            current = get_path(apply_corrections(record, everything).record, path)
            if expected is not ... and current != expected:
                last = history[-1].reviewer if history else None
                raise ConflictError(path, current, last)
            cur = db.execute(
                "INSERT INTO corrections (letter, key, letter_id, field, action, old_value,"
                " new_value, reviewer, origin, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    letter,
                    key,
                    row["letter_id"],
                    path,
                    action,
                    dumps(old),
                    dumps(new_value),
                    reviewer,
                    origin,
                    now(),
                ),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        (created,) = [
            Correction.from_row(r)
            for r in db.execute("SELECT * FROM corrections WHERE id = ?", (cur.lastrowid,))
        ]
        return created

    def set_state(self, key: str, status: str, *, reviewer: str, note: str | None = None) -> None:
        row = self.result(key)
        if row is None:
            raise KeyError(key)
        self.conn().execute(
            "INSERT INTO letter_reviews (letter, key, letter_id, status, note, reviewer,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (letter_ref(row), key, row["letter_id"], status, note or None, reviewer, now()),
        )

    # --- letter texts -------------------------------------------------------
    def cached_text(self, text_sha256: str) -> str | None:
        r = (
            self.conn()
            .execute("SELECT text FROM review_texts WHERE text_sha256 = ?", (text_sha256,))
            .fetchone()
        )
        return None if r is None else str(r[0])

    def cache_text(self, text_sha256: str, text: str) -> None:
        self.conn().execute(
            "INSERT OR IGNORE INTO review_texts (text_sha256, text) VALUES (?, ?)",
            (text_sha256, text),
        )


def effective(db: ReviewDB, row: Any) -> Applied | None:
    """A results row's record with its letter's corrections applied (None: no record)."""
    if not row["record_json"]:
        return None
    return apply_corrections(json.loads(row["record_json"]), db.corrections(letter_ref(row)))


def open_if_present(outdir: Path) -> ReviewDB | None:
    """The review tables when the store has them (exports of never-reviewed stores
    must not create tables: they open the store read-only)."""
    path = Path(outdir) / DB_NAME
    if not path.is_file():
        return None
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        have = db.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'corrections'"
        ).fetchone()[0]
    return ReviewDB(outdir) if have else None
