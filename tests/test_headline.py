"""A headline figure added to ``evaluation/headline.py`` reaches every consumer.

The table is the one place the headline figures are named: the JSON, text and
HTML reports, ``--compare``, ``--fail-under`` and the regression gate read it.
This adds one figure (as HYBRID's needs-review metrics are added) and checks
that each of them shows it, with no other change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_extract.cli.eval_cmd import _figures_from_dict, check_fail_under, parse_fail_under
from llm_extract.evaluation import headline
from llm_extract.evaluation.compare import compare
from llm_extract.evaluation.gold import GoldRecord
from llm_extract.evaluation.report_html import render_html
from llm_extract.evaluation.report_json import result_to_dict
from llm_extract.evaluation.report_text import summary_lines
from llm_extract.evaluation.scoring import EvalResult, evaluate
from llm_extract.loop import LetterResult
from llm_extract.models import Decision, Item, Record

EXTRA = headline.Figure("extra.share", "extra share", lambda r: 0.25)


def _result() -> EvalResult:
    splits = {"CM99-0000001": "dev", "CM99-0000002": "test"}
    gold, preds = [], {}
    for lid, split in splits.items():
        rec = Record(
            letter_id=lid, items=[Item(request="MRI of the knee", decision=Decision.UPHELD)]
        )
        gold.append(GoldRecord(lid, rec, Path(f"{lid}.json"), split))
        preds[lid] = LetterResult(source=lid, letter_id=lid, record=rec, error=None)
    return evaluate(gold, preds)


@pytest.fixture
def extra_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(headline, "HEADLINES", (*headline.HEADLINES, EXTRA))


def test_the_table_has_the_standard_figures() -> None:
    standard = ("mean_field_score", "decision_accuracy", "items.precision", "items.recall")
    assert headline.names()[:4] == standard
    assert "items.f1" in headline.names()
    doc = result_to_dict(_result(), letters=False)
    assert {n: headline.from_json(doc)[n] for n in (*standard, "items.f1")} == dict.fromkeys(
        (*standard, "items.f1"), 1.0
    )
    assert doc["items"]["matched"] == 2  # the counts stay beside the figures


@pytest.mark.usefixtures("extra_figure")
def test_an_added_figure_reaches_every_consumer() -> None:
    result = _result()
    doc = result_to_dict(result, letters=False)
    assert doc["extra"]["share"] == 0.25
    assert doc["splits"]["dev"]["extra"]["share"] == 0.25
    assert headline.all_figures(result)["extra.share"] == 0.25
    assert headline.value_of(result, "extra.share") == 0.25
    assert "extra             share 25.0 %" in summary_lines(result)
    assert "extra share" in render_html(result)
    assert compare(doc, doc)["headline"]["extra.share"] == {"a": 0.25, "b": 0.25, "delta": 0.0}
    limits = parse_fail_under(["extra.share=0.5"])
    assert (
        check_fail_under(headline.all_figures(result), limits)
        == "fail-under: extra.share 0.2500 < 0.5000"
    )
    assert _figures_from_dict(doc)["extra.share"] == 0.25


@pytest.mark.usefixtures("extra_figure")
def test_a_result_without_the_figure_reads_as_none() -> None:
    # A baseline made before the figure was added: compare and the gate see None.
    old = {"mean_field_score": 1.0, "decision_accuracy": 1.0, "fields": {}, "items": {}}
    assert headline.from_json(old)["extra.share"] is None
