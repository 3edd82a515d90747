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

The counting is SQL over the store's analysis rows (:mod:`.stats_flat`,
:mod:`.flat`), written when each letter was committed; this module counts
records (:func:`compute_stats`), which is what a store whose analysis rows are
incomplete and that cannot be written is read with.  Either way memory grows
with the number of groups only.

The values counted are the corrected ones: what a person set in
``llm-extract review`` replaces the extraction, letters marked unusable are
left out, and :class:`ReviewCounts` says how many letters were reviewed and
how many values corrected (``stats --raw``: the extraction as produced).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..drugs import forget_corrected
from ..intervals import Rate
from .corrections import REVIEWED, UNUSABLE, apply_corrections, letter_ref, open_if_present
from .dimensions import DIMENSIONS, group_key, groups_of, label
from .flat import prepare
from .stats_flat import flat_stats
from .stats_types import Group, Pair, ReviewCounts, Stats, backend_lines
from .store import Store, db_path


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
    from_records: bool = False,
) -> Stats:
    """The figures of a store, with the corrections of ``llm-extract review`` applied
    (letters marked unusable left out) unless ``raw``; ``reviewed_only`` leaves out
    the letters flagged for review that no person has reviewed yet.  ``dims``: the
    one-way dimensions to count (default: all of them; fewer is faster).

    From the store's analysis rows (:mod:`.flat`, brought up to date first when
    the store can be written); from the records themselves, each read and
    counted, when ``from_records`` or when the rows are not complete in a store
    that cannot be written."""
    Store(Path(outdir), writer=False).close()  # a clear StoreError when OUTDIR is no store
    if not from_records and prepare(Path(outdir)):
        return flat_stats(
            Path(outdir),
            backend=backend,
            raw=raw,
            reviewed_only=reviewed_only,
            pairs=pairs,
            dims=dims,
        )
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
        stats.backends = backend_lines(store.backends(), backend)
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
