"""The review app's routes (Starlette TestClient) over a real batch store, and what
the corrections do to export, stats, gold fixtures and Label Studio files."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the review extra is not installed")

from review_support import copy_store, make_base_store, run_cli
from starlette.testclient import TestClient

from llm_extract.batch.corrections import ReviewDB
from llm_extract.batch.export import export_store
from llm_extract.batch.stats import stats_from_store
from llm_extract.evaluation.gold import load_gold
from llm_extract.review.access import Settings
from llm_extract.review.app import create_app
from llm_extract.review.labelstudio import write_tasks
from llm_extract.review.queue import Queue

pytestmark = pytest.mark.corpus

TOKEN = "test-token-0123456789"


@pytest.fixture(scope="module")
def base_store(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_base_store(corpus, tmp_path_factory.mktemp("review"))


@pytest.fixture()
def outdir(base_store: Path, tmp_path: Path) -> Path:
    return copy_store(base_store, tmp_path / "out")


def client_for(outdir: Path, reviewer: str = "tester", *, sample: int = 0) -> TestClient:
    db = ReviewDB(outdir)
    app = create_app(db, Queue(db, sample=sample), Settings(reviewer, TOKEN))
    client = TestClient(app, base_url="http://127.0.0.1:8000")
    assert client.get(f"/?token={TOKEN}", follow_redirects=False).status_code == 303
    return client


def keys(outdir: Path) -> dict[str, str]:
    """letter_id -> key."""
    with sqlite3.connect(outdir / "batch.sqlite3") as db:
        return dict(db.execute("SELECT letter_id, key FROM results").fetchall())


def record(outdir: Path, key: str) -> dict[str, Any]:
    with sqlite3.connect(outdir / "batch.sqlite3") as db:
        (text,) = db.execute("SELECT record_json FROM results WHERE key = ?", (key,)).fetchone()
    return dict(json.loads(text))


def set_field(c: TestClient, key: str, field: str, value: str) -> int:
    """Save one field as the page's form does; the response's status."""
    r = c.post(
        f"/letter/{key}/field", data={"field": field, "value": value}, follow_redirects=False
    )
    return r.status_code


def jsonl_rows(outdir: Path, table: str, key: str) -> list[dict[str, Any]]:
    """The rows of ``export/<table>.jsonl`` for one results key."""
    rows = [json.loads(x) for x in (outdir / "export" / f"{table}.jsonl").read_text().splitlines()]
    return [r for r in rows if r["key"] == key]


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_requests_without_the_token_are_refused(outdir: Path) -> None:
    db = ReviewDB(outdir)
    app = create_app(db, Queue(db), Settings("tester", TOKEN))
    c = TestClient(app, base_url="http://127.0.0.1:8000")
    key = next(iter(keys(outdir).values()))
    for path in ("/", f"/letter/{key}", "/static/review.js", "/?token=wrong"):
        r = c.get(path)
        assert r.status_code == 403, path
        assert "access token" in r.text
    assert (
        c.post(f"/letter/{key}/field", data={"field": "patient.age", "value": "1"}).status_code
        == 403
    )
    # the token: redirected to drop it from the address, then the cookie is enough
    r = c.get(f"/?token={TOKEN}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "httponly" in r.headers["set-cookie"].lower()
    assert "samesite=strict" in r.headers["set-cookie"].lower()
    assert c.get("/").status_code == 200
    assert c.get("/static/review.css").headers["content-type"].startswith("text/css")
    # a page served under another host name (DNS rebinding) is refused even with the token
    other = TestClient(app, base_url="http://attacker.example")
    assert other.get(f"/?token={TOKEN}").status_code == 403


def test_queue_puts_flagged_letters_first_with_their_reasons(outdir: Path) -> None:
    c = client_for(outdir, sample=2)
    html = c.get("/").text
    order = re.findall(r'class="letter-link" href="/letter/[0-9a-f]+">([^<]+)<', html)
    # 4 flagged + 1 failed first, then 2 spot checks; the failed letter leads
    # (CM16-0231884: the parser doubts its diagnosis list, rules 1.2)
    assert len(order) == 7
    assert order[0] == "missing-letter"
    assert set(order[1:5]) == {
        "000_273f9b4f92cc0344",
        "001_8f9c8b08f6f20ea9",
        "CM16-0228949",
        "CM16-0231884",
    }
    assert "may be one diagnosis" in html
    assert "extraction failed: LetterNotFoundError" in html
    assert "the LLM failed; the record is the parser&#39;s" in html
    assert "items[0].category: LLM" in html  # the unresolved disagreement, both readings
    assert "not flagged: a random spot check" in html
    assert "0 / 7 reviewed" in html
    fallback_only = c.get("/?reason=fallback").text
    assert re.findall(r'class="letter-link"[^>]*>([^<]+)<', fallback_only) == ["CM16-0228949"]
    # a failed letter opens too: its error, and a note can mark it unusable
    failed = c.get(f"/letter/{keys(outdir)['missing-letter']}")
    assert failed.status_code == 200
    assert "No record: LetterNotFoundError" in failed.text
    assert "the letter text cannot be loaded" in failed.text
    # `next` opens the first letter still to review
    r = c.get("/next", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/letter/")
    by_category = c.get("/?scope=all&category=psychological").text
    assert re.findall(r'class="letter-link"[^>]*>([^<]+)<', by_category) == ["CM16-0231884"]


def test_letter_page_shows_text_highlights_and_typed_controls(outdir: Path) -> None:
    c = client_for(outdir)
    key = keys(outdir)["000_273f9b4f92cc0344"]
    html = c.get(f"/letter/{key}").text
    rec = record(outdir, key)
    assert "<mark data-fields=" in html
    assert 'data-fields="case_number"' in html or "case_number" in html
    assert 'type="date" name="value" value="' in html  # dates as dates
    assert '<option value="physical_therapy"' in html  # enums as choices
    # both readings of the disagreement, each a button that takes it
    check = rec["checks"][0]
    assert (
        f"LLM: &#34;{check['llm_value']}&#34;" in html
        or f"LLM: {json.dumps(check['llm_value'])}" in html
    )
    assert "readings differ" in html


def test_a_correction_is_stored_beside_the_record_and_exported(outdir: Path) -> None:
    c = client_for(outdir, reviewer="Dr. Review")
    key = keys(outdir)["CM16-0228949"]
    before = record(outdir, key)
    old_age = before["patient"]["age"]
    r = c.post(
        f"/letter/{key}/field",
        data={"field": "patient.age", "value": "41", "expected": json.dumps(old_age)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert record(outdir, key) == before  # the extractor's record is untouched
    with sqlite3.connect(outdir / "batch.sqlite3") as db:
        rows = db.execute(
            "SELECT field, old_value, new_value, reviewer, action FROM corrections"
        ).fetchall()
    assert rows == [("patient.age", json.dumps(old_age), "41", "Dr. Review", "set")]
    page = c.get(f"/letter/{key}").text
    assert "set by Dr. Review" in page

    export_store(outdir, "csv")
    (row,) = [r for r in csv_rows(outdir / "export" / "letters.csv") if r["key"] == key]
    assert row["patient_age"] == "41" and row["corrected_fields"] == "patient.age"
    export_store(outdir, "csv", raw=True, dest=outdir / "raw")
    (raw,) = [r for r in csv_rows(outdir / "raw" / "letters.csv") if r["key"] == key]
    assert raw["patient_age"] == str(old_age) and raw["corrected_fields"] == ""

    stats = stats_from_store(outdir)
    assert (stats.review.corrected_values, stats.review.corrected_letters) == (1, 1)
    assert stats.review.reviewed_letters == 0
    # accept the letter: reviewed, and the next letter to review opens
    r = c.post(f"/letter/{key}/state", data={"status": "reviewed"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/letter/")
    assert r.headers["location"] != f"/letter/{key}"
    assert stats_from_store(outdir).review.reviewed_letters == 1
    assert "1 / 5 reviewed" in c.get("/").text


def test_an_item_correction_is_in_the_items_export(outdir: Path) -> None:
    c = client_for(outdir)
    key = keys(outdir)["CM16-0229336"]
    assert set_field(c, key, "items[0].category", "surgery") == 303
    export_store(outdir, "jsonl")
    first = next(i for i in jsonl_rows(outdir, "items", key) if i["item_index"] == 1)
    assert first["category"] == "surgery" and first["corrected_fields"] == "category"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("items[0].quantity", "three", "items[0].quantity: 'three' is not a whole number"),
        ("items[0].decision", "maybe", "Input should be 'upheld' or 'overturned'"),
        ("decision_date", "31/31/2016", "not a date"),
        ("patient.sex", "robot", "Input should be 'male' or 'female'"),
    ],
)
def test_a_bad_value_is_rejected_with_a_clear_message(
    outdir: Path, path: str, value: str, message: str
) -> None:
    c = client_for(outdir)
    key = keys(outdir)["CM16-0230548"]
    r = c.post(f"/letter/{key}/field", data={"field": path, "value": value})
    assert r.status_code == 400
    assert message in r.text.replace("&#39;", "'")
    with sqlite3.connect(outdir / "batch.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM corrections").fetchone()[0] == 0


def test_concurrent_edits_of_one_letter_lose_neither(outdir: Path) -> None:
    """Two reviewers (two app instances, as two `review` processes would be) edit
    one letter at the same moment: different fields both land; the same field
    from the same starting value lands once and the other is told, not dropped."""
    a, b = client_for(outdir, "A"), client_for(outdir, "B")
    key = keys(outdir)["CM16-0231884"]
    rec = record(outdir, key)
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def post(name: str, client: TestClient, data: dict[str, str]) -> None:
        barrier.wait()
        results[name] = client.post(f"/letter/{key}/field", data=data, follow_redirects=False)

    age = json.dumps(rec["patient"]["age"])
    jobs = [
        ("a", a, {"field": "patient.age", "value": "60", "expected": age}),
        (
            "b",
            b,
            {
                "field": "case_number",
                "value": "CM16-9999999",
                "expected": json.dumps(rec["case_number"]),
            },
        ),
    ]
    threads = [threading.Thread(target=post, args=j) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["a"].status_code == 303 and results["b"].status_code == 303
    export_store(outdir, "csv")
    (row,) = [r for r in csv_rows(outdir / "export" / "letters.csv") if r["key"] == key]
    assert (row["patient_age"], row["case_number"]) == ("60", "CM16-9999999")
    assert row["corrected_fields"] == "case_number; patient.age"

    # the same field, both starting from the value they saw: one wins, the other is told
    barrier = threading.Barrier(2)
    jobs = [
        ("a", a, {"field": "patient.occupation", "value": "welder", "expected": "null"}),
        ("b", b, {"field": "patient.occupation", "value": "nurse", "expected": "null"}),
    ]
    threads = [threading.Thread(target=post, args=j) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results.values())
    assert codes == [303, 409]
    loser = next(r for r in results.values() if r.status_code == 409)
    assert "your value was not saved" in loser.text
    assert "while you were editing" in loser.text


def test_corrections_survive_a_retry_and_stale_ones_are_reported(
    outdir: Path, corpus: Path
) -> None:
    c = client_for(outdir)
    key = keys(outdir)["CM16-0228949"]  # flagged as an LLM fallback
    rec = record(outdir, key)
    assert (
        c.post(
            f"/letter/{key}/field",
            data={"field": "patient.age", "value": "33"},
            follow_redirects=False,
        ).status_code
        == 303
    )
    # --retry-failed extracts the fallback letter again: its results row is replaced
    code = run_cli(
        "batch",
        corpus / "letters" / "CM16-0228949.pdf",
        "-o",
        outdir,
        "--backend",
        "rules",
        "--retry-failed",
        "--no-progress",
    )
    assert code == 0
    fresh = record(outdir, key)
    assert not (fresh.get("provenance") or {}).get("fallback"), "the letter was re-extracted"
    export_store(outdir, "csv")
    (row,) = [r for r in csv_rows(outdir / "export" / "letters.csv") if r["key"] == key]
    assert row["patient_age"] == "33" and row["stale_corrections"] == "0"

    # a new extraction that reads another age: the correction is stale, not applied
    fresh["patient"]["age"] = rec["patient"]["age"] + 1
    with sqlite3.connect(outdir / "batch.sqlite3") as db:
        db.execute("UPDATE results SET record_json = ? WHERE key = ?", (json.dumps(fresh), key))
    export_store(outdir, "csv")
    (row,) = [r for r in csv_rows(outdir / "export" / "letters.csv") if r["key"] == key]
    assert row["patient_age"] == str(rec["patient"]["age"] + 1)
    assert row["stale_corrections"] == "1" and row["corrected_fields"] == ""
    assert stats_from_store(outdir).review.stale_corrections == 1
    html = c.get("/?reason=stale").text
    assert "no longer match the extraction: patient.age" in html


def test_unusable_letters_need_a_note_and_move_to_failures(outdir: Path) -> None:
    c = client_for(outdir)
    key = keys(outdir)["001_8f9c8b08f6f20ea9"]
    r = c.post(f"/letter/{key}/state", data={"status": "unusable", "note": ""})
    assert r.status_code == 400 and "a note is required" in r.text
    r = c.post(
        f"/letter/{key}/state",
        data={"status": "unusable", "note": "pages 2-3 missing"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    export_store(outdir, "csv")
    assert key not in {r["key"] for r in csv_rows(outdir / "export" / "letters.csv")}
    (fail,) = [r for r in csv_rows(outdir / "export" / "failures.csv") if r["key"] == key]
    assert fail["error_class"] == "Unusable" and "pages 2-3 missing" in fail["error_message"]
    assert stats_from_store(outdir).review.unusable_letters == 1


def test_reviewed_letters_become_gold_that_eval_scores(outdir: Path, corpus: Path) -> None:
    c = client_for(outdir)
    ids = keys(outdir)
    fixed = ids["CM16-0230548"]
    assert (
        c.post(
            f"/letter/{fixed}/field",
            data={"field": "patient.age", "value": "19"},
            follow_redirects=False,
        ).status_code
        == 303
    )
    for lid in ("CM16-0230548", "CM16-0231884"):
        c.post(f"/letter/{ids[lid]}/state", data={"status": "reviewed"})
    gold = outdir / "gold"
    assert run_cli("review", outdir, "--save-gold", gold) == 0
    fixtures = sorted(p.name for p in gold.glob("*.json"))
    assert fixtures == ["CM16-0230548.json", "CM16-0231884.json"]
    data = json.loads((gold / "CM16-0230548.json").read_text())
    assert data["patient"]["age"] == 19
    assert not {"provenance", "checks", "needs_review", "evidence"} & set(data)
    assert all("span" not in it for it in data["items"])
    assert {g.letter_id for g in load_gold(gold)} == {"CM16-0230548", "CM16-0231884"}

    # eval scores a backend against the new gold (letters found in the corpus)
    with pytest.raises(SystemExit) as exc:
        from llm_extract.cli import main

        main(
            ["eval", "--gold", str(gold), "--letters", str(corpus), "--backend", "rules", "--json"]
        )
    assert exc.value.code in (0, None)


def test_label_studio_tasks_and_their_export_back_as_corrections(outdir: Path) -> None:
    export_store(outdir, "label-studio", task_writer=write_tasks)
    tasks = json.loads((outdir / "export" / "label-studio.json").read_text())
    config = (outdir / "export" / "label-studio-config.xml").read_text()
    assert '<Text name="text" value="$text"/>' in config
    ids = keys(outdir)
    task = next(t for t in tasks if t["data"]["key"] == ids["CM16-0231884"])
    text = task["data"]["text"]
    results = task["predictions"][0]["result"]
    spans = [r for r in results if r["type"] == "labels"]
    assert spans and all(
        text[r["value"]["start"] : r["value"]["end"]] == r["value"]["text"] for r in spans
    )
    areas = {r["from_name"]: r["value"]["text"] for r in results if r["type"] == "textarea"}
    assert areas["case_number"] == ["CM16-0231884"]
    assert f'name="{"patient__age"}"' in config

    # what Label Studio exports after a person corrected the age and made a typo elsewhere
    edited = [dict(r) for r in results]
    for r in edited:
        if r.get("from_name") == "patient__age":
            r["value"] = {"text": ["47"]}
        if r.get("from_name") == "items_0__quantity":
            r["value"] = {"text": ["many"]}
    export = [
        {**task, "annotations": [{"result": edited, "was_cancelled": False, "completed_by": 1}]}
    ]
    ls_file = outdir / "ls-export.json"
    ls_file.write_text(json.dumps(export))
    assert run_cli("review", outdir, "--import-label-studio", ls_file, "--reviewer", "LS") == 0
    db = ReviewDB(outdir)
    (corr,) = db.corrections(next(iter(db.all_corrections())))
    assert (corr.field, corr.new_value, corr.origin, corr.reviewer) == (
        "patient.age",
        47,
        "label-studio",
        "LS",
    )
    export_store(outdir, "csv")
    (row,) = [
        r for r in csv_rows(outdir / "export" / "letters.csv") if r["key"] == ids["CM16-0231884"]
    ]
    assert row["patient_age"] == "47" and row["review_status"] == "reviewed"


def test_items_can_be_added_and_deleted_and_then_corrected(outdir: Path) -> None:
    c = client_for(outdir)
    key = keys(outdir)["CM17-0003623"]  # two items
    page = c.get(f"/letter/{key}").text
    sha = re.search(r'name="items_sha" value="([0-9a-f]+)"', page)
    assert sha is not None
    # an edit of item 2, then item 1 deleted: the edit moves with its item
    assert set_field(c, key, "items[1].quantity", "7") == 303
    sha = re.search(r'name="items_sha" value="([0-9a-f]+)"', c.get(f"/letter/{key}").text)
    assert sha is not None
    r = c.post(
        f"/letter/{key}/items",
        data={"op": "delete", "index": "0", "items_sha": sha.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    # a stale page (the old fingerprint) is refused, not applied to the new list
    stale = c.post(
        f"/letter/{key}/items", data={"op": "delete", "index": "0", "items_sha": sha.group(1)}
    )
    assert stale.status_code == 409 and "nothing was saved" in stale.text
    sha = re.search(r'name="items_sha" value="([0-9a-f]+)"', c.get(f"/letter/{key}").text)
    assert sha is not None
    bad = c.post(
        f"/letter/{key}/items",
        data={"op": "add", "request": "", "decision": "upheld", "items_sha": sha.group(1)},
    )
    assert bad.status_code == 400 and "items" in bad.text
    r = c.post(
        f"/letter/{key}/items",
        data={
            "op": "add",
            "request": "MRI of the lumbar spine",
            "decision": "overturned",
            "items_sha": sha.group(1),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert set_field(c, key, "items[1].category", "imaging") == 303
    export_store(outdir, "jsonl")
    items = jsonl_rows(outdir, "items", key)
    original = record(outdir, key)["items"]
    assert [i["request"] for i in items] == [original[1]["request"], "MRI of the lumbar spine"]
    assert items[0]["quantity"] == 7
    assert (items[1]["decision"], items[1]["category"]) == ("overturned", "imaging")
    (row,) = jsonl_rows(outdir, "letters", key)
    assert row["n_items"] == 2 and "items" in row["corrected_fields"].split("; ")
