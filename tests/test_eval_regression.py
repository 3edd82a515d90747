"""The rules backend must not fall below its committed baseline on the gold fixtures.

``evals/baseline-rules.json`` is ``llm-extract eval --backend rules --json`` on
``evals/fixtures``.  Each figure of a new run, rounded as the baseline is (4
decimals), must be at least the baseline's: the only tolerance is for float
rounding.  When the gold fixtures change, the baseline is stale and this test
says how to regenerate it (and the diff of the baseline shows what moved).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llm_extract.config import load_config
from llm_extract.evaluation import headline
from llm_extract.evaluation.gold import gold_digest, load_gold
from llm_extract.evaluation.report_json import result_to_dict
from llm_extract.evaluation.runner import run_backend
from llm_extract.evaluation.scoring import FIELD_NAMES, evaluate

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "evals" / "baseline-rules.json"
FIXTURES = ROOT / "evals" / "fixtures"
ROUNDING_TOLERANCE = 1e-9  # both sides are rounded to 4 decimals; this only absorbs float noise
REGENERATE = (
    "regenerate it from the repository root with "
    "`llm-extract eval --backend rules --json > evals/baseline-rules.json` and review the diff"
)

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def baseline() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(BASELINE.read_text(encoding="utf-8"))
    return data


def test_baseline_is_a_rules_result(baseline: dict[str, Any]) -> None:
    assert baseline["backend"] == "rules"
    assert baseline["split"] == "all"
    assert set(baseline["fields"]) == set(FIELD_NAMES)
    assert baseline["n_letters"] > 0


def test_rules_does_not_regress_below_baseline(baseline: dict[str, Any], corpus: Path) -> None:
    gold = load_gold(FIXTURES)
    assert gold_digest(gold) == baseline["gold_sha256"], (
        f"the gold fixtures changed since {BASELINE.name} was made; {REGENERATE}"
    )
    predictions = run_backend(gold, corpus, backend="rules", config=load_config(backend="rules"))
    current = result_to_dict(evaluate(gold, predictions), letters=False)

    # Every headline figure of evaluation/headline.py; one the baseline lacks
    # (added since it was made) is None there and skipped until it is regenerated.
    now_h, base_h = headline.from_json(current), headline.from_json(baseline)
    figures = {
        **{f"fields.{n}": (current["fields"][n], baseline["fields"][n]) for n in FIELD_NAMES},
        **{name: (now_h[name], base_h[name]) for name in headline.names()},
    }
    regressions = []
    for name, (now, base) in figures.items():
        # Field scores are better higher; a headline figure says which way (headline.py).
        better = "higher" if name.startswith("fields.") else headline.better(name)
        if base is None or better is None:
            continue
        if better == "higher" and (now is None or now < base - ROUNDING_TOLERANCE):
            regressions.append(f"{name}: {now} < baseline {base}")
        if better == "lower" and (now is None or now > base + ROUNDING_TOLERANCE):
            regressions.append(f"{name}: {now} > baseline {base}")
    assert not regressions, "rules regressed on the fixtures:\n" + "\n".join(regressions)
    assert len(current["errors"]) <= len(baseline["errors"]), current["errors"]
