"""The store's analysis rows (batch/flat.py) give the answers the records give.

``stats`` and ``query`` read flat tables written when each letter is
committed; these tests hold them to the figures and views made from the
records themselves (``stats_from_store(from_records=True)``, ``export_store``)
over a real rules batch of corpus letters: with the review's corrections (including a group spelt two
ways) and without (``--raw``), in a store made before the tables existed, in a
store that cannot be written, after a script rewrote a record, and after a
batch was killed mid-run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from analysis_support import build_store, run_rules
from review_support import copy_store

from llm_extract.batch import flat
from llm_extract.batch.corrections import REVIEWED, UNUSABLE, ReviewDB
from llm_extract.batch.dimensions import DIMENSIONS
from llm_extract.batch.export import export_store
from llm_extract.batch.faults import TEST_DELAY_ENV
from llm_extract.batch.stats import stats_from_store

PAIRS = [
    ("category", "maximus_source"),
    ("specialty", "category"),
    ("drug_class", "quarter"),
    ("drug", "specialty"),
]
OPTIONS: list[dict[str, Any]] = [
    {},
    {"raw": True},
    {"reviewed_only": True},
    {"reviewed_only": True, "raw": True},
    {"backend": "rules"},
    {"backend": "llm"},
]


def _db(outdir: Path) -> sqlite3.Connection:
    db = sqlite3.connect(outdir / "batch.sqlite3")
    db.row_factory = sqlite3.Row
    return db


def _count(outdir: Path, sql: str) -> int:
    with contextlib.closing(_db(outdir)) as db:
        return int(db.execute(sql).fetchone()[0])


def _assert_same_figures(outdir: Path) -> None:
    """stats from the analysis rows == stats from the records, every option."""
    for kw in OPTIONS:
        got = stats_from_store(outdir, pairs=PAIRS, **kw).as_dict()
        want = stats_from_store(outdir, pairs=PAIRS, **kw, from_records=True).as_dict()
        assert got == want, kw


def _parquet(dest: Path) -> dict[str, Any]:
    pq = pytest.importorskip("pyarrow.parquet")
    return {t: pq.read_table(dest / f"{t}.parquet") for t in ("letters", "items", "failures")}


def _order(row: dict[str, Any]) -> tuple[str, int]:
    return (row["key"], row.get("item_index") or 0)


def _assert_same_views(outdir: Path, tmp: Path) -> None:
    """query's Parquet views == export_store's tables, row for row, raw or not."""
    from llm_extract.batch.sql import write_views

    for raw in (False, True):
        mine, theirs = tmp / f"views-{raw}", tmp / f"export-{raw}"
        mine.mkdir(exist_ok=True)
        write_views(outdir, mine, raw=raw)
        export_store(outdir, "parquet", dest=theirs, raw=raw)
        a, b = _parquet(mine), _parquet(theirs)
        for table in a:
            assert a[table].schema == b[table].schema, table
            # The same rows; the views keep the order stored, the export letter order.
            rows_a, rows_b = (sorted(t[table].to_pylist(), key=_order) for t in (a, b))
            assert rows_a == rows_b, (raw, table)


@pytest.fixture(scope="module")
def store(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(corpus, tmp_path_factory.mktemp("flat") / "out")


@pytest.fixture()
def outdir(store: Path, tmp_path: Path) -> Path:
    """A copy of the module's store for one test to change."""
    return copy_store(store, tmp_path / "out")


def _keyed(outdir: Path) -> list[tuple[str, dict[str, Any]]]:
    with contextlib.closing(_db(outdir)) as db:
        return [
            (r["key"], json.loads(r["record_json"]))
            for r in db.execute(
                "SELECT key, record_json FROM results WHERE status = 'done' ORDER BY letter_id"
            )
        ]


def _review(outdir: Path) -> None:
    """What people do in review: a category and a decision changed, a medication
    renamed (its drug derived again), a specialty spelt another way (one group, two
    names), letters marked reviewed and unusable."""
    letters = _keyed(outdir)
    db = ReviewDB(outdir)
    try:
        key, rec = letters[0]
        db.add_correction(key, "items[0].category", "surgery", reviewer="ann")
        db.add_correction(key, "items[0].decision", "overturned", reviewer="ann")
        db.set_state(key, REVIEWED, reviewer="ann")
        key, rec = next((k, r) for k, r in letters if (r["reviewer"] or {}).get("specialties"))
        spelt = rec["reviewer"]["specialties"][0].upper()
        db.add_correction(key, "reviewer.specialties", [spelt], reviewer="bob")
        key, rec = next(
            (k, r) for k, r in letters if any(it.get("medication") for it in r["items"])
        )
        i = next(i for i, it in enumerate(rec["items"]) if it.get("medication"))
        db.add_correction(key, f"items[{i}].medication.name", "Norco 10/325mg", reviewer="bob")
        db.set_state(letters[-1][0], UNUSABLE, reviewer="bob", note="two letters in one")
        flagged = [k for k, r in letters if r.get("needs_review")]
        if flagged:
            db.set_state(flagged[0], REVIEWED, reviewer="ann")
    finally:
        db.close()


def test_rows_are_written_with_each_committed_letter(store: Path) -> None:
    done = _count(store, "SELECT COUNT(*) FROM results WHERE status = 'done'")
    assert done > 0
    assert _count(store, f"SELECT COUNT(*) FROM {flat.LETTERS}") == done
    assert _count(store, f"SELECT COUNT(*) FROM {flat.PENDING}") == 0
    items = sum(len(r["items"]) for _, r in _keyed(store))
    assert _count(store, f"SELECT COUNT(*) FROM {flat.ITEMS}") == items
    dims = _count(store, f"SELECT COUNT(DISTINCT dim) FROM {flat.GROUPS}")
    assert dims == len(DIMENSIONS)


def test_stats_and_views_equal_the_records(store: Path, tmp_path: Path) -> None:
    _assert_same_figures(store)
    _assert_same_views(store, tmp_path)


def test_with_corrections_and_raw(outdir: Path, tmp_path: Path) -> None:
    _review(outdir)
    _assert_same_figures(outdir)
    _assert_same_views(outdir, tmp_path)
    fixed = stats_from_store(outdir)
    raw = stats_from_store(outdir, raw=True)
    assert fixed.review.corrected_values >= 4 and fixed.review.unusable_letters == 1
    assert fixed.overall.letters == raw.overall.letters - 1
    assert "surgery" in fixed.by["category"]
    # The group spelt two ways is one group, under the name met first.
    specialty = stats_from_store(outdir, dims=["specialty"]).by["specialty"]
    assert len({g.name.casefold() for g in specialty.values()}) == len(specialty)


def test_a_store_made_before_the_rows_existed_is_derived_once(outdir: Path, tmp_path: Path) -> None:
    _review(outdir)
    with contextlib.closing(_db(outdir)) as db:  # the store as the previous code left it
        for kind, name in flat.OBJECTS:
            db.execute(f"DROP {kind} IF EXISTS {name}")
        db.execute("DELETE FROM meta WHERE name IN ('flat_format', 'results_generation')")
        db.commit()
    want = stats_from_store(outdir, pairs=PAIRS, from_records=True).as_dict()
    got = stats_from_store(outdir, pairs=PAIRS).as_dict()  # derives the rows first
    assert got == want
    done = _count(outdir, "SELECT COUNT(*) FROM results WHERE status = 'done'")
    assert _count(outdir, f"SELECT COUNT(*) FROM {flat.LETTERS}") == done
    assert _count(outdir, f"SELECT COUNT(*) FROM {flat.PENDING}") == 0
    _assert_same_figures(outdir)
    _assert_same_views(outdir, tmp_path)


def test_an_old_store_that_cannot_be_written_is_read_from_its_records(
    outdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with contextlib.closing(_db(outdir)) as db:
        for kind, name in flat.OBJECTS:
            db.execute(f"DROP {kind} IF EXISTS {name}")
        db.execute("DELETE FROM meta WHERE name IN ('flat_format', 'results_generation')")
        db.commit()
    want = stats_from_store(outdir, pairs=PAIRS, from_records=True).as_dict()
    # Not writable (chmod does not stop root, who may run the tests).
    monkeypatch.setattr(flat.os, "access", lambda path, mode: mode != os.W_OK)
    assert not flat.prepare(outdir)
    assert stats_from_store(outdir, pairs=PAIRS).as_dict() == want
    tables = "SELECT COUNT(*) FROM sqlite_master WHERE name = 'flat_letters'"
    assert not _count(outdir, tables), "a store that cannot be written is left as it is"


def test_a_record_rewritten_by_a_script_is_derived_again(outdir: Path) -> None:
    key, rec = _keyed(outdir)[0]
    for it in rec["items"]:
        it["category"] = "acupuncture"
        it["decision"] = "overturned"
    with contextlib.closing(_db(outdir)) as db:
        db.execute("UPDATE results SET record_json = ? WHERE key = ?", (json.dumps(rec), key))
        db.commit()
    assert _count(outdir, f"SELECT COUNT(*) FROM {flat.PENDING}") == 1  # the trigger
    _assert_same_figures(outdir)
    assert _count(outdir, f"SELECT COUNT(*) FROM {flat.PENDING}") == 0


def test_rows_that_cannot_be_written_never_lose_the_letter(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kw: Any) -> int:
        raise ValueError("no rows today")

    monkeypatch.setattr(flat, "add_letter", broken)
    out = build_store(corpus, tmp_path / "out", n=3)
    assert _count(out, "SELECT COUNT(*) FROM results WHERE status = 'done'") == 3
    assert _count(out, f"SELECT COUNT(*) FROM {flat.PENDING}") == 3
    monkeypatch.undo()
    _assert_same_figures(out)
    assert _count(out, f"SELECT COUNT(*) FROM {flat.LETTERS}") == 3


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_batch_killed_mid_run_leaves_rows_and_records_consistent(
    corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "llm_extract", "batch", str(corpus), "-b", "rules"]
    cmd += ["-o", str(out), "--no-progress"]
    env = {**os.environ, TEST_DELAY_ENV: "0.02"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        with contextlib.suppress(sqlite3.OperationalError):
            if (out / "batch.sqlite3").exists() and _count(
                out, "SELECT COUNT(*) FROM results"
            ) >= 30:
                break
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    n = _count(out, "SELECT COUNT(*) FROM results WHERE status = 'done'")
    assert 30 <= n < 134, "the kill must land mid-run"
    # Read as it was left (read-only: nothing derived after the fact).
    with contextlib.closing(flat.connect_ro(out)) as db:
        assert flat.pending(db) == 0
        stored = {r[0] for r in db.execute(f"SELECT key FROM {flat.LETTERS}")}
        done = {r[0] for r in db.execute("SELECT key FROM results WHERE status = 'done'")}
        assert stored == done
        items = db.execute(f"SELECT COUNT(*) FROM {flat.ITEMS}").fetchone()[0]
    assert items == sum(len(r["items"]) for _, r in _keyed(out))
    _assert_same_figures(out)


def test_a_batch_into_an_older_store_leaves_its_letters_for_the_reader(
    corpus: Path, tmp_path: Path
) -> None:
    out = build_store(corpus, tmp_path / "out", n=3)
    with contextlib.closing(_db(out)) as db:  # the store as the previous code left it
        for kind, name in flat.OBJECTS:
            db.execute(f"DROP {kind} IF EXISTS {name}")
        db.execute("DELETE FROM meta WHERE name IN ('flat_format', 'results_generation')")
        db.commit()
    s = run_rules(sorted((corpus / "letters").glob("*.pdf"))[:5], out)
    assert (s.done, s.skipped) == (2, 3)  # two more letters, committed with their rows
    assert _count(out, f"SELECT COUNT(*) FROM {flat.LETTERS}") == 2
    assert _count(out, f"SELECT COUNT(*) FROM {flat.PENDING}") == 3
    _assert_same_figures(out)  # the reader derives the other three
    assert _count(out, f"SELECT COUNT(*) FROM {flat.LETTERS}") == 5
