"""Score predicted records against gold records, per RECORD.md's scoring rules.

The rules RECORD.md states, and the details it leaves open, decided here (and
in docs/eval.md):

* **Which fields.**  Every letter field and every item field of RECORD.md,
  nested ones as dotted names (``reviewer.specialties``, ``patient.age``,
  ``medication.name``, ``guideline_sources.maximus``): 14 letter fields and
  17 item fields, see :data:`FIELDS`, derived from the models by
  :mod:`llm_extract.fields`.  ``letter_id`` is the key that pairs a
  prediction with its gold record, so it is not scored.
* **Exact fields** (strings, dates, ints, bools, enums): a match after
  RECORD.md's normalisation -- whitespace collapsed, line-break hyphenation
  undone -- and *case-insensitive* (case-folded): RECORD.md's own examples
  change case (``Hip pad`` -> ``hip``), list fields are case-folded, and no
  field's meaning depends on case.  Dates compare as dates, so ``10/18/16``
  equals ``2016-10-18``.  ``null`` vs ``null`` is a correct match: "the letter
  does not state it" is an answer, and getting it right is right.
* **List fields** (``reviewer.*``, ``cpt_codes``, ``guideline_sources.*``):
  set precision / recall / F1 on case-folded strings, per instance; both empty
  is F1 = 1.0 (the same rule as null vs null); one side empty is F1 = 0.
* **``diagnoses``**: the same, but a predicted diagnosis matches a gold one
  when their word sets (case-folded letters/digits, no stemming or stop
  words, as RECORD.md says "word sets") have Jaccard >= 0.5; matches are
  one-to-one and the matching is maximum (Hungarian), so the count of true
  positives does not depend on list order.
* **``medication``** (an object) is scored through its sub-fields
  ``medication.name``, ``medication.strength``, ``medication.days_supply``; a
  null medication has null sub-fields.  (``name`` is null exactly when the
  medication is, so presence is scored by ``medication.name``.)
* **A field's score** is the mean of its instance scores (1/0 for exact
  fields, F1 for lists) over the *gold* instances: every gold letter for a
  letter field, every gold item for an item field.  An unmatched gold item
  scores 0 on every item field (also where gold is null); an unmatched
  predicted item counts only against item precision.  Micro precision /
  recall / F1 over summed counts are reported beside it for list fields.
* **The headline** ``mean_field_score`` is the unweighted mean of the field
  scores (fields with no gold instance are left out); ``decision_accuracy``
  is the ``decision`` field's score, reported on its own as well.  The list
  of headline figures is :data:`llm_extract.evaluation.headline.HEADLINES`;
  the ``--json`` document is built by :mod:`.report_json`; how one value is
  compared with one gold value is :mod:`.values`.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..field_paths import get_path
from ..fields import SpecField, spec_fields
from ..loop import LetterResult, error_data
from ..models import Item, Record
from ..normalize import jsonable
from .align import Alignment, align_requests
from .gold import GoldRecord
from .values import DIAGNOSES, EXACT, SET_F1, compare_values, is_present, norm_set


@dataclass(frozen=True)
class FieldSpec:
    name: str  # dotted, as in RECORD.md
    level: str  # "letter" | "item"
    kind: str  # EXACT | SET_F1 | DIAGNOSES

    def get(self, obj: Record | Item | None) -> Any:
        return get_path(obj, self.name)


def _kind(f: SpecField) -> str:
    if f.path == "diagnoses":
        return DIAGNOSES
    return SET_F1 if f.is_list else EXACT


FIELDS: tuple[FieldSpec, ...] = tuple(FieldSpec(f.path, f.level, _kind(f)) for f in spec_fields())
LETTER_FIELDS: tuple[FieldSpec, ...] = tuple(f for f in FIELDS if f.level == "letter")
ITEM_FIELDS: tuple[FieldSpec, ...] = tuple(f for f in FIELDS if f.level == "item")
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)


@dataclass(frozen=True)
class InstanceScore:
    """One field on one gold instance (a letter, or one gold item of it)."""

    field: str
    score: float
    gold: Any
    predicted: Any
    item: int | None = None  # gold item index for item fields
    pred_item: int | None = None  # aligned predicted item index
    tp: int = 0
    fp: int = 0
    fn: int = 0
    missing_item: bool = False  # the gold item had no predicted counterpart

    @property
    def correct(self) -> bool:
        return self.score >= 1.0


def score_value(spec: FieldSpec, gold: Any, predicted: Any) -> tuple[float, int, int, int]:
    """(score, tp, fp, fn) of one predicted value against one gold value."""
    return compare_values(spec.kind, gold, predicted)


def _missed(spec: FieldSpec, gold: Any, item: int) -> InstanceScore:
    fn = len(norm_set(gold)) if spec.kind != EXACT else 0
    return InstanceScore(spec.name, 0.0, jsonable(gold), None, item=item, fn=fn, missing_item=True)


# --- one letter ----------------------------------------------------------------
@dataclass
class ScoredLetter:
    letter_id: str
    split: str
    gold: Record
    predicted: Record
    prediction: LetterResult  # what the backend (or a predictions file) gave
    alignment: Alignment
    outcomes: list[InstanceScore]

    @property
    def error(self) -> str | None:
        return self.prediction.error_message

    def field_scores(self) -> dict[str, float]:
        """Mean instance score per field within this letter (fields with instances)."""
        acc: dict[str, list[float]] = {}
        for o in self.outcomes:
            acc.setdefault(o.field, []).append(o.score)
        return {name: sum(v) / len(v) for name, v in acc.items()}

    @property
    def score(self) -> float:
        scores = self.field_scores()
        return sum(scores.values()) / len(scores) if scores else 1.0

    def wrong(self) -> list[InstanceScore]:
        """Wrong instances, excluding fields of wholly missed items (listed as missed)."""
        return [o for o in self.outcomes if not o.correct and not o.missing_item]


def score_letter(gold: GoldRecord, prediction: LetterResult) -> ScoredLetter:
    g = gold.record
    p = prediction.record if prediction.record is not None else Record(letter_id=g.letter_id)
    outcomes: list[InstanceScore] = []
    for spec in LETTER_FIELDS:
        gv, pv = spec.get(g), spec.get(p)
        score, tp, fp, fn = score_value(spec, gv, pv)
        outcomes.append(
            InstanceScore(spec.name, score, jsonable(gv), jsonable(pv), tp=tp, fp=fp, fn=fn)
        )
    alignment = align_requests([i.request for i in g.items], [i.request for i in p.items])
    for gi, gitem in enumerate(g.items):
        pj = alignment.pred_for(gi)
        for spec in ITEM_FIELDS:
            gv = spec.get(gitem)
            if pj is None:
                outcomes.append(_missed(spec, gv, gi))
                continue
            pv = spec.get(p.items[pj])
            score, tp, fp, fn = score_value(spec, gv, pv)
            outcomes.append(
                InstanceScore(
                    spec.name, score, jsonable(gv), jsonable(pv), gi, pj, tp=tp, fp=fp, fn=fn
                )
            )
    return ScoredLetter(g.letter_id, gold.split, g, p, prediction, alignment, outcomes)


# --- the whole set ------------------------------------------------------------
@dataclass
class FieldScore:
    name: str
    level: str
    kind: str
    n: int = 0  # gold instances
    correct: int = 0  # instances with a perfect score
    score: float | None = None  # mean instance score (accuracy, or mean F1 for lists)
    n_gold_values: int = 0  # instances where gold states a value
    score_on_gold_values: float | None = None
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def micro_f1(self) -> float | None:
        if self.tp + self.fp + self.fn == 0:
            return None
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn)


def aggregate_fields(letters: Sequence[ScoredLetter]) -> dict[str, FieldScore]:
    out = {s.name: FieldScore(s.name, s.level, s.kind) for s in FIELDS}
    sums: dict[str, float] = dict.fromkeys(out, 0.0)
    present_sums: dict[str, float] = dict.fromkeys(out, 0.0)
    for lr in letters:
        for o in lr.outcomes:
            fs = out[o.field]
            fs.n += 1
            fs.correct += o.correct
            sums[o.field] += o.score
            fs.tp += o.tp
            fs.fp += o.fp
            fs.fn += o.fn
            if is_present(o.gold):
                fs.n_gold_values += 1
                present_sums[o.field] += o.score
    for name, fs in out.items():
        if fs.n:
            fs.score = sums[name] / fs.n
        if fs.n_gold_values:
            fs.score_on_gold_values = present_sums[name] / fs.n_gold_values
    return out


def rounded(x: float | None, nd: int = 4) -> float | None:
    """``x`` rounded as the JSON output shows it (None stays None)."""
    return None if x is None else round(x, nd)


@dataclass
class ItemScore:
    gold: int = 0
    predicted: int = 0
    matched: int = 0

    @property
    def precision(self) -> float:
        if self.predicted == 0:
            return 1.0 if self.gold == 0 else 0.0
        return self.matched / self.predicted

    @property
    def recall(self) -> float:
        if self.gold == 0:
            return 1.0 if self.predicted == 0 else 0.0
        return self.matched / self.gold

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class EvalResult:
    letters: list[ScoredLetter]
    fields: dict[str, FieldScore]
    items: ItemScore
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_field_score(self) -> float | None:
        scores = [f.score for f in self.fields.values() if f.score is not None]
        return sum(scores) / len(scores) if scores else None

    @property
    def decision_accuracy(self) -> float | None:
        return self.fields["decision"].score

    @property
    def errors(self) -> list[ScoredLetter]:
        return [lr for lr in self.letters if lr.error is not None]

    def cost(self) -> dict[str, Any]:
        secs = [s for lr in self.letters if (s := lr.prediction.usage_seconds) is not None]
        tokens = [lr.prediction.tokens() for lr in self.letters]
        n = len(self.letters)
        prompt = sum(t[0] for t in tokens)
        completion = sum(t[1] for t in tokens)
        return {
            "letters": n,
            "letters_timed": len(secs),
            "seconds_total": rounded(sum(secs), 3),
            "seconds_per_letter": rounded(statistics.fmean(secs), 3) if secs else None,
            "seconds_median": rounded(statistics.median(secs), 3) if secs else None,
            "seconds_max": rounded(max(secs), 3) if secs else None,
            "prompt_tokens_total": prompt,
            "completion_tokens_total": completion,
            "prompt_tokens_per_letter": rounded(prompt / n, 1) if n else None,
            "completion_tokens_per_letter": rounded(completion / n, 1) if n else None,
            "tokens_per_letter": rounded((prompt + completion) / n, 1) if n else None,
        }

    def by_split(self) -> dict[str, EvalResult]:
        """The same figures per gold split (``dev``, ``test``), when there are several."""
        names = sorted({lr.split for lr in self.letters})
        if len(names) < 2:
            return {}
        return {name: summarise([lr for lr in self.letters if lr.split == name]) for name in names}


def summarise(letters: list[ScoredLetter], meta: dict[str, Any] | None = None) -> EvalResult:
    """Aggregate scored letters into field, item and headline figures."""
    items = ItemScore()
    for lr in letters:
        items.gold += len(lr.gold.items)
        items.predicted += len(lr.predicted.items)
        items.matched += len(lr.alignment.pairs)
    return EvalResult(letters, aggregate_fields(letters), items, dict(meta or {}))


def evaluate(
    gold: Sequence[GoldRecord],
    predictions: dict[str, LetterResult],
    *,
    meta: dict[str, Any] | None = None,
) -> EvalResult:
    """Score every gold letter; a gold letter without a prediction is an error."""
    letters: list[ScoredLetter] = []
    for g in gold:
        pred = predictions.get(g.letter_id) or LetterResult(
            source=g.letter_id,
            letter_id=g.letter_id,
            error=error_data("MissingPrediction", "no prediction for this letter", None),
        )
        letters.append(score_letter(g, pred))
    return summarise(letters, meta)
