"""How one predicted value is compared with one gold value (RECORD.md's rules).

The three kinds of field (see :mod:`.scoring` for which field is which):
exact scalars, sets of strings (set F1) and ``diagnoses`` (set F1 with
word-set Jaccard >= 0.5 matching).  Normalisation: whitespace collapsed,
line-break hyphenation undone, case-folded; dates as ISO; enums by value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import Enum
from typing import Any

from ..normalize import clean_string
from ..textsets import diagnosis_matches

EXACT = "exact"
SET_F1 = "set_f1"
DIAGNOSES = "jaccard_f1"


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


def _dedupe(values: Iterable[Any]) -> list[str]:
    seen: dict[str, str] = {}
    for v in values or ():
        s = clean_string(str(v))
        if s and s.casefold() not in seen:
            seen[s.casefold()] = s
    return list(seen.values())


def compare_values(kind: str, gold: Any, predicted: Any) -> tuple[float, int, int, int]:
    """(score, tp, fp, fn) of one predicted value against one gold value."""
    if kind == EXACT:
        return (1.0 if norm_exact(gold) == norm_exact(predicted) else 0.0), 0, 0, 0
    if kind == SET_F1:
        tp, fp, fn = set_counts(norm_set(gold), norm_set(predicted))
        return f1_from_counts(tp, fp, fn), tp, fp, fn
    g, p = _dedupe(gold or []), _dedupe(predicted or [])
    tp = len(diagnosis_matches(g, p))
    fp, fn = len(p) - tp, len(g) - tp
    return f1_from_counts(tp, fp, fn), tp, fp, fn
