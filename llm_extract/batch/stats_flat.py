"""``stats`` from the store's analysis rows (:mod:`.flat`): SQL GROUP BY, no record read.

The figures are those :func:`.stats.compute_stats` makes from the records,
to the count and the name: a group's name is the one its first item (in the
store's order: ``letter_id``, ``key``, item, position) gave it, as when the
records are read in order.  Letters a person touched in ``llm-extract review``
are derived again with their corrections into temporary tables
(:func:`.flat.touched`) and counted from there; every other letter from the
stored rows.  Memory holds the groups only; SQLite reads one dimension's rows
in group order, so no sort either.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .corrections import REVIEWED, UNUSABLE
from .dimensions import DIMENSIONS
from .export import Reviews
from .flat import GROUPS, LETTERS, TEMP_PREFIX, add_letter, connect_ro, start_overlay, touched
from .stats_types import Group, Pair, ReviewCounts, Stats, backend_lines

# The stored rows but those of letters read from the overlay or left out, then the
# overlay (letters a person touched, derived again): table, condition on a letter id.
_SKIPPED = "{} NOT IN (SELECT lid FROM temp.skip)"
_SOURCES = ((GROUPS, _SKIPPED), (f"temp.{TEMP_PREFIX}groups", "1 OR {}"))


def _overlay(
    db: sqlite3.Connection, reviews: Reviews, backend: str | None, review: ReviewCounts
) -> None:
    """The letters a person touched, counted as the review left them (the same rules,
    in the same order, as the records are counted: unusable out, then --reviewed-only)."""
    for t in touched(db, {*reviews.corrections, *reviews.states}, reviews.states):
        if backend is not None and t.row["backend"] != backend:
            continue
        if t.state is not None and t.state.status == UNUSABLE:
            review.unusable_letters += 1
            continue
        rec = json.loads(t.row["record_json"])
        reviewed = t.state is not None and t.state.status == REVIEWED
        if review.reviewed_only and not reviewed and rec.get("needs_review"):
            review.unreviewed_letters += 1
            continue
        review.reviewed_letters += reviewed
        rec, info = reviews.apply(t.row, rec)
        review.corrected_values += len(info.corrected)
        review.corrected_letters += bool(info.corrected)
        review.stale_corrections += info.stale
        add_letter(db, t.row, rec, prefix=TEMP_PREFIX, review=info, lid=t.lid)


def _first(db: sqlite3.Connection, sql: str, params: tuple[Any, ...], lid: str) -> tuple[Any, ...]:
    """The first row in the store's order of ``sql`` (its first columns: the order),
    over the stored rows and the overlay (``lid``: the letter id's column)."""
    rows = [
        db.execute(sql.format(table=table, where=where.format(lid)), params).fetchone()
        for table, where in _SOURCES
    ]
    return min(tuple(r) for r in rows if r is not None)


def _one_way(db: sqlite3.Connection, dim: str) -> dict[str, Group]:
    sums: dict[str, list[Any]] = {}
    for table, where in _SOURCES:
        for gkey, n, up, ov, letters, low, high in db.execute(
            "SELECT gkey, COUNT(*), SUM(decision = 'upheld'), SUM(decision = 'overturned'),"
            f" SUM(first), MIN(name), MAX(name) FROM {table} WHERE dim = ?"
            f" AND ({where.format('lid')})"
            " GROUP BY gkey",
            (dim,),
        ):
            s = sums.setdefault(gkey, [0, 0, 0, 0, set()])
            s[0] += n
            s[1] += up
            s[2] += ov
            s[3] += letters
            s[4].update((low, high))
    out: dict[str, Group] = {}
    for gkey, (n, up, ov, letters, names) in sums.items():
        name = names.pop() if len(names) == 1 else _first_name(db, dim, gkey)
        out[gkey] = Group(name, None, letters, n, up, ov)
    return out


def _first_name(db: sqlite3.Connection, dim: str, gkey: str) -> str:
    """The name of a group spelt several ways: the spelling met first."""
    sql = (
        f"SELECT l.sort_id, l.key, g.item, g.pos, g.name FROM {{table}} g JOIN {LETTERS} l"
        " ON l.id = g.lid WHERE g.dim = ? AND g.gkey = ? AND ({where}) ORDER BY 1, 2, 3, 4"
        " LIMIT 1"
    )
    return str(_first(db, sql, (dim, gkey), "g.lid")[-1])


def _two_way(db: sqlite3.Connection, pair: Pair) -> dict[Pair, Group]:
    """Cells of the table ``pair``: an item counts once per pair of its groups."""
    a, b = pair
    sums: dict[Pair, list[Any]] = {}
    for table, where in _SOURCES:
        for ga, gb, letters, n, up, ov, *names in db.execute(
            "SELECT ga, gb, COUNT(*), SUM(n), SUM(up), SUM(ov), MIN(na), MAX(xa), MIN(nb),"
            " MAX(xb) FROM (SELECT x.gkey AS ga, y.gkey AS gb, COUNT(*) AS n,"
            " SUM(x.decision = 'upheld') AS up, SUM(x.decision = 'overturned') AS ov,"
            " MIN(x.name) AS na, MAX(x.name) AS xa, MIN(y.name) AS nb, MAX(y.name) AS xb"
            f" FROM {table} x JOIN {table} y ON y.lid = x.lid AND y.item = x.item"
            f" AND y.dim = ? WHERE x.dim = ? AND ({where.format('x.lid')})"
            " GROUP BY x.lid, x.gkey, y.gkey)"
            " GROUP BY ga, gb",
            (b, a),
        ):
            s = sums.setdefault((ga, gb), [0, 0, 0, 0, set(), set()])
            s[0] += letters
            s[1] += n
            s[2] += up
            s[3] += ov
            s[4].update(names[:2])
            s[5].update(names[2:])
    out: dict[Pair, Group] = {}
    sql = (
        "SELECT l.sort_id, l.key, x.item, x.pos, y.pos, x.name, y.name FROM {table} x"
        f" JOIN {{table}} y ON y.lid = x.lid AND y.item = x.item JOIN {LETTERS} l ON l.id = x.lid"
        " WHERE x.dim = ? AND x.gkey = ? AND y.dim = ? AND y.gkey = ? AND ({where})"
        " ORDER BY 1, 2, 3, 4, 5 LIMIT 1"
    )
    for (ga, gb), (letters, n, up, ov, names_a, names_b) in sums.items():
        if len(names_a) == 1 and len(names_b) == 1:
            name_a, name_b = names_a.pop(), names_b.pop()
        else:
            name_a, name_b = _first(db, sql, (a, ga, b, gb), "x.lid")[-2:]
        out[(ga, gb)] = Group(name_a, name_b, letters, n, up, ov)
    return out


def flat_stats(
    outdir: Path,
    *,
    backend: str | None,
    raw: bool,
    reviewed_only: bool,
    pairs: Iterable[Pair],
    dims: Iterable[str] | None,
) -> Stats:
    """The figures of :func:`.stats.stats_from_store`, from the analysis rows."""
    reviews = Reviews(Path(outdir), raw)
    stats = Stats(review=ReviewCounts(raw=raw, reviewed_only=reviewed_only))
    with contextlib.closing(connect_ro(Path(outdir))) as db:
        start_overlay(db)
        _overlay(db, reviews, backend, stats.review)
        if backend is not None:
            db.execute(
                f"INSERT OR IGNORE INTO temp.skip SELECT id FROM {LETTERS} WHERE backend IS NOT ?",
                (backend,),
            )
        if reviewed_only:  # the letters nobody touched: none is reviewed
            cur = db.execute(
                f"INSERT OR IGNORE INTO temp.skip SELECT id FROM {LETTERS} WHERE needs_review"
            )
            stats.review.unreviewed_letters += cur.rowcount
        o = stats.overall
        for table, where in ((LETTERS, _SKIPPED), (f"temp.{TEMP_PREFIX}letters", "1 OR {}")):
            n, items, up, ov = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(n_items), 0), COALESCE(SUM(n_upheld), 0),"
                f" COALESCE(SUM(n_overturned), 0) FROM {table} WHERE {where.format('id')}"
            ).fetchone()
            o.letters, o.items, o.upheld, o.overturned = (
                o.letters + n,
                o.items + items,
                o.upheld + up,
                o.overturned + ov,
            )
        stats.by = {dim: _one_way(db, dim) for dim in (DIMENSIONS if dims is None else dims)}
        stats.cross = {pair: _two_way(db, pair) for pair in pairs}
        failed = "SELECT COUNT(*) FROM results WHERE status = 'failed'"
        params: tuple[str, ...] = ()
        if backend is not None:
            failed, params = failed + " AND backend = ?", (backend,)
        stats.failed_letters = int(db.execute(failed, params).fetchone()[0])
        present = db.execute(
            "SELECT backend, backend_version, model, prompt_version, COUNT(*)"
            f" FROM {LETTERS} GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC"
        ).fetchall()
        stats.backends = backend_lines([tuple(r) for r in present], backend)
    return stats
