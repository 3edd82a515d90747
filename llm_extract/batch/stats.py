"""Uphold / overturn rates from a batch store.

The unit is the disputed item (each has its own decision).  Items are grouped
three ways:

- **category** (``Item.category``; ``(none)`` when the backend left it null);
- **MAXIMUS guideline source**: an item counts once under each source its
  MAXIMUS guideline cites (an MTUS/ACOEM chapter counts under both, per
  RECORD.md), so these rows overlap; ``(none cited)`` when it cites none;
- **reviewer specialty**: every item of a letter counts under each of its
  reviewer's specialties (grouped ignoring case and ``&``/``and``); ``(not stated)`` when
  the letter names none.

Rows stream from the store; memory grows with the number of groups only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .store import DONE, Store

DIMENSIONS = {
    "category": "Category",
    "maximus_source": "MAXIMUS guideline source",
    "specialty": "Reviewer specialty",
}


@dataclass
class Group:
    name: str
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


@dataclass
class Stats:
    overall: Group = field(default_factory=lambda: Group("all"))
    by: dict[str, dict[str, Group]] = field(default_factory=lambda: {dim: {} for dim in DIMENSIONS})
    failed_letters: int = 0
    backends: list[str] = field(default_factory=list)

    def rows(self, dim: str) -> list[Group]:
        """A dimension's groups, most items first, then by name."""
        return sorted(self.by[dim].values(), key=lambda g: (-g.items, g.name.casefold()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.as_dict(),
            "failed_letters": self.failed_letters,
            "backends": self.backends,
            **{dim: [g.as_dict() for g in self.rows(dim)] for dim in DIMENSIONS},
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


def group_key(name: str) -> str:
    """Names that differ only in case, spacing or ``&``/``and`` are one group
    (``Physical Medicine & Rehabilitation`` = ``Physical Medicine and Rehabilitation``)."""
    return " ".join(name.casefold().replace("&", " and ").split())


def _group(table: dict[str, Group], name: str) -> Group:
    key = group_key(name)
    g = table.get(key)
    if g is None:
        g = table[key] = Group(name)
    return g


def _add_item(g: Group, decision: str | None) -> None:
    g.items += 1
    if decision == "upheld":
        g.upheld += 1
    elif decision == "overturned":
        g.overturned += 1


def add_record(stats: Stats, rec: dict[str, Any]) -> None:
    """Count one record (as stored: the JSON of a :class:`Record`)."""
    items = rec.get("items") or []
    specialties = (rec.get("reviewer") or {}).get("specialties") or ["(not stated)"]
    stats.overall.letters += 1
    touched: dict[str, set[str]] = {dim: set() for dim in DIMENSIONS}
    for it in items:
        decision = it.get("decision")
        _add_item(stats.overall, decision)
        names = {
            "category": [it.get("category") or "(none)"],
            "maximus_source": list(
                dict.fromkeys((it.get("guideline_sources") or {}).get("maximus") or [])
            )
            or ["(none cited)"],
            "specialty": list(dict.fromkeys(specialties)),
        }
        for dim, values in names.items():
            for name in values:
                g = _group(stats.by[dim], str(name))
                _add_item(g, decision)
                touched[dim].add(group_key(str(name)))
    for dim, keys in touched.items():
        for key in keys:
            stats.by[dim][key].letters += 1


def compute_stats(records: Iterable[dict[str, Any]]) -> Stats:
    stats = Stats()
    for rec in records:
        add_record(stats, rec)
    return stats


def stats_from_store(outdir: Path, *, backend: str | None = None) -> Stats:
    with Store(Path(outdir), writer=False) as store:
        stats = compute_stats(
            json.loads(row["record_json"]) for row in store.iter_results(DONE, backend=backend)
        )
        stats.failed_letters = store.counts(backend=backend)["failed"]
        stats.backends = [
            " ".join(x for x in (b, v, m, f"prompt {p}" if p else None) if x) + f" ({n} letters)"
            for b, v, m, p, n in store.backends()
            if backend is None or b == backend
        ]
    return stats


def heading(dim: str) -> str:
    """``By category``, ``By MAXIMUS guideline source`` (acronyms kept)."""
    first, _, rest = DIMENSIONS[dim].partition(" ")
    return " ".join(x for x in ("By", first if first.isupper() else first.lower(), rest) if x)


def pct(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"
