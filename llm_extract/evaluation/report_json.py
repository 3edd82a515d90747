"""The ``llm-extract eval --json`` document (every key: docs/eval.md).

Beside :mod:`.report_text` and :mod:`.report_html`: the scorer computes, the
three reports render.  The headline figures are written at their dotted
paths from :data:`.headline.HEADLINES` (``items.f1`` -> ``["items"]["f1"]``),
so a figure added there appears here without a change.
"""

from __future__ import annotations

from typing import Any

from . import headline, review_signal
from .scoring import EXACT, EvalResult, FieldScore, ItemScore, ScoredLetter, rounded

OUTPUT_FORMAT = "llm-extract-eval/1"


def field_to_dict(fs: FieldScore) -> dict[str, Any]:
    d: dict[str, Any] = {
        "level": fs.level,
        "kind": fs.kind,
        "score": rounded(fs.score),
        "n": fs.n,
        "correct": fs.correct,
        "n_gold_values": fs.n_gold_values,
        "score_on_gold_values": rounded(fs.score_on_gold_values),
    }
    if fs.kind != EXACT:
        d.update(
            tp=fs.tp,
            fp=fs.fp,
            fn=fs.fn,
            precision=rounded(fs.precision),
            recall=rounded(fs.recall),
            micro_f1=rounded(fs.micro_f1),
        )
    return d


def items_to_dict(it: ItemScore) -> dict[str, Any]:
    """The item counts; precision / recall / f1 come from the headline table."""
    return {
        "gold": it.gold,
        "predicted": it.predicted,
        "matched": it.matched,
        "missed": it.gold - it.matched,
        "extra": it.predicted - it.matched,
    }


def _headline_values(result: EvalResult) -> dict[str, float | None]:
    return {name: rounded(v) for name, v in headline.figures(result).items()}


def _field_scores(result: EvalResult) -> dict[str, float | None]:
    return {name: rounded(fs.score) for name, fs in result.fields.items()}


def split_to_dict(result: EvalResult) -> dict[str, Any]:
    """One split's figures: letters, headline figures, field scores."""
    d: dict[str, Any] = {"n_letters": len(result.letters)}
    headline.put(d, _headline_values(result))
    d["fields"] = _field_scores(result)
    return d


def result_to_dict(result: EvalResult, *, letters: bool = True) -> dict[str, Any]:
    """The stable ``--json`` document of ``result``."""
    d: dict[str, Any] = {"format": OUTPUT_FORMAT, **result.meta, "n_letters": len(result.letters)}
    headline.put(d, _headline_values(result))
    d.update(
        fields=_field_scores(result),
        field_details={name: field_to_dict(fs) for name, fs in result.fields.items()},
    )
    headline.put(d, {f"items.{k}": v for k, v in items_to_dict(result.items).items()})
    d.setdefault("review", {}).update(review_signal.of(result).to_dict())
    d.update(
        cost=result.cost(),
        errors=[
            {"letter_id": lr.letter_id, "error": lr.prediction.error_class, "message": lr.error}
            for lr in result.errors
        ],
        splits={name: split_to_dict(sub) for name, sub in result.by_split().items()},
    )
    if letters:
        d["letters"] = [letter_to_dict(lr) for lr in result.letters]
    return d


def letter_to_dict(lr: ScoredLetter) -> dict[str, Any]:
    pred = lr.prediction
    prompt, completion = pred.tokens()
    g_items, p_items = lr.gold.items, lr.predicted.items
    return {
        "letter_id": lr.letter_id,
        "split": lr.split,
        "score": rounded(lr.score),
        "error": pred.error_message,
        "seconds": rounded(pred.usage_seconds, 3),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "gold_items": len(g_items),
        "predicted_items": len(p_items),
        "matched_items": len(lr.alignment.pairs),
        "alignment": [
            {"gold": g, "predicted": p, "similarity": s} for g, p, s in lr.alignment.pairs
        ],
        "missed_items": [{"item": i, "request": g_items[i].request} for i in lr.alignment.missed],
        "extra_items": [
            {"predicted_item": j, "request": p_items[j].request} for j in lr.alignment.extra
        ],
        "wrong": [
            {
                "field": o.field,
                "item": o.item,
                "predicted_item": o.pred_item,
                "gold": o.gold,
                "predicted": o.predicted,
                "score": rounded(o.score),
            }
            for o in lr.wrong()
        ],
    }
