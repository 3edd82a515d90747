"""The state of one arbitration: the record being decided, where values stand, what was found.

Shared by the field procedure (:mod:`.crosscheck`) and the diagnosis list's
(:mod:`.diagnosis_arbitration`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..evidence import Found, Locator, make_evidence
from ..field_paths import get_path
from ..models import Check, Evidence, Record
from ..normalize import jsonable
from ..review_flags import ReviewCode
from ..rules.diagnoses import Doubt
from ..shapes import field_doubts


@dataclass(frozen=True)
class LetterContext:
    """Where each kind of value should stand, as ``(start, end)`` ranges of the letter text."""

    text: str
    summary: tuple[int, int] | None
    lines: list[tuple[int, int]]  # each item's decision statement
    # The parser's doubts about its diagnosis list, each with the other reading.
    diagnosis_doubts: tuple[Doubt, ...] = ()

    def ranges(self, where: str, item: int | None) -> list[tuple[int, int]]:
        if where == "summary":
            return [self.summary] if self.summary else []
        if where == "letter":
            return [*([self.summary] if self.summary else []), (0, len(self.text))]
        if item is not None and item < len(self.lines):
            return [self.lines[item]]
        return []


@dataclass
class Arbitration:
    """One record under arbitration, with its letter's context and locator."""

    record: Record
    ctx: LetterContext
    loc: Locator

    def check(
        self, path: str, llm: Any, rules: Any, kept: str, reason: str, *, resolved: bool
    ) -> None:
        self.record.checks = [
            *self.record.checks,
            Check(
                field=path,
                llm_value=jsonable(llm),
                rules_value=jsonable(rules),
                kept=kept,
                reason=reason,
                resolved=resolved,
            ),
        ]

    def flag(self, code: ReviewCode, path: str, message: str) -> None:
        self.record.flag(code, message, path)

    def flag_ill_formed(self, path: str) -> None:
        """Flag the value kept at ``path`` if it lacks its field's shape (as assess.py
        would: the same code, path and sentence, so the record holds one flag)."""
        for doubt in field_doubts(path, get_path(self.record, path)):
            self.record.flag(ReviewCode.ILL_FORMED_VALUE, doubt.message, path)

    def set_evidence(self, ev: Evidence) -> None:
        self.record.evidence = [e if e.field != ev.field else ev for e in self.record.evidence] + (
            [] if any(e.field == ev.field for e in self.record.evidence) else [ev]
        )


def llm_evidence(path: str, found: Found | None) -> Evidence:
    return make_evidence(
        path,
        found.to_spans() if found else [],
        reader="llm",
        rule="llm",
        certainty="heuristic",
        grounded=found is not None,
    )


def show(value: Any) -> str:
    v = jsonable(value)
    return repr(v) if isinstance(v, str) else str(v)
