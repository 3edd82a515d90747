"""Which reading of a doubted diagnosis list the model supports.

The parser flags structures of a diagnosis list that no splitting rule reads
for sure (:class:`llm_extract.rules.summary.Doubt`) and offers the other
reading of the whole list.  Both readings are cut from the letter, so both
are grounded; the model's own list is the tie-breaker: where it reads the
doubted spot as the other reading does (:func:`supports`), that one is kept.
A model that reads it as the parser does, or as neither, leaves the parser's.  The letter
stays flagged either way: the doubt is a review reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..rules.diagnoses import Doubt
from ..textsets import SAME_DIAGNOSIS, diagnosis_matches, jaccard


def matched(model: Sequence[str], reading: Sequence[str]) -> int:
    """How many diagnoses pair up one to one as the scorer pairs them (:func:`diagnosis_matches`)."""
    return len(diagnosis_matches(model, reading))


def supports(model: Sequence[str], parser: Sequence[str], alternative: Sequence[str]) -> bool:
    """Does the model's list read the doubted spot as ``alternative`` does?

    Only the pieces the two readings differ in count: every piece only the
    alternative has is matched by a model diagnosis (word overlap >= 0.5)
    that is nearer to it than to any piece only the parser has; and no model
    diagnosis is nearer to a parser-only piece (so a model that keeps the
    doubted piece, or reads something else there, supports nothing).
    """
    added = [x for x in alternative if x not in parser]
    removed = [x for x in parser if x not in alternative]

    def near(m: str, pieces: list[str]) -> float:
        return max((jaccard(m, p) for p in pieces), default=0.0)

    for m in model:
        to_removed = near(m, removed)
        if to_removed >= SAME_DIAGNOSIS and to_removed > near(m, added):
            return False
    return all(
        any(jaccard(m, a) >= SAME_DIAGNOSIS and jaccard(m, a) >= near(m, removed) for m in model)
        for a in added
    )


def supported_alternative(
    model: Sequence[str], parser: Sequence[str], doubts: Sequence[Doubt]
) -> Doubt | None:
    """The first doubt whose other reading the model's list supports (see :func:`supports`)."""
    if not model:
        return None  # the model read no list: it supports no reading
    for d in doubts:
        if d.alternative is not None and supports(model, parser, d.alternative):
            return d
    return None
