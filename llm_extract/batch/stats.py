"""Uphold / overturn rates from a batch store, each with its 95 % interval.

The unit is the disputed item (each has its own decision).  Items are grouped
by the dimensions of :mod:`.dimensions`: by default

- **category** (``Item.category``; ``(none)`` when the backend left it null);
- **MAXIMUS guideline source**: an item counts once under each source its
  MAXIMUS guideline cites (an MTUS/ACOEM chapter counts under both, per
  RECORD.md), so these rows overlap; ``(none cited)`` when it cites none;
- **reviewer specialty**: every item of a letter counts under each of its
  reviewer's specialties (grouped ignoring case and ``&``/``and``); ``(not stated)`` when
  the letter names none;

and on request priority, drug ingredient, drug class and decision
year/quarter/month, and two-way tables of any two of them.  Every rate comes
with its Wilson interval and the count behind it (:mod:`llm_extract.intervals`);
groups under 20 items are marked ``small``.

Rows stream from the store; memory grows with the number of groups only.

The values counted are the corrected ones: what a person set in
``llm-extract review`` replaces the extraction, letters marked unusable are
left out, and :class:`ReviewCounts` says how many letters were reviewed and
how many values corrected (``stats --raw``: the extraction as produced).
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..drugs import forget_corrected
from ..intervals import Rate
from .corrections import REVIEWED, UNUSABLE, apply_corrections, letter_ref, open_if_present
from .dimensions import DEFAULT_DIMENSIONS, DIMENSIONS, TIME_DIMENSIONS, groups_of, label
from .store import Store, db_path

Pair = tuple[str, str]


@dataclass
class Group:
    name: str
    # The column's group in a two-way table (None in a one-way table).
    name2: str | None = None
    letters: int = 0
    items: int = 0
    upheld: int = 0
    overturned: int = 0

    @property
    def uphold_rate(self) -> float | None:
        decided = self.upheld + self.overturned
        return self.upheld / decided if decided else None

    @property
    def overturn_rate(self) -> float | None:
        decided = self.upheld + self.overturned
        return self.overturned / decided if decided else None

    @property
    def uphold(self) -> Rate:
        return Rate.of(self.upheld, self.upheld + self.overturned)

    @property
    def overturn(self) -> Rate:
        return Rate.of(self.overturned, self.upheld + self.overturned)

    @property
    def small(self) -> bool:
        return self.overturn.small

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "letters": self.letters,
            "items": self.items,
            "upheld": self.upheld,
            "overturned": self.overturned,
            "uphold_rate": self.uphold_rate,
            "overturn_rate": self.overturn_rate,
        }

    def full_dict(self) -> dict[str, Any]:
        """:meth:`as_dict` plus both rates' intervals and counts, and the small-group mark."""
        out = self.as_dict()
        if self.name2 is not None:
            out["name2"] = self.name2
        out.update(uphold=self.uphold.as_dict(), overturn=self.overturn.as_dict(), small=self.small)
        return out


@dataclass
class ReviewCounts:
    """What people did in ``llm-extract review`` (counted into the rates unless --raw)."""

    reviewed_letters: int = 0  # marked reviewed (their values are a person's)
    unusable_letters: int = 0  # marked unusable: left out of the rates
    corrected_letters: int = 0  # letters with at least one value a person changed
    corrected_values: int = 0  # values a person changed, in all
    stale_corrections: int = 0  # not applied: the extraction changed since
    raw: bool = False
    # --reviewed-only: letters flagged for review and not yet reviewed are left out.
    reviewed_only: bool = False
    unreviewed_letters: int = 0  # left out by --reviewed-only

    def as_dict(self) -> dict[str, Any]:
        return {
            "reviewed_letters": self.reviewed_letters,
            "unusable_letters": self.unusable_letters,
            "corrected_letters": self.corrected_letters,
            "corrected_values": self.corrected_values,
            "stale_corrections": self.stale_corrections,
            "raw": self.raw,
            "reviewed_only": self.reviewed_only,
            "unreviewed_letters": self.unreviewed_letters,
        }

    def line(self) -> str:
        if self.raw:
            return "raw extraction: corrections from `llm-extract review` are not applied"
        out = (
            f"{self.reviewed_letters} letter(s) reviewed by a person, "
            f"{self.unusable_letters} marked unusable (not counted); "
            f"{self.corrected_values} value(s) corrected in {self.corrected_letters} letter(s)"
        )
        if self.stale_corrections:
            out += f"; {self.stale_corrections} stale correction(s) not applied"
        if self.reviewed_only:
            out += (
                f"; {self.unreviewed_letters} letter(s) flagged for review and not yet "
                "reviewed left out (--reviewed-only)"
            )
        return out


@dataclass
class Stats:
    overall: Group = field(default_factory=lambda: Group("all"))
    by: dict[str, dict[str, Group]] = field(default_factory=lambda: {dim: {} for dim in DIMENSIONS})
    # Two-way tables asked for: (row dimension, column dimension) -> groups.
    cross: dict[Pair, dict[Pair, Group]] = field(default_factory=dict)
    failed_letters: int = 0
    backends: list[str] = field(default_factory=list)
    review: ReviewCounts = field(default_factory=lambda: ReviewCounts())

    def rows(self, dim: str) -> list[Group]:
        """A dimension's groups: periods in time order; others most items first, then by name."""
        if dim in TIME_DIMENSIONS:
            return sorted(self.by[dim].values(), key=lambda g: (g.name.startswith("("), g.name))
        return sorted(self.by[dim].values(), key=lambda g: (-g.items, g.name.casefold()))

    def cross_rows(self, pair: Pair) -> list[Group]:
        """A two-way table's cells, by row group (as :meth:`rows` orders it), then most items."""
        order = {group_key(g.name): i for i, g in enumerate(self.rows(pair[0]))}
        return sorted(
            self.cross[pair].values(),
            key=lambda g: (order.get(group_key(g.name), len(order)), -g.items, str(g.name2)),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.full_dict(),
            "failed_letters": self.failed_letters,
            "backends": self.backends,
            "review": self.review.as_dict(),
            # The default dimensions as they always were (no intervals) ...
            **{
                dim: [g.as_dict() for g in self.rows(dim)]
                for dim in DEFAULT_DIMENSIONS
                if dim in self.by
            },
            # ... and every dimension with intervals, counts and small-group marks.
            "dimensions": {dim: [g.full_dict() for g in self.rows(dim)] for dim in self.by},
            "cross": [
                {"rows": a, "columns": b, "cells": [g.full_dict() for g in self.cross_rows((a, b))]}
                for a, b in self.cross
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


@functools.lru_cache(maxsize=65536)  # a few hundred names, met once per item
def group_key(name: str) -> str:
    """Names that differ only in case, spacing or ``&``/``and`` are one group
    (``Physical Medicine & Rehabilitation`` = ``Physical Medicine and Rehabilitation``)."""
    return " ".join(name.casefold().replace("&", " and ").split())


def _group(table: dict[Any, Group], key: Any, name: str, name2: str | None = None) -> Group:
    g = table.get(key)
    if g is None:
        g = table[key] = Group(name, name2)
    return g


def _add_item(g: Group, decision: str | None) -> None:
    g.items += 1
    if decision == "upheld":
        g.upheld += 1
    elif decision == "overturned":
        g.overturned += 1


def add_record(stats: Stats, rec: dict[str, Any]) -> None:
    """Count one record (as stored: the JSON of a :class:`Record`)."""
    stats.overall.letters += 1
    touched: set[tuple[Any, Any]] = set()  # (table, key) pairs this letter counts in
    wanted = {*stats.by, *(d for pair in stats.cross for d in pair)}
    for it in rec.get("items") or []:
        decision = it.get("decision")
        _add_item(stats.overall, decision)
        names = {dim: groups_of(dim, rec, it) for dim in wanted}
        for dim, values in names.items():
            for name in values:
                key = group_key(name)
                _add_item(_group(stats.by[dim], key, name), decision)
                touched.add((dim, key))
        for pair, table in stats.cross.items():
            for a in names[pair[0]]:
                for b in names[pair[1]]:
                    key2 = (group_key(a), group_key(b))
                    _add_item(_group(table, key2, a, b), decision)
                    touched.add((pair, key2))
    for where, key in touched:
        if isinstance(where, str):
            stats.by[where][key].letters += 1
        else:
            stats.cross[where][key].letters += 1


def compute_stats(
    records: Iterable[dict[str, Any]],
    pairs: Iterable[Pair] = (),
    dims: Iterable[str] | None = None,
) -> Stats:
    """The figures of ``records`` in ``dims`` (default: every dimension), with a
    two-way table for each of ``pairs``."""
    stats = Stats()
    stats.by = {dim: {} for dim in (DIMENSIONS if dims is None else dims)}
    stats.cross = {pair: {} for pair in pairs}
    for rec in records:
        add_record(stats, rec)
    return stats


# What the figures read of a stored record, cut out by SQLite's JSON functions:
# a record is ~10 KB (its evidence mostly), the parts counted under 1 KB, and
# parsing the whole in Python was most of the time of `stats`.
_COUNTED_PARTS = """
SELECT key, file_sha256, json_object(
    'letter_id', json_extract(record_json, '$.letter_id'),
    'decision_date', json_extract(record_json, '$.decision_date'),
    'priority', json_extract(record_json, '$.priority'),
    'needs_review', json(CASE WHEN json_extract(record_json, '$.needs_review')
                         THEN 'true' ELSE 'false' END),
    'reviewer', json(json_extract(record_json, '$.reviewer')),
    'items', (SELECT json_group_array(json_object(
        'decision', json_extract(value, '$.decision'),
        'category', json_extract(value, '$.category'),
        'guideline_sources', json(json_extract(value, '$.guideline_sources')),
        'medication', json(json_extract(value, '$.medication'))))
      FROM json_each(record_json, '$.items'))
) AS counted
FROM results WHERE status = 'done' {where} ORDER BY letter_id, key
"""


def _counted_parts(outdir: Path, backend: str | None) -> Iterator[sqlite3.Row]:
    """Each done letter's key, file hash and the parts of its record the figures count."""
    with contextlib.closing(sqlite3.connect(f"file:{db_path(outdir)}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        where, params = ("AND backend = ?", (backend,)) if backend else ("", ())
        yield from db.execute(_COUNTED_PARTS.format(where=where), params)


def stats_from_store(
    outdir: Path,
    *,
    backend: str | None = None,
    raw: bool = False,
    reviewed_only: bool = False,
    pairs: Iterable[Pair] = (),
    dims: Iterable[str] | None = None,
) -> Stats:
    """The figures of a store, with the corrections of ``llm-extract review`` applied
    (letters marked unusable left out) unless ``raw``; ``reviewed_only`` leaves out
    the letters flagged for review that no person has reviewed yet.  ``dims``: the
    one-way dimensions to count (default: all of them; fewer is faster)."""
    db = None if raw else open_if_present(Path(outdir))
    corrections = db.all_corrections() if db else {}
    states = db.all_states() if db else {}
    if db is not None:
        db.close()
    review = ReviewCounts(raw=raw, reviewed_only=reviewed_only)

    def records() -> Iterable[dict[str, Any]]:
        for row in _counted_parts(Path(outdir), backend):
            letter = letter_ref(row)
            if letter in corrections:  # corrections name any field: the whole record
                rec = json.loads(store.record_json(row["key"]))
            else:
                rec = json.loads(row["counted"])
            st = states.get(letter)
            if st is not None and st.status == UNUSABLE:
                review.unusable_letters += 1
                continue
            reviewed = st is not None and st.status == REVIEWED
            if reviewed_only and not reviewed and rec.get("needs_review"):
                review.unreviewed_letters += 1
                continue
            review.reviewed_letters += reviewed
            if letter in corrections:
                applied = apply_corrections(rec, corrections[letter])
                rec = forget_corrected(applied.record, applied.corrected)
                review.corrected_values += len(applied.corrected)
                review.corrected_letters += bool(applied.corrected)
                review.stale_corrections += len(applied.stale)
            yield rec

    with Store(Path(outdir), writer=False) as store:
        stats = compute_stats(records(), pairs, dims)
        stats.review = review
        stats.failed_letters = store.counts(backend=backend)["failed"]
        stats.backends = [
            " ".join(x for x in (b, v, m, f"prompt {p}" if p else None) if x) + f" ({n} letters)"
            for b, v, m, p, n in store.backends()
            if backend is None or b == backend
        ]
    return stats


def heading(dim: str) -> str:
    """``By category``, ``By MAXIMUS guideline source`` (acronyms kept)."""
    first, _, rest = label(dim).partition(" ")
    return " ".join(x for x in ("By", first if first.isupper() else first.lower(), rest) if x)


def pct(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"


def pct_ci(rate: Rate) -> str:
    """``83.1-90.8%``, or ``-`` for a rate over nothing."""
    return "-" if not rate.n else f"{100 * rate.low:.1f}-{100 * rate.high:.1f}%"


def cross_heading(pair: Pair) -> str:
    """``Category × MAXIMUS guideline source``."""
    return f"{label(pair[0])} × {label(pair[1])}"
