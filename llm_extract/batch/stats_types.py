"""What ``stats`` reports: groups with their counts and rates, review counts, the whole.

Apart from the counting (:mod:`.stats` reads records, :mod:`.stats_flat` the
store's analysis rows) so both fill the same figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..intervals import Rate
from .dimensions import DEFAULT_DIMENSIONS, DIMENSIONS, TIME_DIMENSIONS, group_key

Pair = tuple[str, str]


@dataclass
class Group:
    name: str
    # The column's group in a two-way table (None in a one-way table).
    name2: str | None = None
    letters: int = 0
    items: int = 0
    upheld: int = 0
    overturned: int = 0

    @property
    def uphold_rate(self) -> float | None:
        decided = self.upheld + self.overturned
        return self.upheld / decided if decided else None

    @property
    def overturn_rate(self) -> float | None:
        decided = self.upheld + self.overturned
        return self.overturned / decided if decided else None

    @property
    def uphold(self) -> Rate:
        return Rate.of(self.upheld, self.upheld + self.overturned)

    @property
    def overturn(self) -> Rate:
        return Rate.of(self.overturned, self.upheld + self.overturned)

    @property
    def small(self) -> bool:
        return self.overturn.small

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "letters": self.letters,
            "items": self.items,
            "upheld": self.upheld,
            "overturned": self.overturned,
            "uphold_rate": self.uphold_rate,
            "overturn_rate": self.overturn_rate,
        }

    def full_dict(self) -> dict[str, Any]:
        """:meth:`as_dict` plus both rates' intervals and counts, and the small-group mark."""
        out = self.as_dict()
        if self.name2 is not None:
            out["name2"] = self.name2
        out.update(uphold=self.uphold.as_dict(), overturn=self.overturn.as_dict(), small=self.small)
        return out


@dataclass
class ReviewCounts:
    """What people did in ``llm-extract review`` (counted into the rates unless --raw)."""

    reviewed_letters: int = 0  # marked reviewed (their values are a person's)
    unusable_letters: int = 0  # marked unusable: left out of the rates
    corrected_letters: int = 0  # letters with at least one value a person changed
    corrected_values: int = 0  # values a person changed, in all
    stale_corrections: int = 0  # not applied: the extraction changed since
    raw: bool = False
    # --reviewed-only: letters flagged for review and not yet reviewed are left out.
    reviewed_only: bool = False
    unreviewed_letters: int = 0  # left out by --reviewed-only

    def as_dict(self) -> dict[str, Any]:
        return {
            "reviewed_letters": self.reviewed_letters,
            "unusable_letters": self.unusable_letters,
            "corrected_letters": self.corrected_letters,
            "corrected_values": self.corrected_values,
            "stale_corrections": self.stale_corrections,
            "raw": self.raw,
            "reviewed_only": self.reviewed_only,
            "unreviewed_letters": self.unreviewed_letters,
        }

    def line(self) -> str:
        if self.raw:
            return "raw extraction: corrections from `llm-extract review` are not applied"
        out = (
            f"{self.reviewed_letters} letter(s) reviewed by a person, "
            f"{self.unusable_letters} marked unusable (not counted); "
            f"{self.corrected_values} value(s) corrected in {self.corrected_letters} letter(s)"
        )
        if self.stale_corrections:
            out += f"; {self.stale_corrections} stale correction(s) not applied"
        if self.reviewed_only:
            out += (
                f"; {self.unreviewed_letters} letter(s) flagged for review and not yet "
                "reviewed left out (--reviewed-only)"
            )
        return out


@dataclass
class Stats:
    overall: Group = field(default_factory=lambda: Group("all"))
    by: dict[str, dict[str, Group]] = field(default_factory=lambda: {dim: {} for dim in DIMENSIONS})
    # Two-way tables asked for: (row dimension, column dimension) -> groups.
    cross: dict[Pair, dict[Pair, Group]] = field(default_factory=dict)
    failed_letters: int = 0
    backends: list[str] = field(default_factory=list)
    review: ReviewCounts = field(default_factory=lambda: ReviewCounts())

    def rows(self, dim: str) -> list[Group]:
        """A dimension's groups: periods in time order; others most items first, then by name."""
        if dim in TIME_DIMENSIONS:
            return sorted(self.by[dim].values(), key=lambda g: (g.name.startswith("("), g.name))
        return sorted(self.by[dim].values(), key=lambda g: (-g.items, g.name.casefold()))

    def cross_rows(self, pair: Pair) -> list[Group]:
        """A two-way table's cells, by row group (as :meth:`rows` orders it), then most items."""
        order = {group_key(g.name): i for i, g in enumerate(self.rows(pair[0]))}
        return sorted(
            self.cross[pair].values(),
            key=lambda g: (order.get(group_key(g.name), len(order)), -g.items, str(g.name2)),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.full_dict(),
            "failed_letters": self.failed_letters,
            "backends": self.backends,
            "review": self.review.as_dict(),
            # The default dimensions as they always were (no intervals) ...
            **{
                dim: [g.as_dict() for g in self.rows(dim)]
                for dim in DEFAULT_DIMENSIONS
                if dim in self.by
            },
            # ... and every dimension with intervals, counts and small-group marks.
            "dimensions": {dim: [g.full_dict() for g in self.rows(dim)] for dim in self.by},
            "cross": [
                {"rows": a, "columns": b, "cells": [g.full_dict() for g in self.cross_rows((a, b))]}
                for a, b in self.cross
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


def backend_lines(present: list[tuple[Any, ...]], backend: str | None) -> list[str]:
    """``rules 1.3 (134 letters)`` per backend identity present (backend, version,
    model, prompt version, letters), only ``backend``'s when one is picked."""
    return [
        " ".join(x for x in (b, v, m, f"prompt {p}" if p else None) if x) + f" ({n} letters)"
        for b, v, m, p, n in present
        if backend is None or b == backend
    ]
