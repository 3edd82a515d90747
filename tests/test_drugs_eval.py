"""The drug dimension's evaluation against evals/drugs/gold.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llm_extract.errors import ConfigError
from llm_extract.evaluation.drugs import DrugGold, load_drug_gold, score_records, score_resolver

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "evals" / "drugs" / "gold.json"


def _g(name: str, ingredients: set[str], cls: str, index: int = 0) -> DrugGold:
    return DrugGold("L1", index, name, frozenset(ingredients), cls)


def test_scoring_counts_unresolved_wrong_and_folded_classes() -> None:
    gold = [
        _g("Norco", {"hydrocodone", "acetaminophen"}, "opioid"),
        _g("Valium", {"diazepam"}, "other"),  # benzodiazepine folds into other
        _g("Lidoderm", {"lidocaine"}, "other"),  # topical_analgesic folds into other
        _g("Percocet", {"oxycodone", "acetaminophen"}, "nsaid"),  # a wrong class
        _g("Qzxfoo", {"x"}, "other"),
    ]
    s = score_resolver(gold)
    assert (s.items, s.resolved, s.correct) == (5, 4, 3)
    assert (s.ingredients_correct, s.class_correct) == (4, 3)
    assert any("Percocet" in m and "gold" in m for m in s.misses)
    assert any("Qzxfoo" in m and "unresolved" in m for m in s.misses)


def test_records_are_scored_at_the_gold_index() -> None:
    gold = [_g("Norco", {"hydrocodone", "acetaminophen"}, "opioid", index=1)]
    rec = {"items": [{"medication": None}, {"medication": {"name": "Norco 10/325"}}]}
    assert score_records(gold, {"L1": rec}).correct == 1
    assert score_records(gold, {"L1": {"items": [rec["items"][0]]}}).resolved == 0
    assert score_records(gold, {}).misses == ["L1#1 None: unresolved"]


def test_the_gold_resolves_correctly() -> None:
    gold = load_drug_gold(GOLD)
    assert len(gold) >= 40
    s = score_resolver(gold)
    assert s.correct == s.items, s.misses


def test_bad_gold_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "gold.json"
    bad.write_text(json.dumps([{"letter_id": "x"}]))
    with pytest.raises(ConfigError, match="cannot read the drug gold"):
        load_drug_gold(bad)


def test_script_prints_the_figures() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "eval_drugs.py"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    assert data["resolver"]["items"] == len(load_drug_gold(GOLD))
