"""``llm-extract eval`` end to end on hand-made gold, predictions and a synthetic letter."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from llm_extract.cli import main
from llm_extract.evaluation.scoring import FIELD_NAMES

LETTER_ID = "CM99-0000001"

# A small synthetic letter in the newer layout (not a corpus letter).
LETTER_TEXT = """Case Number: CM99-0000001
Date Assigned: 10/18/2016 Date of Injury: 05/06/2014
Decision Date: 12/01/2016 UR Denial Date: 11/01/2016
Priority: Standard Application
Received:
11/10/2016
HOW THE IMR FINAL DETERMINATION WAS MADE
MAXIMUS Federal Services sent the complete case file to an expert reviewer.
The Expert Reviewer has the following credentials:
State(s) of Licensure: California
Certification(s)/Specialty: Orthopedic Surgery
CLINICAL CASE SUMMARY
The injured worker is a 52 year old male detailer, who sustained an industrial injury on
05-06-2014. Diagnoses include lumbar radiculopathy.
IMR ISSUES, DECISIONS AND RATIONALES
The Final Determination was based on decisions for the disputed items/services set forth below:
Norco 10/325mg #60: Upheld
Claims Administrator guideline: Decision based on MTUS Chronic Pain Medical Treatment 2016.
MAXIMUS guideline: Decision based on MTUS Chronic Pain Medical Treatment 2016, Section(s):
Opioids.
Decision rationale: The records do not document functional improvement.
Physical therapy 2x6 lumbar spine: Overturned
Claims Administrator guideline: Decision based on MTUS Chronic Pain Medical Treatment 2016.
MAXIMUS guideline: Decision based on MTUS Chronic Pain Medical Treatment 2016.
Decision rationale: A short course of therapy is indicated.
"""

GOLD: dict[str, Any] = {
    "letter_id": LETTER_ID,
    "case_number": LETTER_ID,
    "date_assigned": "2016-10-18",
    "decision_date": "2016-12-01",
    "ur_denial_date": "2016-11-01",
    "application_received": "2016-11-10",
    "priority": "standard",
    "date_of_injury": "2014-05-06",
    "reviewer": {"specialties": ["Orthopedic Surgery"], "licensure_states": ["California"]},
    "patient": {"age": 52, "sex": "male", "occupation": "detailer"},
    "diagnoses": ["lumbar radiculopathy"],
    "items": [
        {
            "request": "Norco 10/325mg #60",
            "decision": "upheld",
            "category": "medication",
            "quantity": 60,
            "medication": {"name": "Norco", "strength": "10/325mg", "days_supply": None},
            "guideline_sources": {"claims_administrator": ["mtus"], "maximus": ["mtus"]},
            "maximus_guideline": "Decision based on MTUS Chronic Pain Medical Treatment 2016, "
            "Section(s): Opioids.",
        },
        {
            "request": "Physical therapy 2x6 lumbar spine",
            "decision": "overturned",
            "category": "physical_therapy",
            "quantity": 12,
            "frequency_per_week": 2,
            "duration_weeks": 6,
            "body_region": "lumbar spine",
            "guideline_sources": {"claims_administrator": ["mtus"], "maximus": ["mtus"]},
            "maximus_guideline": "Decision based on MTUS Chronic Pain Medical Treatment 2016.",
        },
    ],
}


def _prediction(**changes: Any) -> dict[str, Any]:
    pred = json.loads(json.dumps(GOLD))
    pred.update(changes)
    pred["provenance"] = {
        "text_sha256": "0" * 64,
        "backend": "handmade",
        "backend_version": "1",
        "usage": {"prompt_tokens": 1000, "completion_tokens": 200, "seconds": 2.5},
    }
    return pred


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    gold_dir = tmp_path / "gold"
    (gold_dir / "dev").mkdir(parents=True)
    (gold_dir / "dev" / f"{LETTER_ID}.json").write_text(json.dumps(GOLD), encoding="utf-8")
    letters = tmp_path / "letters"
    letters.mkdir()
    (letters / f"{LETTER_ID}.txt").write_text(LETTER_TEXT, encoding="utf-8")
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(_prediction()) + "\n", encoding="utf-8")
    wrong = _prediction()
    wrong["items"][1]["decision"] = "upheld"  # the deliberate mistake
    bad = tmp_path / "wrong.jsonl"
    bad.write_text(json.dumps(wrong) + "\n", encoding="utf-8")
    return {"gold": gold_dir, "letters": letters, "good": good, "wrong": bad, "tmp": tmp_path}


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(["eval", *args])
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_json_output(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        ["--predictions", str(setup["wrong"]), "--gold", str(setup["gold"]), "--json"], capsys
    )
    assert code == 0
    data = json.loads(out)
    assert set(data["fields"]) == set(FIELD_NAMES)
    assert data["decision_accuracy"] == 0.5
    assert data["fields"]["decision"] == 0.5
    assert [n for n, v in data["fields"].items() if v != 1.0] == ["decision"]
    assert data["mean_field_score"] < 1.0
    assert data["items"]["precision"] == 1.0 and data["items"]["recall"] == 1.0
    assert data["cost"]["seconds_per_letter"] == 2.5
    assert data["cost"]["tokens_per_letter"] == 1200
    assert data["backend"] == "handmade"
    (letter,) = data["letters"]
    assert letter["wrong"] == [
        {
            "field": "decision",
            "item": 1,
            "predicted_item": 1,
            "gold": "overturned",
            "predicted": "upheld",
            "score": 0.0,
        }
    ]


def test_table_output(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        ["--predictions", str(setup["wrong"]), "--gold", str(setup["gold"])], capsys
    )
    assert code == 0
    for name in FIELD_NAMES:
        assert name in out
    assert re.search(r"decision\s+item\s+acc\s+50\.0\s+1/2", out)
    assert "mean field score" in out and "decision accuracy 50.0 %" in out
    assert "2.50 s/letter" in out


def test_html_report_is_self_contained(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    report = setup["tmp"] / "out" / "report.html"
    code, _, err = run_cli(
        [
            "--predictions",
            str(setup["wrong"]),
            "--gold",
            str(setup["gold"]),
            "--letters",
            str(setup["letters"]),
            "--html",
            str(report),
        ],
        capsys,
    )
    assert code == 0 and "HTML report written" in err
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<script" not in page and "src=" not in page
    assert not re.search(r"href=\"(https?:)?//", page)  # no external assets
    # the wrong field, gold and predicted side by side
    assert re.search(
        r"<td>decision</td><td class=gold>overturned</td><td class=pred>upheld</td>", page
    )
    # the letter text around the item, the decision line marked
    assert "<mark>Physical therapy 2x6 lumbar spine</mark>: Overturned" in page
    assert "A short course of therapy is indicated." in page


def test_perfect_predictions_pass_fail_under(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        [
            "--predictions",
            str(setup["good"]),
            "--gold",
            str(setup["gold"]),
            "--fail-under",
            "decision=1.0",
            "--fail-under",
            "mean_field_score=1",
        ],
        capsys,
    )
    assert code == 0, err


def test_fail_under_violated(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        [
            "--predictions",
            str(setup["wrong"]),
            "--gold",
            str(setup["gold"]),
            "--fail-under",
            "decision=0.9",
            "--fail-under",
            "patient.age=0.9",
        ],
        capsys,
    )
    assert code == 1
    assert err.strip().splitlines()[-1] == "fail-under: decision 0.5000 < 0.9000"


@pytest.mark.parametrize("spec", ["nonsense=0.5", "decision", "decision=90", "decision=high"])
def test_fail_under_bad_spec(
    spec: str, setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        ["--predictions", str(setup["good"]), "--gold", str(setup["gold"]), "--fail-under", spec],
        capsys,
    )
    assert code == 2 and "fail-under" in err
    assert "Traceback" not in err


def test_compare(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    paths = {}
    for name in ("good", "wrong"):
        code, out, _ = run_cli(
            ["--predictions", str(setup[name]), "--gold", str(setup["gold"]), "--json"], capsys
        )
        assert code == 0
        paths[name] = setup["tmp"] / f"{name}.json"
        paths[name].write_text(out, encoding="utf-8")
    code, out, _ = run_cli(["--compare", str(paths["good"]), str(paths["wrong"]), "--json"], capsys)
    assert code == 0
    cmp = json.loads(out)
    assert cmp["fields"]["decision"] == {"a": 1.0, "b": 0.5, "delta": -0.5}
    assert {n for n, v in cmp["fields"].items() if v["delta"] != 0} == {"decision"}
    assert cmp["gold_changed"] is False
    code, out, _ = run_cli(["--compare", str(paths["good"]), str(paths["wrong"])], capsys)
    assert code == 0 and re.search(r"decision\s+100\.0\s+50\.0\s+-50\.0", out)
    # --fail-under applies to B
    code, _, err = run_cli(
        ["--compare", str(paths["good"]), str(paths["wrong"]), "--fail-under", "decision=0.6"],
        capsys,
    )
    assert code == 1 and "decision 0.5000 < 0.6000" in err


def test_bad_gold_file_is_one_line_error(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = setup["gold"] / "test" / "CM99-0000002.json"
    bad.parent.mkdir()
    bad.write_text('{"letter_id": "CM99-0000002", "date_assigned": "sometime"}', encoding="utf-8")
    code, _, err = run_cli(
        ["--predictions", str(setup["good"]), "--gold", str(setup["gold"])], capsys
    )
    assert code == 2
    assert err.count("\n") == 1 and "CM99-0000002.json" in err and "date_assigned" in err
    assert "Traceback" not in err
    # the other split still scores
    code, _, _ = run_cli(
        ["--predictions", str(setup["good"]), "--gold", str(setup["gold"]), "--split", "dev"],
        capsys,
    )
    assert code == 0


def test_missing_inputs_are_one_line_errors(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["--predictions", str(setup["good"]), "--gold", "/nonexistent"], capsys)
    assert code == 2 and "gold folder not found" in err
    code, _, err = run_cli(
        ["--predictions", str(setup["tmp"] / "nope.jsonl"), "--gold", str(setup["gold"])], capsys
    )
    assert code == 2 and "predictions file not found" in err
    code, _, err = run_cli(["--compare", str(setup["good"]), str(setup["wrong"])], capsys)
    assert code == 2 and "not an" in err


def test_prediction_missing_for_a_gold_letter(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    other = json.loads(json.dumps(GOLD))
    other["letter_id"] = "CM99-0000002"
    other["case_number"] = "CM99-0000002"
    (setup["gold"] / "dev" / "CM99-0000002.json").write_text(json.dumps(other), encoding="utf-8")
    code, out, _ = run_cli(
        ["--predictions", str(setup["good"]), "--gold", str(setup["gold"]), "--json"], capsys
    )
    assert code == 0
    data = json.loads(out)
    assert [e["letter_id"] for e in data["errors"]] == ["CM99-0000002"]
    assert data["items"]["recall"] == 0.5


def test_backend_run_scores_and_lists_failures(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The rules backend over the synthetic letter, plus one letter that is not there and
    one that is not an IMR letter: both become listed errors, the run goes on."""
    for lid in ("CM99-0000003", "CM99-0000004"):
        other = {"letter_id": lid}
        (setup["gold"] / "dev" / f"{lid}.json").write_text(json.dumps(other), encoding="utf-8")
    (setup["letters"] / "CM99-0000004.txt").write_text("A shopping list: eggs, milk.\n")
    saved = setup["tmp"] / "preds.jsonl"
    code, out, _ = run_cli(
        [
            "--backend",
            "rules",
            "--gold",
            str(setup["gold"]),
            "--letters",
            str(setup["letters"]),
            "--json",
            "--save-predictions",
            str(saved),
        ],
        capsys,
    )
    assert code == 0
    data = json.loads(out)
    assert data["backend"] == "rules"
    errors = {e["letter_id"]: e for e in data["errors"]}
    assert set(errors) == {"CM99-0000003", "CM99-0000004"}
    assert errors["CM99-0000003"]["error"] == "LetterNotFoundError"
    assert errors["CM99-0000004"]["error"] == "NotIMRLetterError"
    letter = next(x for x in data["letters"] if x["letter_id"] == LETTER_ID)
    assert letter["error"] is None and letter["seconds"] > 0
    assert letter["predicted_items"] == 2 and letter["matched_items"] == 2
    # the header dates of the synthetic letter are the rules parser's home ground
    assert not {w["field"] for w in letter["wrong"]} & {"case_number", "date_assigned", "decision"}
    lines = saved.read_text().splitlines()
    assert [json.loads(x)["letter_id"] for x in lines] == [LETTER_ID]
    # the saved predictions re-score to the same figures
    code, out2, _ = run_cli(
        ["--predictions", str(saved), "--gold", str(setup["gold"]), "--json"], capsys
    )
    assert json.loads(out2)["fields"] == data["fields"]


def test_html_context_uses_the_prediction_span_when_it_points_into_the_text() -> None:
    from llm_extract.evaluation.gold import GoldRecord
    from llm_extract.evaluation.report_html import render_html
    from llm_extract.evaluation.scoring import evaluate
    from llm_extract.loading import letter_from_text
    from llm_extract.loop import LetterResult
    from llm_extract.models import Record

    letter = letter_from_text(LETTER_TEXT, LETTER_ID)
    gold = Record.model_validate(GOLD)
    pred_data = _prediction()
    pred_data["provenance"]["text_sha256"] = letter.sha256
    start = letter.text.index("Norco 10/325mg #60: Upheld")
    pred_data["items"][0]["span"] = {
        "start": start,
        "end": start + len("Norco 10/325mg #60: Upheld"),
    }
    pred_data["items"][0]["quantity"] = 6  # wrong, so the item is drilled into
    pred = Record.model_validate(pred_data)
    result = evaluate(
        [GoldRecord(LETTER_ID, gold, Path("g.json"), "dev")],
        {LETTER_ID: LetterResult.of_record(LETTER_ID, pred, text=letter.text)},
    )
    page = render_html(result)
    assert "<mark>Norco 10/325mg #60: Upheld</mark>" in page
    # a span from another text (sha mismatch) is not trusted: the request is searched instead
    pred_data["provenance"]["text_sha256"] = "0" * 64
    pred_data["items"][0]["span"] = {"start": 0, "end": 10}
    result = evaluate(
        [GoldRecord(LETTER_ID, gold, Path("g.json"), "dev")],
        {
            LETTER_ID: LetterResult.of_record(
                LETTER_ID, Record.model_validate(pred_data), text=letter.text
            )
        },
    )
    assert "<mark>Norco 10/325mg #60</mark>: Upheld" in render_html(result)


def test_backend_that_cannot_run_stops_the_run(setup: dict[str, Path]) -> None:
    """A ConfigError is about the backend, not a letter: it is raised, not scored as empty."""
    from llm_extract.config import load_config
    from llm_extract.errors import BackendUnavailableError
    from llm_extract.evaluation.gold import load_gold
    from llm_extract.evaluation.runner import run_backend
    from llm_extract.loading import Letter
    from llm_extract.models import Record

    class Unavailable:  # a backend whose endpoint is gone (Backend protocol)
        name = "unavailable"
        version = "0"

        def extract(self, letter: Letter) -> Record:
            raise BackendUnavailableError("no endpoint answers", letter=letter.letter_id)

        def close(self) -> None:
            pass

    gold = load_gold(setup["gold"])
    with pytest.raises(BackendUnavailableError, match="no endpoint answers"):
        run_backend(gold, setup["letters"], backend=Unavailable(), config=load_config())


def test_percent_never_rounds_up_to_perfect() -> None:
    from llm_extract.evaluation.report_text import percent

    assert percent(1.0) == "100.0"
    assert percent(0.9996) == "99.96"
    assert percent(0.9871) == "98.7"
    assert percent(None) == "-"
