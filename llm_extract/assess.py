"""The checks every record gets, whatever backend made it: shapes and confidence.

Run by the one loop (:func:`llm_extract.loop.process_one`) on each record a
backend returns:

- a value without its field's shape (:mod:`.shapes`) is flagged on its own
  field (``ill_formed_value``);
- each value gets its estimated probability of being wrong (:mod:`.confidence`,
  from the packaged fitted table) in ``Record.p_wrong``, and a value whose
  estimate reaches the table's threshold is flagged on its own field
  (``low_confidence``).
"""

from __future__ import annotations

import functools

from .confidence import Calibration, load_calibration, p_wrong
from .models import Record
from .review_flags import ReviewCode
from .shapes import shape_doubts


@functools.cache
def _calibration() -> Calibration | None:
    return load_calibration()


def assess(record: Record, calibration: Calibration | None = None) -> Record:
    """Flag ill-formed and likely-wrong values of ``record`` on their own fields."""
    doubts = shape_doubts(record)
    for doubt in doubts:
        record.flag(ReviewCode.ILL_FORMED_VALUE, doubt.message, doubt.path)
    cal = calibration or _calibration()
    if cal is None:
        return record
    estimates = p_wrong(record, cal.model, doubts)
    record.p_wrong = {path: round(p, 4) for path, p in estimates.items()}
    for path, p in estimates.items():
        if p >= cal.threshold:
            record.flag(
                ReviewCode.LOW_CONFIDENCE,
                f"{path}: about {p:.0%} of values read like this one were wrong",
                path,
            )
    return record
