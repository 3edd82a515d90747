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

The values counted are the corrected ones: what a person set in
``llm-extract review`` replaces the extraction, letters marked unusable are
left out, and :class:`ReviewCounts` says how many letters were reviewed and
how many values corrected (``stats --raw``: the extraction as produced).
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
class ReviewCounts:
    """What people did in ``llm-extract review`` (counted into the rates unless --raw)."""

    reviewed_letters: int = 0  # marked reviewed (their values are a person's)
    unusable_letters: int = 0  # marked unusable: left out of the rates
    corrected_letters: int = 0  # letters with at least one value a person changed
    corrected_values: int = 0  # values a person changed, in all
    stale_corrections: int = 0  # not applied: the extraction changed since
    raw: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "reviewed_letters": self.reviewed_letters,
            "unusable_letters": self.unusable_letters,
            "corrected_letters": self.corrected_letters,
            "corrected_values": self.corrected_values,
            "stale_corrections": self.stale_corrections,
            "raw": self.raw,
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
        return out


@dataclass
class Stats:
    overall: Group = field(default_factory=lambda: Group("all"))
    by: dict[str, dict[str, Group]] = field(default_factory=lambda: {dim: {} for dim in DIMENSIONS})
    failed_letters: int = 0
    backends: list[str] = field(default_factory=list)
    review: ReviewCounts = field(default_factory=lambda: ReviewCounts())

    def rows(self, dim: str) -> list[Group]:
        """A dimension's groups, most items first, then by name."""
        return sorted(self.by[dim].values(), key=lambda g: (-g.items, g.name.casefold()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.as_dict(),
            "failed_letters": self.failed_letters,
            "backends": self.backends,
            "review": self.review.as_dict(),
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


def stats_from_store(outdir: Path, *, backend: str | None = None, raw: bool = False) -> Stats:
    """The figures of a store, with the corrections of ``llm-extract review`` applied
    (letters marked unusable left out) unless ``raw``."""
    from ..review.corrections import (
        REVIEWED,
        UNUSABLE,
        apply_corrections,
        letter_ref,
        open_if_present,
    )

    db = None if raw else open_if_present(Path(outdir))
    corrections = db.all_corrections() if db else {}
    states = db.all_states() if db else {}
    if db is not None:
        db.close()
    review = ReviewCounts(raw=raw)

    def records() -> Iterable[dict[str, Any]]:
        for row in store.iter_results(DONE, backend=backend):
            rec = json.loads(row["record_json"])
            letter = letter_ref(row)
            st = states.get(letter)
            if st is not None and st.status == UNUSABLE:
                review.unusable_letters += 1
                continue
            review.reviewed_letters += st is not None and st.status == REVIEWED
            if letter in corrections:
                applied = apply_corrections(rec, corrections[letter])
                rec = applied.record
                review.corrected_values += len(applied.corrected)
                review.corrected_letters += bool(applied.corrected)
                review.stale_corrections += len(applied.stale)
            yield rec

    with Store(Path(outdir), writer=False) as store:
        stats = compute_stats(records())
        stats.review = review
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
