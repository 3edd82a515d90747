"""The drug dimension on the review page and in the export, before and after a
person corrects a medication name."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the review extra is not installed")

from analysis_support import build_store, stored_records
from starlette.testclient import TestClient

from llm_extract.batch.corrections import ReviewDB
from llm_extract.batch.export import export_store
from llm_extract.drugs import resolve_drug
from llm_extract.review.access import Settings
from llm_extract.review.app import create_app
from llm_extract.review.queue import Queue

TOKEN = "t" * 32
LETTER = "CM16-0239110"  # an opioid item among others


@pytest.fixture(scope="module")
def outdir(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(corpus, tmp_path_factory.mktemp("drugs") / "out", n=0, also=(LETTER,))


def _page(outdir: Path, key: str) -> str:
    db = ReviewDB(outdir)
    client = TestClient(
        create_app(db, Queue(db), Settings("ann", TOKEN)), base_url="http://127.0.0.1:8000"
    )
    assert client.get(f"/?token={TOKEN}", follow_redirects=False).status_code == 303
    html = client.get(f"/letter/{key}").text
    db.close()
    return html


def _export_items(outdir: Path) -> list[dict[str, str]]:
    export_store(outdir, "csv")
    with (outdir / "export" / "items.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_page_and_export_show_the_drug_and_follow_a_corrected_name(outdir: Path) -> None:
    (rec,) = stored_records(outdir)
    i, med = next((i, it["medication"]) for i, it in enumerate(rec["items"]) if it["medication"])
    assert med["resolution"] in ("dictionary", "table") and med["drug_class"] == "opioid"
    with sqlite3.connect(outdir / "batch.sqlite3") as db:
        (key,) = db.execute("SELECT key FROM results").fetchone()
    html = _page(outdir, key)
    assert f"{', '.join(med['ingredients'])} · class <b>opioid</b>" in html
    row = next(r for r in _export_items(outdir) if r["item_index"] == str(i + 1))
    assert (row["drug_ingredients"], row["drug_class"]) == ("; ".join(med["ingredients"]), "opioid")

    review = ReviewDB(outdir)
    review.add_correction(key, f"items[{i}].medication.name", "Fanatrex", reviewer="ann")
    review.close()
    assert resolve_drug("Fanatrex").ingredients == ("gabapentin",)
    html = _page(outdir, key)
    assert "gabapentin · class <b>anticonvulsant_neuropathic</b>" in html
    row = next(r for r in _export_items(outdir) if r["item_index"] == str(i + 1))
    assert (row["medication_name"], row["drug_ingredients"], row["drug_class"]) == (
        "Fanatrex",
        "gabapentin",
        "anticonvulsant_neuropathic",
    )
    assert row["drug_resolution"] == "table"

    review = ReviewDB(outdir)
    review.add_correction(key, f"items[{i}].medication.name", "Zzyqomab", reviewer="ann")
    review.close()
    assert "<b>unresolved</b>" in _page(outdir, key)
