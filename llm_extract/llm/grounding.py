"""An LLM's values grounded in the letter, or dropped: evidence, checks and flags.

Used by the whole-letter reader (:mod:`.whole_letter`), whose every value is
the model's: each is looked for (:class:`~llm_extract.evidence.Locator`) in the
part of the letter it was read from; one that is not there is dropped and
recorded in ``checks`` as the hybrid's arbitration records a dropped value
(``kept="rules"``: the parser's null), so that no ungrounded string reaches
the record silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..document.headings import LetterParts
from ..evidence import Found, Locator, make_evidence, make_span
from ..loading import Letter
from ..models import Check, Decision, Evidence, Usage
from ..normalize import jsonable
from ..review_flags import ReviewCode, ReviewFlag

Ranges = list[tuple[int, int]]


@dataclass
class Reading:
    """What the reader builds for one letter: values' evidence, checks, flags, usage."""

    letter: Letter
    parts: LetterParts
    loc: Locator
    evidence: dict[str, Evidence] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    flags: list[ReviewFlag] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    calls: int = 0

    def ranges(self, *roles: str) -> Ranges:
        return [(s.body_start, s.end) for s in self.parts.of_role(*roles)]

    def whole(self) -> Ranges:
        return [(0, len(self.letter.text))]

    def flag(self, code: ReviewCode, message: str, path: str | None = None) -> None:
        self.flags.append(ReviewFlag(code=code, path=path, message=message))

    # -- grounding -----------------------------------------------------------
    def keep(self, path: str, value: Any, where: Sequence[Ranges], rule: str) -> Any:
        """``value`` if it stands in the first of ``where`` that holds it, else None
        (recorded in ``checks``); its evidence either way."""
        if value in (None, [], False):
            self.found_evidence(path, None, rule)
            return None if value is None else value
        found = self._locate(value, where)
        if found is None:
            self.drop(path, value)
            self.found_evidence(path, None, rule)
            return None
        self.found_evidence(path, found, rule)
        return value

    def keep_list(self, path: str, values: list[Any], where: Sequence[Ranges], rule: str) -> list:
        """The elements of ``values`` found in the text (each recorded when dropped)."""
        kept: list[Any] = []
        dropped: list[Any] = []
        spans: list[tuple[int, int]] = []
        for v in values:
            found = self._locate(v, where)
            if found is None:
                dropped.append(v)
            else:
                kept.append(v)
                spans.extend(found.spans)
        if dropped:
            self.drop(path, dropped)
        self.set_evidence(path, spans, rule, present=bool(kept), grounded=bool(kept))
        return kept

    def _locate(self, value: Any, where: Sequence[Ranges]) -> Found | None:
        for ranges in where:
            for lo, hi in ranges:
                if isinstance(value, bool):
                    return None
                if isinstance(value, int) and not isinstance(value, Decision):
                    found = self.loc.find_int(value, lo, hi, products=True)
                else:
                    found = self.loc.find(value, lo, hi)
                if found is not None:
                    return found
        return None

    def drop(self, path: str, value: Any) -> None:
        self.checks.append(
            Check(
                field=path,
                llm_value=jsonable(value),
                rules_value=None,
                kept="rules",
                reason="the model's value is not in the letter text",
                resolved=True,
            )
        )

    def found_evidence(self, path: str, found: Found | None, rule: str) -> None:
        spans = list(found.spans) if found else []
        self.set_evidence(path, spans, rule, present=found is not None, grounded=found is not None)

    def set_evidence(
        self, path: str, spans: Ranges, rule: str, *, present: bool, grounded: bool
    ) -> None:
        self.evidence[path] = make_evidence(
            path,
            [make_span(s, e) for s, e in spans],
            reader="llm",
            rule=rule,
            certainty="heuristic" if present else "undecided",
            grounded=grounded,
        )


__all__ = ["Ranges", "Reading"]
