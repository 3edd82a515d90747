"""``needs_review`` as a measured signal, and which reader's values were right.

Per eval run (one backend):

- ``flag_rate``: the share of scored letters flagged (``needs_review``);
- ``recall``: of the letters with at least one wrong field, the share flagged;
- ``precision``: of the flagged letters, the share with a wrong field;
- per field and reader (``rules``, ``llm``, ``both``, ``person``; ``none``
  when a record carries no evidence for it): how often that reader's value
  was kept and how often it was right.

A letter that failed (no record) is left out: it is an error, not a record a
person would review.  The headline figures ``review.flag_rate``,
``review.recall`` and ``review.precision`` come from here
(:mod:`.headline`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .scoring import EvalResult, InstanceScore, ScoredLetter


@dataclass
class ReaderCount:
    kept: int = 0
    right: int = 0

    @property
    def accuracy(self) -> float | None:
        return self.right / self.kept if self.kept else None


@dataclass
class ReviewSignal:
    letters: int = 0
    flagged: int = 0
    wrong: int = 0  # letters with at least one wrong field
    flagged_wrong: int = 0
    readers: dict[str, dict[str, ReaderCount]] = field(default_factory=dict)

    @property
    def flag_rate(self) -> float | None:
        return self.flagged / self.letters if self.letters else None

    @property
    def recall(self) -> float | None:
        return self.flagged_wrong / self.wrong if self.wrong else None

    @property
    def precision(self) -> float | None:
        return self.flagged_wrong / self.flagged if self.flagged else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "letters": self.letters,
            "flagged": self.flagged,
            "wrong": self.wrong,
            "flagged_wrong": self.flagged_wrong,
            "readers": {
                name: {
                    reader: {"kept": c.kept, "right": c.right, "accuracy": _r(c.accuracy)}
                    for reader, c in sorted(by.items())
                }
                for name, by in self.readers.items()
            },
        }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _path(o: InstanceScore) -> str:
    return o.field if o.pred_item is None else f"items[{o.pred_item}].{o.field}"


def _count(signal: ReviewSignal, lr: ScoredLetter) -> None:
    signal.letters += 1
    flagged = bool(lr.predicted.needs_review)
    wrong = bool(lr.wrong())
    signal.flagged += flagged
    signal.wrong += wrong
    signal.flagged_wrong += flagged and wrong
    evidence = {e.field: e.reader for e in lr.predicted.evidence}
    for o in lr.outcomes:
        if o.missing_item:
            continue
        reader = evidence.get(_path(o), "none")
        c = signal.readers.setdefault(o.field, {}).setdefault(reader, ReaderCount())
        c.kept += 1
        c.right += o.correct


def of(result: EvalResult) -> ReviewSignal:
    """The review signal of ``result``."""
    signal = ReviewSignal()
    for lr in result.letters:
        if lr.error is None:
            _count(signal, lr)
    return signal


def reader_lines(result: EvalResult) -> list[str]:
    """Per field: each reader's kept / right counts (fields the LLM or both touched only)."""
    out = []
    for name, by in of(result).readers.items():
        if set(by) <= {"rules", "none"}:
            continue
        parts = ", ".join(f"{r} {c.right}/{c.kept}" for r, c in sorted(by.items()))
        out.append(f"  {name:<40} right/kept: {parts}")
    return out
