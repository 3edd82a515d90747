"""Which reading of a diagnosis list the model supports.

Two ways, both choosing among readings the parser cut from the letter:

- the short picks the hybrid asks where the parser's list reads more than
  one way (:class:`Choice`, :func:`diagnosis_choices`, :func:`settle_choices`):
  per other reading, "A" (the parser's) or "B" (the other), a few tokens
  each; agreement makes both readers, a pick of the other reading flags the
  list with both readings;
- a list the model wrote itself (when the parser read none, or from the
  ``llm`` backend's arbitration) read against the parser's doubts
  (:func:`supports`, :func:`supported_alternative`): where it reads the
  doubted spot as the other reading does, that reading is kept; the letter
  stays flagged either way (the doubt is a review reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..review_flags import ReviewCode
from ..rules.diagnoses import Doubt
from ..textsets import SAME_DIAGNOSIS, diagnosis_matches, jaccard
from .arbitration import Arbitration


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


# At most this many questions about one list: each costs ~8 completion tokens
# and its two short readings in the prompt.
MAX_CHOICES = 3


@dataclass(frozen=True)
class Choice:
    """One short question: the parser's list (A) or another reading of it (B).

    ``only_first`` / ``only_other``: the entries where the two readings differ,
    which is all the prompt shows of them; ``reading``: the other reading whole.
    """

    reading: tuple[str, ...]
    only_first: tuple[str, ...]
    only_other: tuple[str, ...]


def diagnosis_choices(
    parser: Sequence[str], others: Sequence[Sequence[str]], doubts: Sequence[Doubt] = ()
) -> tuple[Choice, ...]:
    """The questions to ask about ``parser``'s list: one per other reading of its
    text (structure first, then the doubts' readings), at most :data:`MAX_CHOICES`."""
    first = list(parser)
    seen: set[tuple[str, ...]] = {tuple(first)}
    out: list[Choice] = []
    alternatives = [*others, *(d.alternative for d in doubts if d.alternative is not None)]
    for alt in alternatives:
        reading = tuple(alt)
        if reading in seen:
            continue
        seen.add(reading)
        out.append(
            Choice(
                reading,
                tuple(d for d in first if d not in reading),
                tuple(d for d in reading if d not in first),
            )
        )
    return tuple(out[:MAX_CHOICES])


def choice_key(n: int) -> str:
    """The answer key of question ``n`` (1-based)."""
    return f"diagnoses_{n}"


def _entries(entries: Sequence[str]) -> str:
    return "; ".join(f'"{e}"' for e in entries) or "(nothing)"


def choice_lines(choices: Sequence[Choice]) -> str:
    """The questions as the prompt shows them: ``N. A: "x"; "y" | B: "x and y"``."""
    return "\n".join(
        f"{n}. A: {_entries(c.only_first)} | B: {_entries(c.only_other)}"
        for n, c in enumerate(choices, start=1)
    )


def settle_choices(
    a: Arbitration, path: str, choices: Sequence[Choice], picks: Sequence[str | None]
) -> None:
    """The model's picks judged against the parser's first reading.

    Every pick "A": the model reads the list as the parser does (``reader``
    "both"). A pick "B": the readers disagree; the parser's list stays and is
    flagged on its own path with both readings.  Why the picked reading does
    not replace it, though cut from the letter too: on the labelled letters,
    keeping it made diagnoses worse (docs/llm-backends.md).
    """
    rec = a.record
    first = list(rec.diagnoses)
    ev = rec.evidence_for(path)
    picked = [c for c, p in zip(choices, picks, strict=True) if p == "B"]
    if not picked:
        if ev is not None and all(p == "A" for p in picks):
            a.set_evidence(ev.model_copy(update={"reader": "both"}))
        return
    shown = " / ".join(f"{_entries(c.only_other)} for {_entries(c.only_first)}" for c in picked)
    a.check(
        path,
        list(picked[0].reading),
        first,
        "rules",
        f"the model picks the parser's other reading ({shown})",
        resolved=False,
    )
    a.flag(
        ReviewCode.READERS_DISAGREE,
        path,
        f"diagnoses: the parser reads {len(first)} ({'; '.join(first)}), the model picks {shown}",
    )
