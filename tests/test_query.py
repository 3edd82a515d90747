"""`llm-extract query`: SQL over a real batch store, answers checked against the records."""

from __future__ import annotations

import io
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from analysis_support import build_store, run_cli, stored_records

from llm_extract.batch.sql import connect, run_query
from llm_extract.drugs import drug_of
from llm_extract.errors import MissingExtraError

# Letters with opioid (two overturned) and compounded-topical items, beside the first 20.
ALSO = ("CM16-0239110", "CM17-0010420", "CM16-0245796", "CM17-0007300", "CM17-0013716")

# The three questions of docs/analysis.md, one query each.
OPIOID_OVERTURN_BY_SOURCE = """
SELECT s.source AS guideline_source,
       COUNT(*) AS items,
       SUM((i.decision = 'overturned')::INT) AS overturned,
       ROUND(100 * AVG((i.decision = 'overturned')::INT), 1) AS overturn_pct
FROM items i,
     UNNEST(string_split(COALESCE(NULLIF(i.maximus_sources, ''), '(none cited)'), '; '))
       AS s(source)
WHERE i.drug_class = 'opioid'
GROUP BY 1 ORDER BY items DESC, 1
"""
UPHOLD_BY_CATEGORY_AND_QUARTER = """
SELECT category,
       year(decision_date) || '-Q' || quarter(decision_date) AS quarter,
       COUNT(*) AS items,
       SUM((decision = 'upheld')::INT) AS upheld
FROM items
WHERE decision_date IS NOT NULL
GROUP BY ALL ORDER BY category, quarter
"""
MOST_DENIED_COMPOUNDS = """
SELECT medication_name, drug_ingredients,
       COUNT(*) FILTER (decision = 'upheld') AS denied,
       COUNT(*) AS items
FROM items
WHERE drug_class = 'topical_compound'
GROUP BY ALL ORDER BY denied DESC, medication_name
"""


@pytest.fixture(scope="module")
def outdir(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(corpus, tmp_path_factory.mktemp("query") / "out", n=20, also=ALSO)


@pytest.fixture(scope="module")
def records(outdir: Path) -> list[dict[str, Any]]:
    return stored_records(outdir)


def _items(records: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(r, it) for r in records for it in r["items"]]


def _json(capsys: pytest.CaptureFixture[str], *args: str | Path) -> list[dict[str, Any]]:
    assert run_cli("query", *args, "--format", "json") == 0
    rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return rows


def test_opioid_overturn_rate_by_guideline_source(
    outdir: Path, records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _, it in _items(records):
        drug = drug_of(it.get("medication"))
        if drug is None or drug.drug_class != "opioid":
            continue
        for src in dict.fromkeys(it["guideline_sources"]["maximus"] or ["(none cited)"]):
            expected[src][0] += 1
            expected[src][1] += it["decision"] == "overturned"
    assert sum(n for n, _ in expected.values()) >= 3 and any(o for _, o in expected.values())
    rows = _json(capsys, outdir, OPIOID_OVERTURN_BY_SOURCE)
    assert {r["guideline_source"]: [r["items"], r["overturned"]] for r in rows} == dict(expected)
    for r in rows:
        n, o = expected[r["guideline_source"]]
        assert r["overturn_pct"] == round(100 * o / n, 1)


def test_uphold_rate_by_category_and_quarter(
    outdir: Path, records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    expected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r, it in _items(records):
        if not r.get("decision_date"):
            continue
        year, month = int(r["decision_date"][:4]), int(r["decision_date"][5:7])
        key = (it["category"], f"{year}-Q{(month - 1) // 3 + 1}")
        expected[key][0] += 1
        expected[key][1] += it["decision"] == "upheld"
    rows = _json(capsys, outdir, UPHOLD_BY_CATEGORY_AND_QUARTER)
    assert {(r["category"], r["quarter"]): [r["items"], r["upheld"]] for r in rows} == dict(
        expected
    )


def test_most_denied_compounded_medications(
    outdir: Path, records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _, it in _items(records):
        drug = drug_of(it.get("medication"))
        if drug is not None and drug.drug_class == "topical_compound":
            expected[it["medication"]["name"]][0] += it["decision"] == "upheld"
            expected[it["medication"]["name"]][1] += 1
    assert len(expected) >= 2
    rows = _json(capsys, outdir, MOST_DENIED_COMPOUNDS)
    assert {r["medication_name"]: [r["denied"], r["items"]] for r in rows} == dict(expected)
    assert [r["denied"] for r in rows] == sorted((r["denied"] for r in rows), reverse=True)
    assert all(";" in r["drug_ingredients"] for r in rows)  # compounds have several


def test_views_and_formats(
    outdir: Path, records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    con = connect(outdir)
    for view, n in (
        ("letters", len(records)),
        ("items", len(_items(records))),
        ("failures", 0),
        ("corrections", 0),
    ):
        _, rows = run_query(con, f"SELECT COUNT(*) FROM {view}")
        assert list(rows) == [(n,)]
    con.close()
    assert (
        run_cli(
            "query",
            outdir,
            "SELECT letter_id, decision_date FROM letters ORDER BY 1 LIMIT 2",
            "-f",
            "csv",
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    first = sorted(r["letter_id"] for r in records)[0]
    date = next(r["decision_date"] for r in records if r["letter_id"] == first)
    assert lines[0] == "letter_id,decision_date" and lines[1] == f"{first},{date or ''}"
    assert run_cli("query", outdir, "SELECT COUNT(*) AS n FROM items") == 0
    assert str(len(_items(records))) in capsys.readouterr().out


def test_corrections_apply_unless_raw(
    outdir: Path,
    records: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llm_extract.batch.corrections import ReviewDB

    rec, it = next((r, it) for r, it in _items(records) if it["category"] == "imaging")
    index = rec["items"].index(it)
    import sqlite3

    db = sqlite3.connect(outdir / "batch.sqlite3")
    (key,) = db.execute(
        "SELECT key FROM results WHERE letter_id = ?", (rec["letter_id"],)
    ).fetchone()
    db.close()
    review = ReviewDB(outdir)
    flipped = "overturned" if it["decision"] == "upheld" else "upheld"
    review.add_correction(key, f"items[{index}].decision", flipped, reviewer="ann")
    review.close()
    sql = (
        f"SELECT decision FROM items WHERE letter_id = '{rec['letter_id']}' "
        f"AND item_index = {index + 1}"
    )
    assert _json(capsys, outdir, sql) == [{"decision": flipped}]
    assert _json(capsys, outdir, sql, "--raw") == [{"decision": it["decision"]}]
    rows = _json(capsys, outdir, "SELECT letter_id, field, new_value, reviewer FROM corrections")
    assert rows == [
        {
            "letter_id": rec["letter_id"],
            "field": f"items[{index}].decision",
            "new_value": json.dumps(flipped),
            "reviewer": "ann",
        }
    ]


def test_shell_reads_statements_from_stdin(
    outdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        sys,
        "stdin",
        io.StringIO(
            "SELECT COUNT(*) AS n\n FROM letters;\nSELECT nonsense FROM items;\nSELECT 41 + 1 AS x;\n"
        ),
    )
    assert run_cli("query", outdir, "--shell", "-f", "csv") == 2  # one statement failed
    captured = capsys.readouterr()
    assert "n\n" in captured.out and "x\n42\n" in captured.out
    assert "error: the query failed" in captured.err and "nonsense" in captured.err


def test_bad_sql_missing_duckdb_and_no_store_are_clear_errors(
    outdir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert run_cli("query", outdir, "SELECT nope FROM items") == 2
    assert "the query failed" in capsys.readouterr().err
    assert run_cli("query", tmp_path, "SELECT 1") == 3
    assert "holds no batch results" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "duckdb", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"llm-extract\[sql\]"):
        connect(outdir)
    assert run_cli("query", outdir, "SELECT 1") == 3
    assert "pip install" in capsys.readouterr().err


def test_a_store_that_is_not_writable_caches_its_views_in_the_temp_dir(
    outdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from llm_extract.batch import sql

    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as for a read-only archive
    monkeypatch.setattr(sql.tempfile, "gettempdir", lambda: str(tmp_path))
    dest = sql.materialise(outdir)
    assert dest.parent.parent == tmp_path and (dest / "items.parquet").is_file()
    _, rows = run_query(sql.connect(outdir), "SELECT COUNT(*) FROM letters")
    assert list(rows) == [(len(stored_records(outdir)),)]
