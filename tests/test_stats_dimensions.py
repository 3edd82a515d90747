"""`stats --by`: drug, drug class, periods, priority, two-way tables, --reviewed-only."""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from analysis_support import build_store, run_cli, stored_records

from llm_extract.batch.corrections import ReviewDB
from llm_extract.batch.dimensions import dimension, quarter_of
from llm_extract.batch.stats import compute_stats, stats_from_store
from llm_extract.batch.stats_html import render_html
from llm_extract.drugs import resolve_drug
from llm_extract.errors import ConfigError
from llm_extract.intervals import wilson


@pytest.fixture(scope="module")
def outdir(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(corpus, tmp_path_factory.mktemp("stats") / "out")


@pytest.fixture(scope="module")
def records(outdir: Path) -> list[dict[str, Any]]:
    return stored_records(outdir)


def _rec(date: str | None, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "decision_date": date,
        "reviewer": {"specialties": ["Orthopedic Surgery"]},
        "items": items,
        **extra,
    }


def _med(name: str, decision: str) -> dict[str, Any]:
    return {
        "decision": decision,
        "category": "medication",
        "medication": {"name": name},
        "guideline_sources": {"maximus": ["mtus"]},
    }


def test_drug_dimensions_count_medication_items_only() -> None:
    stats = compute_stats(
        [
            _rec(
                "2017-01-05",
                [
                    _med("Norco 10/325", "overturned"),
                    _med("Percocet", "upheld"),
                    {"decision": "upheld", "category": "imaging"},
                ],
            ),
            _rec("2017-04-20", [_med("Fanatrex", "upheld"), _med("Blorptex", "upheld")]),
        ]
    )
    classes = {g.name: (g.items, g.overturned, g.letters) for g in stats.rows("drug_class")}
    assert classes == {
        "opioid": (2, 1, 1),
        "anticonvulsant_neuropathic": (1, 0, 1),
        "(unresolved)": (1, 0, 1),
    }
    drugs = {g.name: g.items for g in stats.rows("drug")}
    # an item counts under each of its ingredients: acetaminophen is in Norco and Percocet
    assert drugs == {
        "acetaminophen": 2,
        "hydrocodone": 1,
        "oxycodone": 1,
        "gabapentin": 1,
        "(unresolved)": 1,
    }
    assert sum(g.items for g in stats.rows("drug_class")) == 4  # not the imaging item


def test_periods_are_in_time_order_and_undated_last() -> None:
    stats = compute_stats(
        [
            _rec("2017-11-30", [{"decision": "upheld"}]),
            _rec("2016-02-01", [{"decision": "overturned"}, {"decision": "upheld"}]),
            _rec(None, [{"decision": "upheld"}]),
            _rec("2017-01-02", [{"decision": "upheld"}]),
        ]
    )
    assert [g.name for g in stats.rows("month")] == ["2016-02", "2017-01", "2017-11", "(no date)"]
    assert [g.name for g in stats.rows("quarter")] == ["2016-Q1", "2017-Q1", "2017-Q4", "(no date)"]
    assert [(g.name, g.items) for g in stats.rows("year")] == [
        ("2016", 2),
        ("2017", 2),
        ("(no date)", 1),
    ]
    assert quarter_of("2016-09-30") == "2016-Q3" and quarter_of("2016-10-01") == "2016-Q4"


def test_two_way_table_agrees_with_the_records(records: list[dict[str, Any]]) -> None:
    pair = ("category", "maximus_source")
    stats = compute_stats(records, [pair])
    expected: Counter[tuple[str, str]] = Counter()
    overturned: Counter[tuple[str, str]] = Counter()
    for r in records:
        for it in r["items"]:
            for src in dict.fromkeys(it["guideline_sources"]["maximus"] or ["(none cited)"]):
                key = (it["category"] or "(none)", src)
                expected[key] += 1
                overturned[key] += it["decision"] == "overturned"
    cells = stats.cross_rows(pair)
    assert {(g.name, g.name2): g.items for g in cells} == dict(expected)
    for g in cells:
        assert g.overturned == overturned[(g.name, str(g.name2))]
        assert (g.overturn.low, g.overturn.high) == wilson(g.overturned, g.upheld + g.overturned)
        assert g.small == (g.upheld + g.overturned < 20)
    # the rows follow the row dimension's order
    order = [g.name for g in stats.rows("category")]
    assert [order.index(g.name) for g in cells] == sorted(order.index(g.name) for g in cells)


def test_unknown_dimension_is_a_config_error() -> None:
    assert dimension("guideline-source") == "maximus_source"
    with pytest.raises(ConfigError, match="use one of"):
        dimension("colour")


def test_cli_by_drug_class_month_and_two_way_in_all_three_outputs(
    outdir: Path,
    records: list[dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    meds = [it for r in records for it in r["items"] if it.get("medication")]
    assert meds, "the first letters of the corpus have medication items"
    page = tmp_path / "s.html"
    assert run_cli("stats", outdir, "--by", "drug_class", "--by", "month", "--html", page) == 0
    out = capsys.readouterr().out
    assert "By drug class" in out and "By decision month" in out
    assert "Drug class × Decision month" in out
    assert "95% CI" in out and "under 20 items" in out
    top = Counter(str(resolve_drug(m["medication"]["name"]).drug_class) for m in meds)
    name, n = top.most_common(1)[0]
    assert re.search(rf"^\s*{name}\s+\d+\s+{n}\*", out, re.M)  # under 20 items: marked
    html = page.read_text(encoding="utf-8")
    assert "<h2>By decision month</h2>" in html and "<h2>Drug class × Decision month</h2>" in html
    assert html.count("<circle") == len(
        {r["decision_date"][:7] for r in records if r.get("decision_date") and r["items"]}
    )
    assert not re.search(r"<script|<link|<img|src=|@import|url\(", html)

    assert run_cli("stats", outdir, "--json", "--by", "drug_class:year") == 0
    data = json.loads(capsys.readouterr().out)
    classes = {g["name"]: g for g in data["dimensions"]["drug_class"]}
    assert classes[name]["items"] == n and classes[name]["small"] is True
    ov = classes[name]["overturn"]
    assert (ov["low"], ov["high"]) == wilson(ov["k"], ov["n"])
    (cross,) = data["cross"]
    assert (cross["rows"], cross["columns"]) == ("drug_class", "year")
    assert sum(c["items"] for c in cross["cells"]) == len(meds)
    o = data["overall"]
    assert o["uphold"]["k"] == o["upheld"] and o["uphold"]["n"] == o["upheld"] + o["overturned"]
    # every one-way dimension is in the JSON, with intervals
    assert set(data["dimensions"]) >= {"category", "drug", "priority", "quarter", "year"}


def test_cli_unknown_dimension_exits_3(outdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("stats", outdir, "--by", "colour") == 3
    assert "use one of" in capsys.readouterr().err


def test_reviewed_only_leaves_out_flagged_unreviewed_letters(
    outdir: Path, records: list[dict[str, Any]]
) -> None:
    flagged = [r for r in records if r["needs_review"]]
    assert flagged, "some of the first letters are flagged for review"
    stats = stats_from_store(outdir, reviewed_only=True)
    assert stats.overall.letters == len(records) - len(flagged)
    assert stats.review.unreviewed_letters == len(flagged)
    assert "left out (--reviewed-only)" in stats.review.line()
    assert stats_from_store(outdir).overall.letters == len(records)
    # once a person marks one reviewed, it counts again
    db = sqlite3.connect(outdir / "batch.sqlite3")
    (key,) = db.execute(
        "SELECT key FROM results WHERE letter_id = ?", (flagged[0]["letter_id"],)
    ).fetchone()
    db.close()
    review = ReviewDB(outdir)
    review.set_state(key, "reviewed", reviewer="analyst")
    review.close()
    again = stats_from_store(outdir, reviewed_only=True)
    assert again.overall.letters == len(records) - len(flagged) + 1
    assert again.review.reviewed_letters == 1


def test_html_default_has_the_three_charts_with_intervals(outdir: Path) -> None:
    html = render_html(stats_from_store(outdir))
    assert html.count("<svg") == 3 and "95% CI" in html
