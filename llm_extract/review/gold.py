"""Reviewed letters as gold fixtures: reviewing grows the labelled set.

A letter is written when its last review state is *reviewed* (not unusable,
not reopened) and none of its corrections is stale.  The fixture is the
record with the corrections applied, in the format of ``evals/fixtures``
(RECORD.md's fields only: no provenance, checks, needs_review, review
reasons, evidence or spans), as ``DIR/<letter_id>.json``, validated by the
same :class:`~llm_extract.models.Record` that ``llm-extract eval --gold DIR``
loads it with.  The letters themselves are not copied: ``eval`` finds them by
``--letters`` (``<DIR>/<letter_id>.pdf`` or ``.txt``, or the corpus layout).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..batch.corrections import REVIEWED, ReviewDB, apply_corrections, letter_ref
from ..fields import ITEM_EXTRAS, LETTER_EXTRAS
from ..models import Record

# What the models carry beyond RECORD.md (llm_extract.fields), kept out of gold.
GOLD_EXCLUDE: dict[str, Any] = {
    **{name: True for name in LETTER_EXTRAS if name not in ("letter_id", "items")},
    "items": {"__all__": set(ITEM_EXTRAS)},
}


@dataclass
class GoldWritten:
    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "letter_id: why"
    sources: dict[str, str] = field(default_factory=dict)  # letter_id -> source path


def gold_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record (JSON) reduced to a gold fixture (validated by the models)."""
    rec = Record.model_validate(record)
    out: dict[str, Any] = rec.model_dump(mode="json", exclude=GOLD_EXCLUDE)
    return out


def save_gold(db: ReviewDB, dest: Path) -> GoldWritten:
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    states = db.all_states()
    corrections = db.all_corrections()
    result = GoldWritten()
    seen: dict[str, str] = {}  # letter_id -> letter written under it
    stale: dict[str, str] = {}
    for row in db.iter_results():
        letter = letter_ref(row)
        st = states.get(letter)
        if st is None or st.status != REVIEWED or not row["record_json"]:
            continue
        lid = row["letter_id"]
        if seen.get(lid) == letter:
            continue  # the same letter extracted by another backend: once is enough
        if lid in seen:
            result.skipped.append(f"{lid}: another letter with the same id was written already")
            continue
        applied = apply_corrections(json.loads(row["record_json"]), corrections.get(letter, []))
        if applied.stale:
            stale[lid] = (
                f"{lid}: {len(applied.stale)} stale correction(s) "
                f"({', '.join(sorted(applied.stale))}); review it again"
            )
            continue
        seen[lid] = letter
        stale.pop(lid, None)
        path = dest / f"{lid}.json"
        tmp = path.with_name(f".{path.name}.tmp")
        text = json.dumps(gold_record(applied.record), indent=2, ensure_ascii=False) + "\n"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        result.written.append(path)
        result.sources[lid] = row["source_path"]
    result.skipped.extend(stale.values())
    return result
