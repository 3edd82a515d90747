"""`llm-extract export` and `stats` over a real batch of the corpus (rules backend)."""

from __future__ import annotations

import builtins
import csv
import datetime as dt
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from llm_extract.batch.export import ITEM_COLUMNS, LETTER_COLUMNS, export_store
from llm_extract.batch.runner import BatchOptions, run_batch
from llm_extract.batch.stats import group_key, stats_from_store
from llm_extract.batch.stats_html import render_html
from llm_extract.cli import main
from llm_extract.config import load_config
from llm_extract.errors import ConfigError
from llm_extract.models import Record


def run_cli(*args: str | Path) -> int:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return int(exc.value.code or 0)


@pytest.fixture(scope="module")
def outdir(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("batch") / "out"
    bad = tmp_path_factory.mktemp("bad")
    (bad / "not a letter.txt").write_text("Dear diary, nothing to see.\n", encoding="utf-8")
    s = run_batch(
        BatchOptions(
            inputs=[str(corpus), str(bad / "not a letter.txt")],
            outdir=out,
            backend="rules",
            config=load_config(backend="rules"),
            progress=False,
        )
    )
    assert (s.done, s.failed) == (134, 1)
    return out


@pytest.fixture(scope="module")
def stored(outdir: Path) -> list[dict[str, Any]]:
    db = sqlite3.connect(outdir / "batch.sqlite3")
    recs = [
        json.loads(r)
        for (r,) in db.execute("SELECT record_json FROM results WHERE status = 'done'")
    ]
    db.close()
    return recs


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_csv_export_opens_with_the_csv_module(outdir: Path, stored: list[dict[str, Any]]) -> None:
    assert run_cli("export", outdir, "--format", "csv") == 0
    letters = _csv(outdir / "export" / "letters.csv")
    items = _csv(outdir / "export" / "items.csv")
    failures = _csv(outdir / "export" / "failures.csv")
    n_items = sum(len(r["items"]) for r in stored)
    assert len(letters) == 134 and len(items) == n_items and len(failures) == 1
    assert list(letters[0]) == list(LETTER_COLUMNS) and list(items[0]) == list(ITEM_COLUMNS)
    assert failures[0]["error_class"] == "NotIMRLetterError"
    # Items join to letters; counts agree on both sides.
    by_key = {row["key"]: row for row in letters}
    for row in items:
        assert row["key"] in by_key and by_key[row["key"]]["letter_id"] == row["letter_id"]
    assert sum(int(r["n_items"]) for r in letters) == n_items
    assert sum(int(r["n_overturned"]) for r in letters) == sum(
        r["decision"] == "overturned" for r in items
    )
    # One real letter, field by field against its stored record.
    rec = next(r for r in stored if r["letter_id"] == "CM16-0239110")
    row = next(r for r in letters if r["letter_id"] == "CM16-0239110")
    assert row["case_number"] == rec["case_number"]
    assert row["decision_date"] == rec["decision_date"]
    assert row["reviewer_specialties"] == "; ".join(rec["reviewer"]["specialties"])
    assert row["needs_review"] in ("true", "false")
    mine = [r for r in items if r["letter_id"] == "CM16-0239110"]
    assert [r["request"] for r in mine] == [it["request"] for it in rec["items"]]
    assert [int(r["item_index"]) for r in mine] == list(range(1, len(rec["items"]) + 1))


def test_exports_name_the_fields_to_check(outdir: Path, stored: list[dict[str, Any]]) -> None:
    # Per letter: every flagged field path and the reason codes; per item: its
    # own flagged fields, relative to the item.
    assert run_cli("export", outdir, "--format", "csv") == 0
    letters = {r["letter_id"]: r for r in _csv(outdir / "export" / "letters.csv")}
    items = {(r["letter_id"], r["item_index"]): r for r in _csv(outdir / "export" / "items.csv")}
    flagged_letters = 0
    for rec in stored:
        record = Record.model_validate(rec)
        row = letters[record.letter_id]
        assert row["flagged_fields"] == "; ".join(record.flagged_paths())
        assert set(filter(None, row["review_codes"].split("; "))) == {
            f.code.value for f in record.review_flags
        }
        assert (row["needs_review"] == "true") == bool(record.review_flags)
        flagged_letters += bool(record.flagged_paths())
        for i in range(len(record.items)):
            prefix = f"items[{i}]."
            mine = [p.removeprefix(prefix) for p in record.flagged_paths() if p.startswith(prefix)]
            assert items[(record.letter_id, str(i + 1))]["flagged_fields"] == "; ".join(mine)
    assert flagged_letters > 0


def test_jsonl_export_round_trips(outdir: Path, stored: list[dict[str, Any]]) -> None:
    written = export_store(outdir, "jsonl")
    assert written["letters"][1] == 134
    lines = (outdir / "export" / "items.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == sum(len(r["items"]) for r in stored) == written["items"][1]
    assert all(isinstance(r["retrospective"], bool) for r in rows)
    assert {r["decision"] for r in rows} <= {"upheld", "overturned"}


def test_parquet_export_is_typed(outdir: Path, stored: list[dict[str, Any]]) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    assert run_cli("export", outdir, "-f", "parquet") == 0
    letters = pq.read_table(outdir / "export" / "letters.parquet")
    items = pq.read_table(outdir / "export" / "items.parquet")
    assert letters.num_rows == 134
    assert items.num_rows == sum(len(r["items"]) for r in stored)
    assert str(letters.schema.field("decision_date").type) == "date32[day]"
    assert str(items.schema.field("quantity").type) == "int64"
    assert str(items.schema.field("retrospective").type) == "bool"
    dates = [d for d in letters.column("decision_date").to_pylist() if d is not None]
    assert dates and all(isinstance(d, dt.date) for d in dates)
    failures = pq.read_table(outdir / "export" / "failures.parquet")
    assert failures.num_rows == 1


def test_parquet_without_pyarrow_names_the_extra(
    outdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("pyarrow"):
            raise ImportError("No module named 'pyarrow'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(ConfigError, match=re.escape('pip install "llm-extract[parquet]"')):
        export_store(outdir, "parquet", dest=outdir / "export-np")
    assert not (outdir / "export-np").exists()  # failed before writing anything


def test_stats_agree_with_the_records(outdir: Path, stored: list[dict[str, Any]]) -> None:
    stats = stats_from_store(outdir)
    items = [it for r in stored for it in r["items"]]
    assert stats.overall.letters == 134 and stats.overall.items == len(items)
    assert stats.overall.overturned == sum(it["decision"] == "overturned" for it in items)
    assert stats.failed_letters == 1
    # Categories partition the items; each group's counts add up.
    cats = stats.rows("category")
    assert sum(g.items for g in cats) == len(items)
    for g in cats:
        assert g.upheld + g.overturned == g.items
        want = sum(
            1
            for it in items
            if (it["category"] or "(none)") == g.name and it["decision"] == "overturned"
        )
        assert g.overturned == want
    # A MAXIMUS source counts every item that cites it.
    odg = next(g for g in stats.rows("maximus_source") if g.name == "odg")
    assert odg.items == sum("odg" in it["guideline_sources"]["maximus"] for it in items)
    # Specialties: each letter's items under each of its reviewer's specialties.
    spec = stats.rows("specialty")[0]
    mine = [
        r
        for r in stored
        if group_key(spec.name) in {group_key(s) for s in r["reviewer"]["specialties"]}
    ]
    assert spec.letters == len(mine) and spec.items == sum(len(r["items"]) for r in mine)


def test_stats_cli_prints_tables_and_writes_a_self_contained_page(
    outdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "report" / "stats.html"
    assert run_cli("stats", outdir, "--html", page) == 0
    out = capsys.readouterr().out
    for heading in ("By category", "By MAXIMUS guideline source", "By reviewer specialty"):
        assert heading in out
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg") == 3 and html.count("<table>") == 3
    # No external assets: no scripts, stylesheets, images or fonts fetched from anywhere.
    assert not re.search(r"<script|<link|<img|src=|@import|url\(", html)
    assert set(re.findall(r"https?://[^\"' ]+", html)) == {"http://www.w3.org/2000/svg"}
    stats = stats_from_store(outdir)
    assert f"<b>{stats.overall.items}</b> disputed items" in html


def test_stats_json_and_html_escape_names() -> None:
    from llm_extract.batch.stats import compute_stats

    rec = {
        "letter_id": "x",
        "reviewer": {"specialties": ["<script>alert(1)</script>"]},
        "items": [
            {"decision": "overturned", "category": None, "guideline_sources": {"maximus": []}}
        ],
    }
    stats = compute_stats([rec])
    html = render_html(stats)
    assert "<script>" not in html and "&lt;script&gt;" in html
    data = json.loads(stats.to_json())
    assert data["category"] == [
        {
            "name": "(none)",
            "letters": 1,
            "items": 1,
            "upheld": 0,
            "overturned": 1,
            "uphold_rate": 0.0,
            "overturn_rate": 1.0,
        }
    ]
    assert data["maximus_source"][0]["name"] == "(none cited)"


def test_specialties_group_ignoring_case_spacing_and_ampersand() -> None:
    from llm_extract.batch.stats import compute_stats

    def rec(specialty: str, decision: str) -> dict[str, Any]:
        item = {
            "decision": decision,
            "category": "imaging",
            "guideline_sources": {"maximus": ["odg"]},
        }
        return {"reviewer": {"specialties": [specialty]}, "items": [item, dict(item)]}

    stats = compute_stats(
        [
            rec("Physical Medicine & Rehabilitation", "upheld"),
            rec("physical medicine and  Rehabilitation", "overturned"),
        ]
    )
    (g,) = stats.rows("specialty")
    assert g.name == "Physical Medicine & Rehabilitation"  # the first spelling seen
    assert (g.letters, g.items, g.upheld, g.overturned) == (2, 4, 2, 2)
    assert g.overturn_rate == 0.5
