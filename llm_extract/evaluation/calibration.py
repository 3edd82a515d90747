"""Fitting the per-value confidence and measuring it where nothing was fitted.

From an eval result (a backend's records scored against gold), every scored
value becomes an example: its :class:`~llm_extract.confidence.ValueSignals` and
whether it was wrong. :func:`leave_one_split_out` fits the
:class:`~llm_extract.confidence.ConfidenceModel` on all gold splits but one,
chooses the flag threshold on those same splits (each scored by a model that
left it out, so the choice sees honest estimates), and applies both to the split
left out. The figures it reports are therefore all on letters whose labels took
no part in the fit:

- the calibration table: per bin of predicted error probability, the mean
  prediction and the observed error rate;
- the review signal per split: silent letters (a wrong value, no flag), letter
  recall and flag rate, the share of wrong values flagged on their own field,
  the share of all values flagged.

A letter counts as flagged when its record has a review flag or any of its
values reaches the threshold; a wrong value counts as flagged on its own field
when its own estimate reaches the threshold or a review flag names its path.
The packaged confidence's own flags (``low_confidence``) are left out: that
table was fitted on every labelled split.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from ..confidence import ConfidenceModel, ValueSignals, signals
from ..models import Record
from ..review_flags import ReviewCode, flagged_paths
from .scoring import EvalResult

BINS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0000001)
VALUE_BUDGET = 0.05  # at most this share of all values flagged
LETTER_BUDGET = 0.25  # at most this share of letters flagged


@dataclass(frozen=True)
class Example:
    split: str
    letter_id: str
    signals: ValueSignals
    wrong: bool
    already_flagged: bool  # the record flags this value's own path
    letter_flagged: bool  # the record needs review (any reason)


def _own_flags(record: Record) -> tuple[set[str], bool]:
    """The paths the record flags, and whether it flags anything, leaving out
    the packaged confidence's own flags (fitted on every labelled split, so
    counting them here would score a split with a model that saw it)."""
    flags = [f for f in record.review_flags if f.code is not ReviewCode.LOW_CONFIDENCE]
    return set(flagged_paths(flags)), bool(flags)


def examples(result: EvalResult) -> list[Example]:
    """One example per scored value of every letter that produced a record."""
    out: list[Example] = []
    for lr in result.letters:
        if lr.error is not None:
            continue
        rec = lr.predicted
        by_path = {s.path: s for s in signals(rec)}
        own, any_flag = _own_flags(rec)
        for o in lr.outcomes:
            if o.missing_item:
                continue
            path = o.field if o.pred_item is None else f"items[{o.pred_item}].{o.field}"
            sig = by_path.get(path)
            if sig is None:
                continue
            out.append(
                Example(
                    split=lr.split,
                    letter_id=lr.letter_id,
                    signals=sig,
                    wrong=not o.correct,
                    already_flagged=path in own,
                    letter_flagged=any_flag,
                )
            )
    return out


@dataclass
class SplitFigures:
    split: str
    letters: int = 0
    wrong_letters: int = 0
    flagged_letters: int = 0
    silent_letters: int = 0
    values: int = 0
    flagged_values: int = 0
    wrong_values: int = 0
    wrong_flagged_own: int = 0
    threshold: float = 1.0

    def add(self, other: SplitFigures) -> None:
        for name in (
            "letters",
            "wrong_letters",
            "flagged_letters",
            "silent_letters",
            "values",
            "flagged_values",
            "wrong_values",
            "wrong_flagged_own",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict[str, Any]:
        def share(a: int, b: int) -> float | None:
            return round(a / b, 4) if b else None

        return {
            "split": self.split,
            "threshold": round(self.threshold, 4),
            "letters": self.letters,
            "silent_letters": self.silent_letters,
            "silent_share": share(self.silent_letters, self.letters),
            "flagged_letters": self.flagged_letters,
            "flag_rate": share(self.flagged_letters, self.letters),
            "wrong_letters": self.wrong_letters,
            "letter_recall": share(self.wrong_letters - self.silent_letters, self.wrong_letters),
            "values": self.values,
            "flagged_values": self.flagged_values,
            "value_flag_share": share(self.flagged_values, self.values),
            "wrong_values": self.wrong_values,
            "wrong_flagged_own": self.wrong_flagged_own,
            "own_field_recall": share(self.wrong_flagged_own, self.wrong_values),
        }


def figures(split: str, scored: Sequence[tuple[Example, float]], threshold: float) -> SplitFigures:
    """The review signal of ``scored`` (example, estimate) when flagging at ``threshold``."""
    fig = SplitFigures(split=split, threshold=threshold)
    letters: dict[str, list[tuple[Example, float]]] = {}
    for ex, p in scored:
        letters.setdefault(ex.letter_id, []).append((ex, p))
        fig.values += 1
        flagged = p >= threshold or ex.already_flagged
        fig.flagged_values += flagged
        if ex.wrong:
            fig.wrong_values += 1
            fig.wrong_flagged_own += flagged
    for rows in letters.values():
        wrong = any(ex.wrong for ex, _ in rows)
        flagged = any(ex.letter_flagged or ex.already_flagged or p >= threshold for ex, p in rows)
        fig.letters += 1
        fig.wrong_letters += wrong
        fig.flagged_letters += flagged
        fig.silent_letters += wrong and not flagged
    return fig


def choose_threshold(scored: Sequence[tuple[Example, float]]) -> float:
    """The lowest threshold within both flag budgets: most wrong values flagged."""
    candidates = sorted({p for _, p in scored}, reverse=True)
    best = 1.0000001
    for t in candidates:
        fig = figures("", scored, t)
        if fig.values and fig.flagged_values / fig.values > VALUE_BUDGET:
            break
        if fig.letters and fig.flagged_letters / fig.letters > LETTER_BUDGET:
            break
        best = t
    return best


def _fit(rows: Iterable[Example]) -> ConfidenceModel:
    return ConfidenceModel.fit((ex.signals, ex.wrong) for ex in rows)


def held_out_estimates(rows: Sequence[Example]) -> list[tuple[Example, float]]:
    """Every example scored by a model fitted without its own split."""
    out: list[tuple[Example, float]] = []
    for split in sorted({ex.split for ex in rows}):
        model = _fit(ex for ex in rows if ex.split != split)
        out.extend((ex, model.p_wrong(ex.signals)) for ex in rows if ex.split == split)
    return out


@dataclass
class CalibrationReport:
    splits: list[SplitFigures] = field(default_factory=list)
    total: SplitFigures = field(default_factory=lambda: SplitFigures(split="all"))
    bins: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "splits": [s.to_dict() for s in self.splits],
            "total": self.total.to_dict(),
            "calibration": self.bins,
        }


def calibration_bins(scored: Sequence[tuple[Example, float]]) -> list[dict[str, Any]]:
    out = []
    for lo, hi in itertools.pairwise(BINS):
        inside = [(ex, p) for ex, p in scored if lo <= p < hi]
        if not inside:
            continue
        out.append(
            {
                "bin": f"[{lo:.3f}, {min(hi, 1.0):.3f})",
                "values": len(inside),
                "predicted": round(sum(p for _, p in inside) / len(inside), 4),
                "observed": round(sum(ex.wrong for ex, _ in inside) / len(inside), 4),
                "wrong": sum(ex.wrong for ex, _ in inside),
            }
        )
    return out


def leave_one_split_out(rows: Sequence[Example]) -> CalibrationReport:
    """Fit on all splits but one, choose the threshold there, measure on the one."""
    report = CalibrationReport()
    pooled: list[tuple[Example, float]] = []
    for split in sorted({ex.split for ex in rows}):
        train = [ex for ex in rows if ex.split != split]
        threshold = choose_threshold(held_out_estimates(train))
        model = _fit(train)
        scored = [(ex, model.p_wrong(ex.signals)) for ex in rows if ex.split == split]
        fig = figures(split, scored, threshold)
        report.splits.append(fig)
        report.total.add(fig)
        pooled.extend(scored)
    report.bins = calibration_bins(pooled)
    return report


def fit_all(rows: Sequence[Example]) -> tuple[ConfidenceModel, float]:
    """The model fitted on every labelled value, and its threshold."""
    return _fit(rows), choose_threshold(held_out_estimates(rows))


def print_calibration(report: dict[str, Any], console: Console) -> None:
    """The leave-one-split-out figures as two tables (rich console)."""
    t = Table(title="review signal, each split scored by a model fitted on the others")
    cols = (
        "split",
        "threshold",
        "letters",
        "silent_letters",
        "flagged_letters",
        "values",
        "flagged_values",
        "wrong_values",
        "wrong_flagged_own",
    )
    for name in cols:
        t.add_column(name.replace("_", " "), justify="right")
    for row in [*report["splits"], report["total"]]:
        t.add_row(*(str(row[name]) for name in cols))
    console.print(t)
    bins = Table(title="calibration: predicted vs observed error rate per bin")
    for col in ("bin", "values", "predicted", "observed", "wrong"):
        bins.add_column(col, justify="right")
    for b in report["calibration"]:
        bins.add_row(*(str(b[k]) for k in ("bin", "values", "predicted", "observed", "wrong")))
    console.print(bins)
