"""Score predicted records against gold records, per RECORD.md's scoring rules.

The rules RECORD.md states, and the details it leaves open, decided here (and
in docs/eval.md):

* **Which fields.**  Every letter field and every item field of RECORD.md,
  nested ones as dotted names (``reviewer.specialties``, ``patient.age``,
  ``medication.name``, ``guideline_sources.maximus``): 14 letter fields and
  17 item fields, see :data:`FIELDS`.  ``letter_id`` is the key that pairs a
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
  is the ``decision`` field's score, reported on its own as well.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..models import Item, Record
from ..normalize import clean_string
from .align import Alignment, align_requests, hungarian_max, words
from .gold import GoldRecord

EXACT = "exact"
SET_F1 = "set_f1"
DIAGNOSES = "jaccard_f1"
DIAGNOSIS_MIN_JACCARD = 0.5

OUTPUT_FORMAT = "llm-extract-eval/1"


@dataclass(frozen=True)
class FieldSpec:
    name: str  # dotted, as in RECORD.md
    level: str  # "letter" | "item"
    kind: str  # EXACT | SET_F1 | DIAGNOSES

    def get(self, obj: Record | Item | None) -> Any:
        value: Any = obj
        for part in self.name.split("."):
            if value is None:
                return None
            value = getattr(value, part)
        return value


LETTER_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("case_number", "letter", EXACT),
    FieldSpec("date_assigned", "letter", EXACT),
    FieldSpec("decision_date", "letter", EXACT),
    FieldSpec("ur_denial_date", "letter", EXACT),
    FieldSpec("application_received", "letter", EXACT),
    FieldSpec("priority", "letter", EXACT),
    FieldSpec("date_of_injury", "letter", EXACT),
    FieldSpec("reviewer.specialties", "letter", SET_F1),
    FieldSpec("reviewer.subspecialties", "letter", SET_F1),
    FieldSpec("reviewer.licensure_states", "letter", SET_F1),
    FieldSpec("patient.age", "letter", EXACT),
    FieldSpec("patient.sex", "letter", EXACT),
    FieldSpec("patient.occupation", "letter", EXACT),
    FieldSpec("diagnoses", "letter", DIAGNOSES),
)
ITEM_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("request", "item", EXACT),
    FieldSpec("original_request", "item", EXACT),
    FieldSpec("decision", "item", EXACT),
    FieldSpec("category", "item", EXACT),
    FieldSpec("quantity", "item", EXACT),
    FieldSpec("frequency_per_week", "item", EXACT),
    FieldSpec("duration_weeks", "item", EXACT),
    FieldSpec("body_region", "item", EXACT),
    FieldSpec("retrospective", "item", EXACT),
    FieldSpec("date_of_service", "item", EXACT),
    FieldSpec("cpt_codes", "item", SET_F1),
    FieldSpec("medication.name", "item", EXACT),
    FieldSpec("medication.strength", "item", EXACT),
    FieldSpec("medication.days_supply", "item", EXACT),
    FieldSpec("guideline_sources.claims_administrator", "item", SET_F1),
    FieldSpec("guideline_sources.maximus", "item", SET_F1),
    FieldSpec("maximus_guideline", "item", EXACT),
)
FIELDS: tuple[FieldSpec, ...] = LETTER_FIELDS + ITEM_FIELDS
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)


# --- values ------------------------------------------------------------------
def jsonable(value: Any) -> Any:
    """A value as it appears in JSON output (enums as strings, dates ISO)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def norm_exact(value: Any) -> Any:
    """The comparable form of a scalar: cleaned, case-folded string; ISO date; enum value."""
    if value is None:
        return None
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        cleaned = clean_string(value).casefold()
        return cleaned or None
    return value


def norm_set(values: Iterable[Any] | None) -> set[str]:
    out: set[str] = set()
    for v in values or ():
        if isinstance(v, Enum):
            v = v.value
        s = clean_string(str(v)).casefold()
        if s:
            out.add(s)
    return out


def is_present(value: Any) -> bool:
    """Gold states a value (not null, not an empty list)."""
    if isinstance(value, list | tuple | set):
        return len(value) > 0
    return value is not None


def f1_from_counts(tp: int, fp: int, fn: int) -> float:
    """Instance F1; nothing on either side (both empty) is a perfect 1.0."""
    if tp == fp == fn == 0:
        return 1.0
    return 2 * tp / (2 * tp + fp + fn)


def set_counts(gold: set[str], predicted: set[str]) -> tuple[int, int, int]:
    tp = len(gold & predicted)
    return tp, len(predicted - gold), len(gold - predicted)


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def diagnosis_matches(
    gold: Sequence[str], predicted: Sequence[str]
) -> list[tuple[int, int, float]]:
    """One-to-one matches (gold index, predicted index, Jaccard), as many as possible.

    Jaccard >= 0.5 on word sets makes a pair eligible; the assignment maximises
    the number of matched pairs first (weight 1 each) and, among those, the
    total Jaccard (a bonus too small to trade away a pair).
    """
    gw = [words(g) for g in gold]
    pw = [words(p) for p in predicted]
    if not gw or not pw:
        return []
    eps = 1.0 / (min(len(gw), len(pw)) + 1)
    sims = [[jaccard(a, b) if a and b else 0.0 for b in pw] for a in gw]
    weights = [[1.0 + eps * s if s >= DIAGNOSIS_MIN_JACCARD else 0.0 for s in row] for row in sims]
    return [
        (i, j, round(sims[i][j], 4))
        for i, j in hungarian_max(weights)
        if sims[i][j] >= DIAGNOSIS_MIN_JACCARD
    ]


def _dedupe(values: Iterable[Any]) -> list[str]:
    seen: dict[str, str] = {}
    for v in values or ():
        s = clean_string(str(v))
        if s and s.casefold() not in seen:
            seen[s.casefold()] = s
    return list(seen.values())


@dataclass(frozen=True)
class Outcome:
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
    if spec.kind == EXACT:
        return (1.0 if norm_exact(gold) == norm_exact(predicted) else 0.0), 0, 0, 0
    if spec.kind == SET_F1:
        tp, fp, fn = set_counts(norm_set(gold), norm_set(predicted))
        return f1_from_counts(tp, fp, fn), tp, fp, fn
    g, p = _dedupe(gold or []), _dedupe(predicted or [])
    tp = len(diagnosis_matches(g, p))
    fp, fn = len(p) - tp, len(g) - tp
    return f1_from_counts(tp, fp, fn), tp, fp, fn


def _missed(spec: FieldSpec, gold: Any, item: int) -> Outcome:
    fn = len(norm_set(gold)) if spec.kind != EXACT else 0
    return Outcome(spec.name, 0.0, jsonable(gold), None, item=item, fn=fn, missing_item=True)


# --- one letter ----------------------------------------------------------------
@dataclass
class Prediction:
    """What a backend (or a predictions file) produced for one gold letter.

    ``record`` is None when the letter failed (``error`` says why); it is then
    scored as an empty prediction (``Record(letter_id=...)``), as RECORD.md has
    no notion of "no answer".  ``seconds``: wall-clock seconds measured by the
    runner (else the record's ``provenance.usage.seconds``).  ``text``: the
    letter text, for the HTML drill-down.
    """

    letter_id: str
    record: Record | None = None
    error: str | None = None
    error_type: str | None = None
    seconds: float | None = None
    text: str | None = None

    @property
    def usage_seconds(self) -> float | None:
        if self.seconds is not None:
            return self.seconds
        if self.record is not None and self.record.provenance is not None:
            s = self.record.provenance.usage.seconds
            return s if s > 0 else None
        return None

    def tokens(self) -> tuple[int, int]:
        if self.record is None or self.record.provenance is None:
            return 0, 0
        u = self.record.provenance.usage
        return u.prompt_tokens, u.completion_tokens


@dataclass
class LetterResult:
    letter_id: str
    split: str
    gold: Record
    predicted: Record
    prediction: Prediction
    alignment: Alignment
    outcomes: list[Outcome]

    @property
    def error(self) -> str | None:
        return self.prediction.error

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

    def wrong(self) -> list[Outcome]:
        """Wrong instances, excluding fields of wholly missed items (listed as missed)."""
        return [o for o in self.outcomes if not o.correct and not o.missing_item]


def score_letter(gold: GoldRecord, prediction: Prediction) -> LetterResult:
    g = gold.record
    p = prediction.record if prediction.record is not None else Record(letter_id=g.letter_id)
    outcomes: list[Outcome] = []
    for spec in LETTER_FIELDS:
        gv, pv = spec.get(g), spec.get(p)
        score, tp, fp, fn = score_value(spec, gv, pv)
        outcomes.append(Outcome(spec.name, score, jsonable(gv), jsonable(pv), tp=tp, fp=fp, fn=fn))
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
                Outcome(spec.name, score, jsonable(gv), jsonable(pv), gi, pj, tp=tp, fp=fp, fn=fn)
            )
    return LetterResult(g.letter_id, gold.split, g, p, prediction, alignment, outcomes)


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

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "level": self.level,
            "kind": self.kind,
            "score": _r(self.score),
            "n": self.n,
            "correct": self.correct,
            "n_gold_values": self.n_gold_values,
            "score_on_gold_values": _r(self.score_on_gold_values),
        }
        if self.kind != EXACT:
            d.update(
                tp=self.tp,
                fp=self.fp,
                fn=self.fn,
                precision=_r(self.precision),
                recall=_r(self.recall),
                micro_f1=_r(self.micro_f1),
            )
        return d


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def aggregate_fields(letters: Sequence[LetterResult]) -> dict[str, FieldScore]:
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": _r(self.precision),
            "recall": _r(self.recall),
            "f1": _r(self.f1),
            "gold": self.gold,
            "predicted": self.predicted,
            "matched": self.matched,
            "missed": self.gold - self.matched,
            "extra": self.predicted - self.matched,
        }


@dataclass
class EvalResult:
    letters: list[LetterResult]
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
    def errors(self) -> list[LetterResult]:
        return [lr for lr in self.letters if lr.error is not None]

    def field_value(self, name: str) -> float | None:
        """A headline or field figure by name (for --fail-under)."""
        headline = {
            "mean_field_score": self.mean_field_score,
            "decision_accuracy": self.decision_accuracy,
            "items.precision": self.items.precision,
            "items.recall": self.items.recall,
            "items.f1": self.items.f1,
        }
        if name in headline:
            return headline[name]
        return self.fields[name].score

    def cost(self) -> dict[str, Any]:
        secs = [s for lr in self.letters if (s := lr.prediction.usage_seconds) is not None]
        tokens = [lr.prediction.tokens() for lr in self.letters]
        n = len(self.letters)
        prompt = sum(t[0] for t in tokens)
        completion = sum(t[1] for t in tokens)
        return {
            "letters": n,
            "letters_timed": len(secs),
            "seconds_total": _r(sum(secs), 3),
            "seconds_per_letter": _r(statistics.fmean(secs), 3) if secs else None,
            "seconds_median": _r(statistics.median(secs), 3) if secs else None,
            "seconds_max": _r(max(secs), 3) if secs else None,
            "prompt_tokens_total": prompt,
            "completion_tokens_total": completion,
            "prompt_tokens_per_letter": _r(prompt / n, 1) if n else None,
            "completion_tokens_per_letter": _r(completion / n, 1) if n else None,
            "tokens_per_letter": _r((prompt + completion) / n, 1) if n else None,
        }

    def by_split(self) -> dict[str, EvalResult]:
        """The same figures per gold split (``dev``, ``test``), when there are several."""
        names = sorted({lr.split for lr in self.letters})
        if len(names) < 2:
            return {}
        return {name: summarise([lr for lr in self.letters if lr.split == name]) for name in names}

    def headline(self) -> dict[str, Any]:
        return {
            "n_letters": len(self.letters),
            "mean_field_score": _r(self.mean_field_score),
            "decision_accuracy": _r(self.decision_accuracy),
            "items": {"precision": _r(self.items.precision), "recall": _r(self.items.recall)},
            "fields": {name: _r(fs.score) for name, fs in self.fields.items()},
        }

    def to_dict(self, *, letters: bool = True) -> dict[str, Any]:
        """The stable ``--json`` document (see docs/eval.md for every key)."""
        d: dict[str, Any] = {
            "format": OUTPUT_FORMAT,
            **self.meta,
            "n_letters": len(self.letters),
            "mean_field_score": _r(self.mean_field_score),
            "decision_accuracy": _r(self.decision_accuracy),
            "fields": {name: _r(fs.score) for name, fs in self.fields.items()},
            "field_details": {name: fs.to_dict() for name, fs in self.fields.items()},
            "items": self.items.to_dict(),
            "cost": self.cost(),
            "errors": [
                {"letter_id": lr.letter_id, "error": lr.prediction.error_type, "message": lr.error}
                for lr in self.errors
            ],
            "splits": {name: sub.headline() for name, sub in self.by_split().items()},
        }
        if letters:
            d["letters"] = [letter_to_dict(lr) for lr in self.letters]
        return d


def letter_to_dict(lr: LetterResult) -> dict[str, Any]:
    pred = lr.prediction
    prompt, completion = pred.tokens()
    g_items, p_items = lr.gold.items, lr.predicted.items
    return {
        "letter_id": lr.letter_id,
        "split": lr.split,
        "score": _r(lr.score),
        "error": pred.error,
        "seconds": _r(pred.usage_seconds, 3),
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
                "score": _r(o.score),
            }
            for o in lr.wrong()
        ],
    }


def summarise(letters: list[LetterResult], meta: dict[str, Any] | None = None) -> EvalResult:
    """Aggregate scored letters into field, item and headline figures."""
    items = ItemScore()
    for lr in letters:
        items.gold += len(lr.gold.items)
        items.predicted += len(lr.predicted.items)
        items.matched += len(lr.alignment.pairs)
    return EvalResult(letters, aggregate_fields(letters), items, dict(meta or {}))


def evaluate(
    gold: Sequence[GoldRecord],
    predictions: dict[str, Prediction],
    *,
    meta: dict[str, Any] | None = None,
) -> EvalResult:
    """Score every gold letter; a gold letter without a prediction is an error."""
    letters: list[LetterResult] = []
    for g in gold:
        pred = predictions.get(g.letter_id) or Prediction(
            g.letter_id, error="no prediction for this letter", error_type="MissingPrediction"
        )
        letters.append(score_letter(g, pred))
    return summarise(letters, meta)


# Names accepted by --fail-under besides the field names.
HEADLINE_NAMES: tuple[str, ...] = (
    "mean_field_score",
    "decision_accuracy",
    "items.precision",
    "items.recall",
    "items.f1",
)
