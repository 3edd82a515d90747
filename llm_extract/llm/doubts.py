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

import re
from collections.abc import Sequence

from ..rules.diagnoses import Doubt


def words(s: str) -> set[str]:
    """The lower-case words of ``s`` (the scorer's view of a diagnosis)."""
    return set(re.findall(r"[a-z0-9]+", s.casefold()))


def jaccard(a: str, b: str) -> float:
    """Word overlap of two diagnoses; >= 0.5 is the same diagnosis to the scorer."""
    wa, wb = words(a), words(b)
    return len(wa & wb) / len(wa | wb) if wa | wb else 1.0


def matched(model: Sequence[str], reading: Sequence[str]) -> int:
    """How many diagnoses pair up one to one, best first, at word overlap >= 0.5 (the scorer's)."""
    pairs = sorted(
        ((jaccard(m, r), i, j) for i, m in enumerate(model) for j, r in enumerate(reading)),
        reverse=True,
    )
    used_m: set[int] = set()
    used_r: set[int] = set()
    for score, i, j in pairs:
        if score < 0.5:
            break
        if i not in used_m and j not in used_r:
            used_m.add(i)
            used_r.add(j)
    return len(used_m)


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
        if to_removed >= 0.5 and to_removed > near(m, added):
            return False
    return all(
        any(jaccard(m, a) >= 0.5 and jaccard(m, a) >= near(m, removed) for m in model)
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
