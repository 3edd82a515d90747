"""The estimated probability that each value of a record is wrong.

Every value is described by general signals only — its field, how its reader
was sure of it (the evidence's certainty), who read it, whether it is grounded
in the letter text, whether it has its field's shape (:mod:`.shapes`), how
many other readings its text admits (``Evidence.alternatives``), whether it is
empty, and how the letter's text was obtained — never by the letter's
words. A :class:`ConfidenceModel` maps those signals to an error rate fitted on
hand-labelled letters (``llm_extract/calibration.json``, written by
``scripts/fit_confidence.py`` from ``llm-extract eval`` results, and evaluated
on letters that were left out of the fit: :mod:`.evaluation.calibration`).

The table backs off from the most specific description to the field alone and
to all values, each level smoothed towards the one above (a Beta prior of
weight :data:`PRIOR_WEIGHT`), so a combination seen a few times in the labelled
letters does not claim a rate it has not earned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from .fields import item_fields, letter_fields
from .models import Record
from .shapes import ShapeDoubt, shape_doubts

PRIOR_WEIGHT = 4.0
_ITEM_PREFIX = re.compile(r"^items\[\d+\]\.")

Key = tuple[str, ...]


@dataclass(frozen=True)
class ValueSignals:
    """What is known about one value without knowing the right answer."""

    path: str
    field: str  # the path without its item index: "quantity", "diagnoses"
    certainty: str  # exact / heuristic / undecided / none (no evidence)
    rule: str  # the reading's rule id ("" without evidence)
    reader: str  # rules / llm / both / person / none
    grounded: bool
    shaped: bool  # has its field's shape
    empty: bool
    source: str  # ocr, or text (a text layer or a text file)
    size: str  # how many entries a list holds: "0", "1", "2-3", "4+"; "" for a scalar
    # How many other readings the value's text admits: "0", "1", "2+"; "" for
    # a field whose reader does not count them.
    alternatives: str = ""

    def levels(self) -> list[Key]:
        """From the most general description to the most specific.

        The alternatives stand beside the certainty: a list the splitter was
        sure of and one whose text reads two ways differ most there."""
        read = (self.field, self.certainty, self.alternatives, self.rule)
        kept = (*read, self.reader, str(self.empty), self.size)
        return [
            (),
            (self.field,),
            read[:3],
            read,
            kept,
            (*kept, str(self.grounded), str(self.shaped), self.source),
        ]


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == ""


def _size(value: Any) -> str:
    if not isinstance(value, list):
        return ""
    n = len(value)
    return str(n) if n < 2 else "2-3" if n < 4 else "4+"


# The fields whose reader counts the other readings of its text.
COUNTS_ALTERNATIVES = frozenset({"diagnoses"})


def _alternatives(name: str, n: int) -> str:
    if name not in COUNTS_ALTERNATIVES:
        return ""
    return str(n) if n < 2 else "2+"


def _value(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if obj is None:
            return None
        obj = getattr(obj, part)
    return obj


def signals(record: Record, doubts: list[ShapeDoubt] | None = None) -> Iterator[ValueSignals]:
    """The signals of every RECORD.md value of ``record`` (letter fields, then items).

    ``doubts``: the record's shape doubts, when the caller has them already."""
    evidence = {e.field: e for e in record.evidence}
    ill = {d.path for d in (shape_doubts(record) if doubts is None else doubts)}
    # Whether the text was read by OCR, not which extractor gave a text layer:
    # the routes that read a text layer give the same words.
    prov = record.provenance
    source = (
        "ocr"
        if prov is not None and (prov.ocr is not None or prov.text_source == "ocr")
        else "text"
    )

    def one(path: str, name: str, value: Any) -> ValueSignals:
        ev = evidence.get(path)
        return ValueSignals(
            path=path,
            field=name,
            certainty=ev.certainty if ev else "none",
            rule=(ev.rule or "") if ev else "",
            reader=ev.reader if ev else "none",
            grounded=bool(ev and ev.grounded),
            shaped=not any(p == path or p.startswith(path + ".") for p in ill),
            empty=_empty(value),
            source=source,
            size=_size(value),
            alternatives=_alternatives(name, ev.alternatives if ev else 0),
        )

    for name in letter_fields():
        yield one(name, name, _value(record, name))
    for i, item in enumerate(record.items):
        for name in item_fields():
            yield one(f"items[{i}].{name}", name, _value(item, name))


def field_of(path: str) -> str:
    return _ITEM_PREFIX.sub("", path)


@dataclass
class ConfidenceModel:
    """Error counts per description level, and the rates they imply."""

    counts: dict[Key, list[float]] = field(default_factory=dict)  # key -> [wrong, seen]
    prior_weight: float = PRIOR_WEIGHT

    @classmethod
    def fit(cls, examples: Iterable[tuple[ValueSignals, bool]]) -> ConfidenceModel:
        model = cls()
        for sig, wrong in examples:
            for key in sig.levels():
                c = model.counts.setdefault(key, [0.0, 0.0])
                c[0] += wrong
                c[1] += 1
        return model

    def p_wrong(self, sig: ValueSignals) -> float:
        """The smoothed error rate of values described as ``sig`` is."""
        wrong, seen = self.counts.get((), [0.0, 0.0])
        p = (wrong + 0.5) / (seen + 1.0)  # Jeffreys estimate of the overall rate
        for key in sig.levels()[1:]:
            wrong, seen = self.counts.get(key, [0.0, 0.0])
            p = (wrong + self.prior_weight * p) / (seen + self.prior_weight)
        return p

    def to_json(self) -> dict[str, Any]:
        return {
            "prior_weight": self.prior_weight,
            "counts": [[list(k), c] for k, c in sorted(self.counts.items())],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConfidenceModel:
        return cls(
            counts={tuple(k): list(c) for k, c in data["counts"]},
            prior_weight=float(data["prior_weight"]),
        )


@dataclass(frozen=True)
class Calibration:
    """A fitted model, the flag threshold chosen with it, and what it was fitted on."""

    model: ConfidenceModel
    threshold: float
    fitted_on: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "fitted_on": self.fitted_on,
            "model": self.model.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        return cls(
            model=ConfidenceModel.from_json(data["model"]),
            threshold=float(data["threshold"]),
            fitted_on=dict(data.get("fitted_on") or {}),
        )


CALIBRATION_FILE = "calibration.json"


def load_calibration() -> Calibration | None:
    """The packaged calibration, or None when the package carries none."""
    try:
        text = resources.files("llm_extract").joinpath(CALIBRATION_FILE).read_text("utf-8")
    except FileNotFoundError:
        return None
    return Calibration.from_json(json.loads(text))


def p_wrong(
    record: Record, model: ConfidenceModel, doubts: list[ShapeDoubt] | None = None
) -> dict[str, float]:
    """Path -> estimated probability that the value is wrong."""
    return {sig.path: model.p_wrong(sig) for sig in signals(record, doubts)}
