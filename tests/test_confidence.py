"""Value shapes, the per-value confidence table and its leave-one-split-out measurement."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from llm_extract.confidence import ConfidenceModel, ValueSignals, signals
from llm_extract.config import load_config
from llm_extract.evaluation.calibration import (
    Example,
    choose_threshold,
    examples,
    figures,
    leave_one_split_out,
)
from llm_extract.evaluation.gold import load_gold
from llm_extract.evaluation.runner import run_backend
from llm_extract.evaluation.scoring import evaluate
from llm_extract.fields import item_fields, letter_fields
from llm_extract.models import Item, Medication, Patient, Record, Reviewer
from llm_extract.shapes import shape_doubts, value_doubts

FIXTURES = Path(__file__).resolve().parent.parent / "evals" / "fixtures"


def _paths(record: Record) -> dict[str, str]:
    return {d.path: d.code for d in shape_doubts(record)}


def test_well_formed_record_has_no_doubt() -> None:
    rec = Record(
        letter_id="x",
        case_number="CM16-0000001",
        date_of_injury=dt.date(2012, 3, 4),
        decision_date=dt.date(2016, 12, 1),
        reviewer=Reviewer(specialties=["Orthopedic Surgery"], licensure_states=["California"]),
        patient=Patient(age=52, sex="male", occupation="truck driver"),
        diagnoses=["lumbar strain", "strain of muscle, fascia and tendon of the neck"],
        items=[
            Item(
                request="Physical therapy 2x6",
                decision="upheld",
                category="physical_therapy",
                quantity=12,
                frequency_per_week=2,
                duration_weeks=6,
            ),
            Item(
                request="Norco 10/325mg #60",
                decision="upheld",
                category="medication",
                quantity=60,
                medication=Medication(name="Norco", strength="10/325mg"),
            ),
        ],
    )
    assert shape_doubts(rec) == []


def test_ill_formed_values_are_doubted_on_their_own_field() -> None:
    rec = Record(
        letter_id="x",
        case_number="16-239110",
        date_of_injury=dt.date(2017, 1, 5),
        decision_date=dt.date(2016, 12, 1),
        reviewer=Reviewer(licensure_states=["Californa"]),
        patient=Patient(age=300, occupation="diagnosed with lumbar strain 12/3/2015"),
        diagnoses=["with lumbar strain", "knee pain 10/22/16", "knee pain 10/22/16"],
        items=[
            Item(
                request="PT 2x6",
                decision="upheld",
                quantity=10,
                frequency_per_week=2,
                duration_weeks=6,
                cpt_codes=["2055"],
            ),
            Item(
                request="Viagra",
                decision="upheld",
                category="medication",
                medication=Medication(name="3 months coverage of Viagra", strength="one tab"),
            ),
        ],
    )
    got = _paths(rec)
    assert got["case_number"] == "ill_formed"
    assert got["date_of_injury"] == "date_after_decision"
    assert got["reviewer.licensure_states"] == "ill_formed"
    assert got["patient.age"] == "ill_formed"
    assert got["patient.occupation"] == "ill_formed"
    assert got["diagnoses"] == "ill_formed"
    assert got["items[0].quantity"] == "schedule_mismatch"
    assert got["items[0].cpt_codes"] == "ill_formed"
    assert got["items[1].medication.name"] == "ill_formed"
    assert got["items[1].medication.strength"] == "ill_formed"
    said = " | ".join(d.message for d in shape_doubts(rec) if d.path == "diagnoses")
    assert "begins with a word" in said and "holds a date" in said and "listed twice" in said


def test_value_doubts_judge_one_value_whatever_its_record() -> None:
    assert value_doubts("medication.name", "3 months coverage of Viagra")
    assert value_doubts("medication.name", "Viagra") == []
    assert value_doubts("medication.strength", "10/325mg") == []
    assert value_doubts("medication.strength", "10 325") != []
    assert value_doubts("quantity", 0) != [] and value_doubts("quantity", 12) == []
    assert value_doubts("reviewer.licensure_states", ["California", "Nevada"]) == []
    assert value_doubts("cpt_codes", ["20553", "2055"]) == ["'2055' is not a five-character code"]
    assert value_doubts("patient.occupation", None) == []


@pytest.mark.parametrize("gold", load_gold(FIXTURES), ids=lambda g: g.letter_id)
def test_hand_labelled_values_have_their_shape(gold) -> None:  # type: ignore[no-untyped-def]
    # A check that doubted a value a person wrote from the letter would cry wolf.
    assert shape_doubts(gold.record) == []


def _sig(field: str, certainty: str = "exact") -> ValueSignals:
    return ValueSignals(
        path=field,
        field=field,
        certainty=certainty,
        rule="r",
        reader="rules",
        grounded=True,
        shaped=True,
        empty=False,
        source="text",
        size="",
    )


def test_model_backs_off_and_smooths() -> None:
    rows = [(_sig("diagnoses", "heuristic"), i < 3) for i in range(10)]
    rows += [(_sig("case_number"), False) for _ in range(90)]
    model = ConfidenceModel.fit(rows)
    heuristic = model.p_wrong(_sig("diagnoses", "heuristic"))
    exact = model.p_wrong(_sig("case_number"))
    unseen = model.p_wrong(_sig("patient.age"))
    # Overall: 3 wrong of 100; diagnoses: 3 of 10 smoothed towards it.
    assert 0.15 < heuristic < 0.3
    assert exact < 0.01
    assert abs(unseen - (3 + 0.5) / (100 + 1)) < 0.02  # an unseen field takes the overall rate
    assert ConfidenceModel.from_json(model.to_json()).p_wrong(_sig("case_number")) == exact


def test_threshold_stays_within_both_budgets() -> None:
    def ex(letter: str, wrong: bool) -> Example:
        return Example("s", letter, _sig("f"), wrong, False, False)

    # 40 letters x 10 values; the one risky value per letter is wrong in 4 letters.
    scored = []
    for n in range(40):
        scored += [(ex(f"L{n}", False), 0.001) for _ in range(9)]
        scored.append((ex(f"L{n}", n < 4), 0.5 if n < 8 else 0.01))
    t = choose_threshold(scored)
    fig = figures("s", scored, t)
    assert t == 0.5
    assert fig.flagged_letters == 8 and fig.silent_letters == 0 and fig.wrong_flagged_own == 4


@pytest.mark.corpus
def test_leave_one_split_out_on_the_gold_splits(corpus: Path) -> None:
    gold = load_gold(FIXTURES)
    preds = run_backend(gold, corpus, backend="rules", config=load_config(backend="rules"))
    rows = examples(evaluate(gold, preds))
    report = leave_one_split_out(rows).to_dict()
    splits = {s["split"] for s in report["splits"]}
    assert splits == {g.split for g in gold}
    assert report["total"]["values"] == len(rows) == sum(b["values"] for b in report["calibration"])
    assert report["total"]["letters"] == len({g.letter_id for g in gold})
    for s in report["splits"]:
        assert s["value_flag_share"] is None or s["value_flag_share"] <= 0.06


def test_signals_cover_every_field() -> None:
    rec = Record(letter_id="x", items=[Item(request="MRI", decision="upheld")])
    paths = [s.path for s in signals(rec)]
    assert paths == [*letter_fields(), *(f"items[0].{f}" for f in item_fields())]
