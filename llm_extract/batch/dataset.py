"""``--dataset DIR``: the letters and items tables as a Parquet dataset, written by workers.

For runs where the driver's disk is not where results belong (a cluster whose
results go to shared storage): each Ray actor writes, per batch of letters, one
part file of each table::

    DIR/letters/part-<hash>.parquet
    DIR/items/part-<hash>.parquet

with exactly the columns (and types) of ``llm-extract export --format parquet``:
the rows come from :mod:`llm_extract.batch.export`'s own row functions, so the
two can never drift.  ``<hash>`` is derived from the batch's letter keys: when
Ray re-runs the batch of an actor that died, the re-run replaces the same file
instead of adding a second copy.  Each file is written under a temporary name
and renamed, so a reader (``pyarrow.dataset``, DuckDB ``'DIR/items/*.parquet'``,
``ray.data.read_parquet``) never sees half a file.  Failed letters are not in
the dataset (they are in the store, and in ``export``'s failures table).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..base import BackendIdentity
from ..loop import LetterResult
from .export import ITEM_COLUMNS, LETTER_COLUMNS, item_rows, letter_row, write_parquet
from .worker import Task

TABLES = ("letters", "items")


def part_name(keys: Iterable[str]) -> str:
    """A batch's part-file stem: the same letters give the same name (retries replace)."""
    return "part-" + hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:24]


def store_row(task: Task, result: LetterResult, ident: BackendIdentity) -> dict[str, Any]:
    """The store's ``results`` columns that export's row functions read, before the
    driver has stored them (the same values :mod:`.store` writes)."""
    return {
        "key": task.key,
        "letter_id": result.letter_id,
        "source_path": task.path,
        "file_sha256": task.file_sha256,
        "text_sha256": result.text_sha256,
        "backend": ident.name,
        "backend_version": ident.version,
        "model": ident.model,
        "prompt_version": ident.prompt_version,
        "prompt_tokens": result.usage.prompt_tokens,
        "completion_tokens": result.usage.completion_tokens,
        "seconds": result.seconds,
    }


def write_parts(
    root: Path, finished: list[tuple[Task, LetterResult]], ident: BackendIdentity
) -> list[Path]:
    """Write one letters part and one items part for these letters (extracted ones only)."""
    done = [
        (store_row(task, result, ident), json.loads(result.record.to_json()))
        for task, result in finished
        if result.record is not None
    ]
    if not done:
        return []
    stem = part_name(row["key"] for row, _ in done)
    written = []
    for table, columns, rows in (
        ("letters", LETTER_COLUMNS, [letter_row(r, rec) for r, rec in done]),
        ("items", ITEM_COLUMNS, [i for r, rec in done for i in item_rows(r, rec)]),
    ):
        folder = root / table
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stem}.parquet"
        tmp = folder / f".{stem}.{os.getpid()}.tmp"
        try:
            write_parquet(tmp, columns, rows)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        written.append(path)
    return written
