"""The review queue: flagged letters first, each with its reasons, then a spot-check sample.

A letter is *flagged* when its record says it should be checked or the batch
could not make one:

=============  ==============================================================
kind           when
=============  ==============================================================
failed         the letter has no record (the error is the reason)
fallback       an LLM backend failed and the record is the parser's
disagreement   a ``checks`` entry the arbitration left unresolved
flagged        ``needs_review`` (each ``review_reasons`` sentence)
low_ocr        an OCR'd page read with confidence below ``--ocr-threshold``
stale          a person's correction no longer matches the extraction
sample         not flagged; drawn at random for a spot check (``--sample N``)
=============  ==============================================================

The queue is computed in memory from the store: parsing every record (the
slow part, ~30 us each) happens again only when ``results`` changes; the
review state (corrections, letter states) is re-read when it changes.  With
10,000 letters a filtered page of the queue is a list scan (benchmark:
``benchmarks/bench_review.py``).
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from ..batch.corrections import REVIEWED, UNUSABLE, ReviewDB, apply_corrections, letter_ref
from ..batch.stats import group_key

KINDS = ("failed", "fallback", "disagreement", "flagged", "low_ocr", "stale", "sample")
KIND_LABELS = {
    "failed": "failed",
    "fallback": "LLM fallback",
    "disagreement": "disagreement",
    "flagged": "needs review",
    "low_ocr": "low OCR confidence",
    "stale": "stale correction",
    "sample": "spot check",
}
STATES = ("to_review", "reviewed", "unusable")


@dataclass(frozen=True)
class Reason:
    kind: str
    text: str


@dataclass(frozen=True)
class Entry:
    key: str
    letter: str
    letter_id: str
    status: str  # results.status
    source_path: str
    reasons: tuple[Reason, ...]
    categories: frozenset[str]
    decisions: frozenset[str]
    specialties: tuple[str, ...]
    n_items: int
    specialty_keys: frozenset[str] = frozenset()
    state: str = "to_review"
    reviewer: str | None = None
    n_corrections: int = 0

    @property
    def flagged(self) -> bool:
        return any(r.kind != "sample" for r in self.reasons)

    @property
    def in_queue(self) -> bool:
        return bool(self.reasons)

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(r.kind for r in self.reasons)


def _fmt(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)


def reasons_of(row: Any, record: dict[str, Any] | None, ocr_threshold: float) -> list[Reason]:
    """Why a letter should be looked at (empty: nothing says so)."""
    out: list[Reason] = []
    if record is None:
        err = row["error_class"] or "no record"
        msg = f": {row['error_message']}" if row["error_message"] else ""
        return [Reason("failed", f"extraction failed: {err}{msg}")]
    prov = record.get("provenance") or {}
    if row["status"] not in ("done", "failed"):
        out.append(Reason("fallback", f"the batch stored it as {row['status']!r}"))
    # LOOP's column (a Row's `in` tests values, hence keys()).
    stored_fallback = "fallback" in row.keys() and bool(row["fallback"])  # noqa: SIM118
    if prov.get("fallback") or stored_fallback:
        why = prov.get("fallback_reason") or "no reason recorded"
        out.append(Reason("fallback", f"the LLM failed; the record is the parser's ({why})"))
    for check in record.get("checks") or []:
        if not check.get("resolved", True):
            out.append(
                Reason(
                    "disagreement",
                    f"{check.get('field')}: LLM {_fmt(check.get('llm_value'))} vs parser "
                    f"{_fmt(check.get('rules_value'))}: {check.get('reason')}",
                )
            )
    if record.get("needs_review"):
        texts = record.get("review_reasons") or ["needs_review is set (no reason given)"]
        out.extend(Reason("flagged", t) for t in texts)
    for page in (prov.get("ocr") or {}).get("pages") or []:
        conf = float(page.get("confidence", 1.0))
        if conf < ocr_threshold:
            out.append(
                Reason("low_ocr", f"page {page.get('page')} read by OCR with confidence {conf:.2f}")
            )
    return out


def _entry(row: Any, ocr_threshold: float) -> Entry:
    record = json.loads(row["record_json"]) if row["record_json"] else None
    items = (record or {}).get("items") or []
    specialties = tuple(((record or {}).get("reviewer") or {}).get("specialties") or ())
    return Entry(
        key=row["key"],
        letter=letter_ref(row),
        letter_id=row["letter_id"],
        status=row["status"],
        source_path=row["source_path"],
        reasons=tuple(reasons_of(row, record, ocr_threshold)),
        categories=frozenset(str(it.get("category") or "(none)") for it in items),
        decisions=frozenset(str(it.get("decision")) for it in items if it.get("decision")),
        specialties=specialties,
        n_items=len(items),
        specialty_keys=frozenset(group_key(s) for s in specialties),
    )


@dataclass
class Filters:
    reason: str = ""
    category: str = ""
    decision: str = ""
    specialty: str = ""
    state: str = ""  # "" = any
    scope: str = "queue"  # queue | all

    def matches(self, e: Entry) -> bool:
        if self.scope != "all" and not e.in_queue:
            return False
        if self.reason and self.reason not in e.kinds:
            return False
        if self.category and self.category not in e.categories:
            return False
        if self.decision and self.decision not in e.decisions:
            return False
        if self.specialty and self.specialty not in e.specialty_keys:
            return False
        return not (self.state and e.state != self.state)

    def query(self) -> str:
        from urllib.parse import urlencode

        items = {
            k: v for k, v in self.__dict__.items() if v and not (k == "scope" and v == "queue")
        }
        return urlencode(items)


@dataclass
class Progress:
    in_queue: int = 0
    reviewed: int = 0
    unusable: int = 0
    flagged: int = 0
    sampled: int = 0
    letters: int = 0

    @property
    def to_review(self) -> int:
        return self.in_queue - self.reviewed - self.unusable


@dataclass
class Snapshot:
    entries: list[Entry]
    by_key: dict[str, int]
    progress: Progress
    categories: list[str] = field(default_factory=list)
    specialties: list[tuple[str, str]] = field(default_factory=list)  # (group key, name)


def _order(e: Entry) -> tuple[int, str, str]:
    first = min((KINDS.index(r.kind) for r in e.reasons), default=len(KINDS))
    return (first, e.letter_id, e.key)


class Queue:
    """The queue over one store, rebuilt lazily when the store changes."""

    def __init__(
        self, db: ReviewDB, *, sample: int = 0, seed: int = 0, ocr_threshold: float = 0.8
    ) -> None:
        self.db = db
        self.sample = sample
        self.seed = seed
        self.ocr_threshold = ocr_threshold
        self._lock = threading.Lock()
        self._base: list[Entry] = []
        self._categories: list[str] = []
        self._specialties: list[tuple[str, str]] = []
        self._base_version: tuple[Any, ...] | None = None
        self._snap: Snapshot | None = None
        self._snap_version: tuple[Any, ...] | None = None
        # A connection that never writes: its data_version changes whenever any
        # other connection (a batch, another reviewer, this app's threads)
        # commits, so an unchanged store costs one pragma per request.
        self._watch = sqlite3.connect(db.path, check_same_thread=False)
        self._data_version: int | None = None

    def _rebuild_base(self) -> None:
        entries = [_entry(r, self.ocr_threshold) for r in self.db.iter_results()]
        # The spot-check sample: fixed by --seed, drawn from the unflagged letters.
        unflagged = [i for i, e in enumerate(entries) if not e.reasons]
        rng = random.Random(self.seed)
        for i in rng.sample(unflagged, min(self.sample, len(unflagged))):
            entries[i] = replace(
                entries[i], reasons=(Reason("sample", "not flagged: a random spot check"),)
            )
        # Queue order (most serious reason first), once; the overlay only moves
        # reviewed letters behind the rest, keeping this order on both sides.
        entries.sort(key=_order)
        self._base = entries
        cats: set[str] = set()
        specs: dict[str, str] = {}
        for e in entries:
            cats |= e.categories
            for sp in e.specialties:
                specs.setdefault(group_key(sp), sp)
        self._categories = sorted(cats)
        self._specialties = sorted(specs.items(), key=lambda kv: kv[1].casefold())

    def snapshot(self) -> Snapshot:
        with self._lock:
            dv = int(self._watch.execute("PRAGMA data_version").fetchone()[0])
            if self._snap is not None and dv == self._data_version:
                return self._snap
            self._data_version = dv
            version = self.db.version()
            if self._snap is not None and version == self._snap_version:
                return self._snap
            rv = version[:2]
            if rv != self._base_version:
                self._rebuild_base()
                self._base_version = rv
            self._snap = self._overlay(self._base)
            self._snap_version = version
            return self._snap

    def _overlay(self, base: list[Entry]) -> Snapshot:
        states = self.db.all_states()
        corrections = self.db.all_corrections()
        todo: list[Entry] = []
        done: list[Entry] = []
        for e in base:
            st = states.get(e.letter)
            cs = corrections.get(e.letter)
            if st is not None or cs:
                e = self._reviewed(e, st, cs)
            (done if e.state in (REVIEWED, UNUSABLE) else todo).append(e)
        entries = todo + done
        prog = Progress(letters=len(entries))
        for e in entries:
            if not e.reasons:
                continue
            prog.in_queue += 1
            prog.flagged += e.flagged
            prog.sampled += not e.flagged
            prog.reviewed += e.state == REVIEWED
            prog.unusable += e.state == UNUSABLE
        return Snapshot(
            entries,
            {e.key: i for i, e in enumerate(entries)},
            prog,
            self._categories,
            self._specialties,
        )

    def _reviewed(self, e: Entry, st: Any, cs: list[Any] | None) -> Entry:
        """An entry with its letter's review state and stale corrections."""
        reasons = e.reasons
        state = st.status if st is not None and st.status != "reopened" else "to_review"
        if cs:
            row = self.db.result(e.key)
            if row is not None and row["record_json"]:
                applied = apply_corrections(json.loads(row["record_json"]), cs)
                if applied.stale:
                    reasons = (
                        *reasons,
                        Reason(
                            "stale",
                            f"{len(applied.stale)} correction(s) no longer match the "
                            f"extraction: {', '.join(sorted(applied.stale))}",
                        ),
                    )
                    if state == REVIEWED:
                        state = "to_review"
        return replace(
            e,
            reasons=reasons,
            state=state,
            reviewer=st.reviewer if st else None,
            n_corrections=len(cs or ()),
        )

    def page(
        self, filters: Filters, *, offset: int = 0, limit: int = 100
    ) -> tuple[list[Entry], int]:
        """One page of matching entries, and how many match in all."""
        snap = self.snapshot()
        matching = [e for e in snap.entries if filters.matches(e)]
        return matching[offset : offset + limit], len(matching)

    def next_key(self, after: str | None, filters: Filters) -> str | None:
        """The next letter still to review after ``after`` (wrapping), in queue order."""
        snap = self.snapshot()
        start = snap.by_key.get(after, -1) + 1 if after else 0
        n = len(snap.entries)
        for j in range(n):
            e = snap.entries[(start + j) % n]
            if e.key != after and e.state == "to_review" and filters.matches(e):
                return e.key
        return None

    def entry(self, key: str) -> Entry | None:
        snap = self.snapshot()
        i = snap.by_key.get(key)
        return None if i is None else snap.entries[i]
