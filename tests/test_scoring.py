"""The scorer on small hand-made cases (RECORD.md "How a prediction is scored").

A scorer bug would silently corrupt every figure, so each rule has a case here:
alignment (missing, extra, reordered, duplicated items), list F1 edge cases,
null handling, date normalisation, diagnoses Jaccard matching, and the property
that a deliberately wrong prediction scores lower on exactly the fields it got
wrong.
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest

from llm_extract.errors import InputError, RecordValidationError
from llm_extract.evaluation.align import align_requests, request_similarity
from llm_extract.evaluation.gold import GoldRecord, load_gold, load_predictions
from llm_extract.evaluation.report_json import result_to_dict
from llm_extract.evaluation.scoring import (
    FIELD_NAMES,
    FIELDS,
    ITEM_FIELDS,
    LETTER_FIELDS,
    EvalResult,
    evaluate,
    score_value,
)
from llm_extract.loop import LetterResult, error_data
from llm_extract.models import Item, Record
from llm_extract.textsets import diagnosis_matches, hungarian_max

GOLD: dict[str, Any] = {
    "letter_id": "CM99-0000001",
    "case_number": "CM99-0000001",
    "date_assigned": "2016-10-18",
    "decision_date": "2016-12-01",
    "ur_denial_date": "2016-11-01",
    "application_received": "2016-11-10",
    "priority": "standard",
    "date_of_injury": "2014-05-06",
    "reviewer": {
        "specialties": ["Orthopedic Surgery", "Sports Medicine"],
        "subspecialties": ["Interventional Spine"],
        "licensure_states": ["California", "Arizona"],
    },
    "patient": {"age": 52, "sex": "male", "occupation": "detailer"},
    "diagnoses": ["lumbar radiculopathy", "cervical sprain/strain", "depression"],
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
            "guideline_sources": {
                "claims_administrator": ["mtus", "odg"],
                "maximus": ["mtus", "acoem"],
            },
        },
        {
            "request": "Retrospective TPI 20553 X6 DOS 12/29/15",
            "decision": "upheld",
            "category": "injection",
            "quantity": 6,
            "retrospective": True,
            "date_of_service": "2015-12-29",
            "cpt_codes": ["20553"],
        },
        {
            "request": "Lidoderm 5% patch #30",
            "original_request": "Lidoderm 5% patch #90",
            "decision": "overturned",
            "category": "medication",
            "quantity": 30,
            "medication": {"name": "Lidoderm", "strength": "5%", "days_supply": 30},
        },
    ],
}


def gold_record(**changes: Any) -> Record:
    data = json.loads(json.dumps(GOLD))
    data.update(changes)
    return Record.model_validate(data)


def run(gold: Record, pred: Record | None, *, error: str | None = None) -> EvalResult:
    g = GoldRecord(gold.letter_id, gold, Path(f"{gold.letter_id}.json"), "dev")
    p = LetterResult(
        source=gold.letter_id,
        letter_id=gold.letter_id,
        record=pred,
        error=error_data("ExtractionError", error, None) if error else None,
    )
    return evaluate([g], {gold.letter_id: p})


def scores(result: EvalResult) -> dict[str, float | None]:
    return {name: fs.score for name, fs in result.fields.items()}


# --- the field list ------------------------------------------------------------
def test_every_record_md_field_is_scored() -> None:
    assert len(LETTER_FIELDS) == 14 and len(ITEM_FIELDS) == 17
    assert "letter_id" not in FIELD_NAMES  # the key, not a field
    for expected in (
        "reviewer.specialties",
        "patient.age",
        "medication.name",
        "medication.days_supply",
        "guideline_sources.maximus",
        "diagnoses",
        "date_of_service",
    ):
        assert expected in FIELD_NAMES
    # every gold value is reachable through its spec (no typo in a dotted name)
    rec = gold_record()
    for spec in LETTER_FIELDS:
        spec.get(rec)
    for spec in ITEM_FIELDS:
        spec.get(rec.items[0])


def test_perfect_prediction_scores_one_everywhere() -> None:
    gold = gold_record()
    result = run(gold, gold.model_copy(deep=True))
    assert all(s == 1.0 for s in scores(result).values())
    assert result.mean_field_score == 1.0
    assert result.decision_accuracy == 1.0
    assert (result.items.precision, result.items.recall) == (1.0, 1.0)
    assert result.letters[0].wrong() == []


# --- the property: wrong on exactly the mutated field ------------------------------
def _set(obj: Any, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        obj = getattr(obj, part)
    setattr(obj, last, value)


# field -> (item index or None for the letter, wrong value)
MUTATIONS: dict[str, tuple[int | None, Any]] = {
    "case_number": (None, "CM99-0000002"),
    "date_assigned": (None, "10/19/16"),
    "decision_date": (None, "2016-12-02"),
    "ur_denial_date": (None, None),
    "application_received": (None, "2016-11-11"),
    "priority": (None, "expedited"),
    "date_of_injury": (None, "2014-06-05"),
    "reviewer.specialties": (None, ["Orthopedic Surgery"]),
    "reviewer.subspecialties": (None, []),
    "reviewer.licensure_states": (None, ["California", "Nevada"]),
    "patient.age": (None, 25),
    "patient.sex": (None, "female"),
    "patient.occupation": (None, "painter"),
    "diagnoses": (None, ["lumbar radiculopathy", "hypertension"]),
    # small enough a change that the item still aligns
    "request": (0, "Norco 10/325mg #60 tablets"),
    "original_request": (3, None),
    "decision": (1, "upheld"),
    "category": (1, "chiropractic"),
    "quantity": (0, 90),
    "frequency_per_week": (1, 3),
    "duration_weeks": (1, 4),
    "body_region": (1, "cervical spine"),
    "retrospective": (2, False),
    "date_of_service": (2, "12/30/15"),
    "cpt_codes": (2, ["20552"]),
    "medication.name": (0, "Percocet"),
    "medication.strength": (3, "4%"),
    "medication.days_supply": (3, 14),
    "guideline_sources.claims_administrator": (1, ["mtus"]),
    "guideline_sources.maximus": (0, ["odg"]),
    "maximus_guideline": (0, "Decision based on ODG Pain chapter."),
}


def test_every_field_has_a_mutation() -> None:
    assert set(MUTATIONS) == set(FIELD_NAMES)


@pytest.mark.parametrize("field", FIELD_NAMES)
def test_wrong_prediction_scores_lower_on_exactly_that_field(field: str) -> None:
    gold = gold_record()
    pred = gold.model_copy(deep=True)
    where, value = MUTATIONS[field]
    target: Any = pred if where is None else pred.items[where]
    _set(target, field, value)
    result = run(gold, pred)
    got = scores(result)
    assert got[field] is not None and got[field] < 1.0, field
    assert {n: s for n, s in got.items() if n != field} == {
        n: 1.0 for n in FIELD_NAMES if n != field
    }
    assert result.mean_field_score is not None and result.mean_field_score < 1.0
    assert (result.items.precision, result.items.recall) == (1.0, 1.0)
    (wrong,) = result.letters[0].wrong()
    assert wrong.field == field
    assert wrong.item == where


def test_item_field_score_is_mean_over_gold_items() -> None:
    gold = gold_record()
    pred = gold.model_copy(deep=True)
    pred.items[1].decision = "upheld"  # type: ignore[assignment]
    result = run(gold, pred)
    fs = result.fields["decision"]
    assert (fs.n, fs.correct, fs.score) == (4, 3, 0.75)
    assert result.decision_accuracy == 0.75


# --- alignment ------------------------------------------------------------------
def test_hungarian_matches_brute_force() -> None:
    rng = random.Random(7)
    for _ in range(200):
        n, m = rng.randint(1, 5), rng.randint(1, 5)
        w = [[rng.choice([0.0, rng.random()]) for _ in range(m)] for _ in range(n)]
        pairs = hungarian_max(w)
        assert len({i for i, _ in pairs}) == len(pairs) == len({j for _, j in pairs})
        assert len(pairs) == min(n, m)
        best = max(
            sum(w[i][j] for i, j in zip(rows, cols, strict=False))
            for rows in itertools.permutations(range(n), min(n, m))
            for cols in itertools.permutations(range(m), min(n, m))
        )
        assert sum(w[i][j] for i, j in pairs) == pytest.approx(best)


def test_hungarian_empty() -> None:
    assert hungarian_max([]) == []
    assert hungarian_max([[]]) == []


def test_similarity_tolerates_kept_context_and_typos() -> None:
    assert request_similarity("Lumbar  MRI", "lumbar mri") == 1.0
    long = "The remaining IMR eligible portion of the original request, Norco 10/325 #60 is"
    assert request_similarity("Norco 10/325 #60", long) >= 0.5
    assert request_similarity("Tramadol 50mg #60", "Tramadl 50mg #60") >= 0.5
    assert request_similarity("Lumbar MRI", "Acupuncture x6 sessions") < 0.5


def test_alignment_missing_item() -> None:
    gold = ["Norco 10/325mg #60", "Physical therapy 2x6 lumbar spine", "Lumbar MRI"]
    al = align_requests(gold, [gold[0], gold[2]])
    assert [(g, p) for g, p, _ in al.pairs] == [(0, 0), (2, 1)]
    assert al.missed == [1] and al.extra == []


def test_alignment_extra_item() -> None:
    gold = ["Norco 10/325mg #60", "Lumbar MRI"]
    al = align_requests(gold, ["Acupuncture x6", gold[0], gold[1]])
    assert [(g, p) for g, p, _ in al.pairs] == [(0, 1), (1, 2)]
    assert al.missed == [] and al.extra == [0]


def test_alignment_reordered_items_follow_text() -> None:
    gold = ["Norco 10/325mg #60", "Physical therapy 2x6 lumbar spine", "Lumbar MRI"]
    al = align_requests(gold, list(reversed(gold)))
    assert [(g, p) for g, p, _ in al.pairs] == [(0, 2), (1, 1), (2, 0)]


def test_alignment_identical_requests_follow_letter_order() -> None:
    gold = ["Physical therapy", "Lumbar MRI", "Physical therapy"]
    al = align_requests(gold, ["Physical therapy", "Lumbar MRI", "Physical therapy"])
    assert [(g, p) for g, p, _ in al.pairs] == [(0, 0), (1, 1), (2, 2)]


def test_alignment_duplicates_pair_by_relative_position() -> None:
    # three identical gold lines, two predicted: the first and the last pair up
    al = align_requests(["Physical therapy"] * 3, ["Physical therapy"] * 2)
    assert [(g, p) for g, p, _ in al.pairs] == [(0, 0), (2, 1)]
    assert al.missed == [1]


def test_alignment_unrelated_items_are_not_paired() -> None:
    al = align_requests(["Lumbar MRI"], ["Acupuncture x6 sessions"])
    assert al.pairs == [] and al.missed == [0] and al.extra == [0]


def test_missing_gold_item_is_a_miss_on_every_item_field() -> None:
    gold = gold_record()
    pred = gold.model_copy(deep=True)
    del pred.items[3]  # the partial certification, the only item with original_request
    result = run(gold, pred)
    s = scores(result)
    for spec in ITEM_FIELDS:
        # also original_request, although gold is null on 3 of the 4 items: a miss is a miss
        assert s[spec.name] == 0.75, spec.name
    for spec in LETTER_FIELDS:
        assert s[spec.name] == 1.0
    assert (result.items.precision, result.items.recall) == (1.0, 0.75)
    lr = result.letters[0]
    assert lr.alignment.missed == [3]
    assert lr.wrong() == []  # listed as a missed item, not as 17 wrong fields


def test_extra_predicted_item_is_a_false_positive_only() -> None:
    gold = gold_record()
    pred = gold.model_copy(deep=True)
    pred.items.insert(2, Item(request="Acupuncture x6 sessions", decision="upheld"))  # type: ignore[arg-type]
    result = run(gold, pred)
    assert all(v == 1.0 for v in scores(result).values())
    assert result.items.precision == pytest.approx(4 / 5)
    assert result.items.recall == 1.0
    assert result.letters[0].alignment.extra == [2]


def test_reordered_prediction_scores_perfectly() -> None:
    gold = gold_record()
    pred = gold.model_copy(deep=True)
    pred.items = list(reversed(pred.items))
    result = run(gold, pred)
    assert result.mean_field_score == 1.0


# --- list F1 ---------------------------------------------------------------------
SPEC = {s.name: s for s in FIELDS}


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        ([], [], 1.0),  # both empty: perfect, like null vs null
        ([], ["California"], 0.0),
        (["California"], [], 0.0),
        (["California", "Arizona"], ["Arizona", "California"], 1.0),  # order does not matter
        (["California"], ["california "], 1.0),  # case-folded, whitespace cleaned
        (["California", "Arizona"], ["Arizona", "Nevada"], 0.5),
        (["California", "Arizona"], ["California"], pytest.approx(2 / 3)),
    ],
)
def test_list_f1(gold: list[str], pred: list[str], expected: float) -> None:
    score, *_ = score_value(SPEC["reviewer.licensure_states"], gold, pred)
    assert score == expected


def test_list_field_micro_counts() -> None:
    gold = gold_record()
    pred = gold.model_copy(deep=True)
    pred.reviewer.licensure_states = ["California", "Nevada"]
    fs = run(gold, pred).fields["reviewer.licensure_states"]
    assert (fs.tp, fs.fp, fs.fn) == (1, 1, 1)
    assert fs.score == 0.5 and fs.precision == 0.5 and fs.recall == 0.5


def test_guideline_sources_compare_as_sets_of_enums() -> None:
    spec = SPEC["guideline_sources.maximus"]
    assert score_value(spec, ["mtus", "acoem"], ["ACOEM", "mtus"])[0] == 1.0


# --- diagnoses ---------------------------------------------------------------------
def test_diagnoses_jaccard_matching() -> None:
    spec = SPEC["diagnoses"]
    # same words in another order and case
    assert score_value(spec, ["lumbar radiculopathy"], ["Radiculopathy, lumbar"])[0] == 1.0
    # {cervical, sprain, strain} vs {cervical, sprain}: Jaccard 2/3
    assert score_value(spec, ["cervical sprain/strain"], ["cervical sprain"])[0] == 1.0
    # Jaccard exactly 0.5 matches ({a,b} vs {a,b,c,d})
    assert score_value(spec, ["knee pain"], ["knee pain left side"])[0] == 1.0
    # Jaccard 1/4 does not ({knee, pain} vs {left, knee, strain})
    assert score_value(spec, ["knee pain"], ["left knee strain"])[0] == 0.0
    assert score_value(spec, ["lumbar radiculopathy"], ["lumbar disc displacement"])[0] == 0.0


def test_diagnoses_matching_is_one_to_one_and_maximal() -> None:
    # one prediction cannot match two gold diagnoses
    score, tp, fp, fn = score_value(
        SPEC["diagnoses"], ["lumbar strain", "lumbar sprain"], ["lumbar strain sprain"]
    )
    assert (tp, fp, fn) == (1, 0, 1) and score == pytest.approx(2 / 3)
    # a greedy match of p0 to g0 would leave g1 unmatched; the maximum matches both
    matches = diagnosis_matches(
        ["lumbar sprain", "lumbar sprain strain chronic"],
        ["lumbar sprain strain", "lumbar sprain"],
    )
    assert len(matches) == 2


def test_diagnoses_field_partial() -> None:
    gold = gold_record()
    pred = gold.model_copy(deep=True)
    pred.diagnoses = ["Lumbar radiculopathy", "Cervical sprain", "anxiety"]
    fs = run(gold, pred).fields["diagnoses"]
    assert (fs.tp, fs.fp, fs.fn) == (2, 1, 1)
    assert fs.score == pytest.approx(2 / 3)


# --- null handling ---------------------------------------------------------------------
def test_null_handling() -> None:
    spec = SPEC["patient.occupation"]
    assert score_value(spec, None, None)[0] == 1.0  # null vs null is a correct match
    assert score_value(spec, None, "painter")[0] == 0.0  # a guess where the letter is silent
    assert score_value(spec, "detailer", None)[0] == 0.0  # a miss


def test_null_medication_has_null_subfields() -> None:
    gold = gold_record()
    pred = gold.model_copy(deep=True)
    # gold item 1 (physical therapy) has no medication; the prediction invents one
    pred.items[1].medication = {"name": "Ibuprofen", "strength": "800mg"}  # type: ignore[assignment]
    s = scores(run(gold, pred))
    assert s["medication.name"] == 0.75
    assert s["medication.strength"] == 0.75
    assert s["medication.days_supply"] == 1.0  # null on both sides


def test_score_on_gold_values_counts_only_stated_instances() -> None:
    gold = gold_record()
    pred = gold.model_copy(deep=True)
    pred.items[3].original_request = None
    fs = run(gold, pred).fields["original_request"]
    assert fs.score == 0.75  # null = null on the three other items
    assert fs.n_gold_values == 1 and fs.score_on_gold_values == 0.0


def test_failed_letter_is_scored_as_an_empty_record() -> None:
    gold = gold_record(ur_denial_date=None, items=[])
    result = run(gold, None, error="NotIMRLetterError: not an IMR letter")
    s = scores(result)
    assert s["ur_denial_date"] == 1.0  # null on both sides
    assert s["case_number"] == 0.0
    assert s["decision"] is None  # no gold items: item fields have no instances
    assert [lr.letter_id for lr in result.errors] == ["CM99-0000001"]
    assert result_to_dict(result)["errors"][0]["message"] == "NotIMRLetterError: not an IMR letter"


def test_missing_prediction_is_an_error() -> None:
    gold = gold_record()
    g = GoldRecord(gold.letter_id, gold, Path("x.json"), "")
    result = evaluate([g], {})
    assert result.errors and result.items.recall == 0.0


# --- normalisation ------------------------------------------------------------------
def test_date_normalisation() -> None:
    gold = gold_record()  # date_assigned "2016-10-18"
    data = gold.model_dump(mode="json")
    for written in ("10/18/16", "10-18-2016", "10/18/2016", "October 18, 2016"):
        data["date_assigned"] = written
        assert scores(run(gold, Record.model_validate(data)))["date_assigned"] == 1.0
    data["date_assigned"] = "10/18/17"
    assert scores(run(gold, Record.model_validate(data)))["date_assigned"] == 0.0


def test_string_fields_ignore_case_and_whitespace() -> None:
    spec = SPEC["body_region"]
    assert score_value(spec, "lumbar spine", "Lumbar\n  Spine")[0] == 1.0
    assert score_value(spec, "lumbar spine", "lumbar")[0] == 0.0
    assert score_value(SPEC["maximus_guideline"], "treat-\nment plan", "treatment plan")[0] == 1.0


def test_result_json_has_the_documented_keys() -> None:
    gold = gold_record()
    d = result_to_dict(run(gold, gold))
    for key in ("mean_field_score", "decision_accuracy", "fields", "items", "cost", "letters"):
        assert key in d
    assert set(d["fields"]) == set(FIELD_NAMES)
    assert set(d["items"]) >= {"precision", "recall"}
    json.dumps(d)  # serialisable


# --- loading gold and predictions ---------------------------------------------------------
def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_load_gold_recursive_with_splits(tmp_path: Path) -> None:
    _write(tmp_path / "dev" / "CM99-0000001.json", GOLD)
    _write(tmp_path / "test" / "sub" / "CM99-0000002.json", {**GOLD, "letter_id": "CM99-0000002"})
    assert [g.split for g in load_gold(tmp_path)] == ["dev", "test"]
    assert [g.letter_id for g in load_gold(tmp_path, split="test")] == ["CM99-0000002"]


def test_load_gold_names_the_bad_file(tmp_path: Path) -> None:
    _write(tmp_path / "dev" / "CM99-0000001.json", {**GOLD, "priority": "urgent"})
    with pytest.raises(RecordValidationError, match=r"CM99-0000001\.json.*priority"):
        load_gold(tmp_path)


def test_load_gold_rejects_id_mismatch_and_empty(tmp_path: Path) -> None:
    _write(tmp_path / "dev" / "other.json", GOLD)
    with pytest.raises(RecordValidationError, match="does not match the file name"):
        load_gold(tmp_path)
    with pytest.raises(InputError, match="no gold records"):
        load_gold(tmp_path, split="test")
    with pytest.raises(InputError, match="not found"):
        load_gold(tmp_path / "missing")


def test_load_predictions_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(GOLD) + "\n\n" + '{"letter_id": "x", "items": [{}]}\n')
    with pytest.raises(RecordValidationError, match=r"p\.jsonl:3"):
        load_predictions(path)
    path.write_text(json.dumps(GOLD) + "\n" + json.dumps(GOLD) + "\n")
    with pytest.raises(RecordValidationError, match="second prediction"):
        load_predictions(path)


def test_figures_per_split() -> None:
    gold = gold_record()
    other = gold_record(letter_id="CM99-0000002")
    wrong = other.model_copy(deep=True)
    wrong.items[0].decision = "overturned"  # type: ignore[assignment]
    result = evaluate(
        [
            GoldRecord(gold.letter_id, gold, Path("dev/a.json"), "dev"),
            GoldRecord(other.letter_id, other, Path("test/b.json"), "test"),
        ],
        {
            gold.letter_id: LetterResult.of_record(gold.letter_id, gold),
            other.letter_id: LetterResult.of_record(other.letter_id, wrong),
        },
    )
    splits = result_to_dict(result)["splits"]
    assert splits["dev"]["decision_accuracy"] == 1.0
    assert splits["test"]["decision_accuracy"] == 0.75
    assert result.decision_accuracy == 7 / 8
