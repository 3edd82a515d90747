"""Flat tables for analysts from a batch store: letters, items, failures.

``letters``: one row per extracted letter; ``items``: one row per disputed
item, joined to its letter by ``letter_id`` (and, unambiguously, by ``key``:
two files with the same name in different folders, or one letter extracted by
two backends, share a ``letter_id`` but never a ``key``); ``failures``: one
row per letter that could not be extracted, with its error.

The three formats carry the same columns, with list fields joined by ``"; "``
so that a CSV opens in a spreadsheet as it is:

- ``csv``: UTF-8 with a BOM-less header row, booleans ``true``/``false``, empty
  cell for null;
- ``jsonl``: one JSON object per line (null is ``null``);
- ``parquet``: typed columns (dates are ``date32``, counts ``int64``) via pyarrow
  (the ``parquet`` extra).

Rows stream from the store to the file in chunks, so exporting a large
archive needs little memory.  Each file is written to a temporary name and
renamed into place, so a reader never sees half a table.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError
from .store import DONE, FAILED, Store

Format = Literal["jsonl", "csv", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "parquet")
JOIN = "; "
_CHUNK_ROWS = 2000

# column -> type ("str", "int", "bool", "date", "float"): drives parquet types
LETTER_COLUMNS: dict[str, str] = {
    "letter_id": "str",
    "case_number": "str",
    "date_assigned": "date",
    "decision_date": "date",
    "ur_denial_date": "date",
    "application_received": "date",
    "priority": "str",
    "date_of_injury": "date",
    "reviewer_specialties": "str",
    "reviewer_subspecialties": "str",
    "reviewer_licensure_states": "str",
    "patient_age": "int",
    "patient_sex": "str",
    "patient_occupation": "str",
    "diagnoses": "str",
    "n_items": "int",
    "n_upheld": "int",
    "n_overturned": "int",
    "needs_review": "bool",
    "n_checks": "int",
    "backend": "str",
    "backend_version": "str",
    "model": "str",
    "prompt_version": "str",
    "schema_version": "str",
    "fallback": "bool",
    "prompt_tokens": "int",
    "completion_tokens": "int",
    "seconds": "float",
    "source_file": "str",
    "text_sha256": "str",
    "file_sha256": "str",
    "key": "str",
}

ITEM_COLUMNS: dict[str, str] = {
    "letter_id": "str",
    "item_index": "int",
    "request": "str",
    "original_request": "str",
    "decision": "str",
    "category": "str",
    "quantity": "int",
    "frequency_per_week": "int",
    "duration_weeks": "int",
    "body_region": "str",
    "retrospective": "bool",
    "date_of_service": "date",
    "cpt_codes": "str",
    "medication_name": "str",
    "medication_strength": "str",
    "medication_days_supply": "int",
    "claims_administrator_sources": "str",
    "maximus_sources": "str",
    "maximus_guideline": "str",
    "case_number": "str",
    "decision_date": "date",
    "reviewer_specialties": "str",
    "backend": "str",
    "model": "str",
    "key": "str",
}

FAILURE_COLUMNS: dict[str, str] = {
    "letter_id": "str",
    "source_file": "str",
    "error_class": "str",
    "error_message": "str",
    "field": "str",
    "cause": "str",
    "attempts": "int",
    "backend": "str",
    "backend_version": "str",
    "model": "str",
    "prompt_version": "str",
    "finished_at": "str",
    "file_sha256": "str",
    "key": "str",
}


def _joined(values: Iterable[Any] | None) -> str:
    return JOIN.join(str(v) for v in values or [])


def letter_row(row: Any, rec: dict[str, Any]) -> dict[str, Any]:
    """The ``letters`` row of one stored result (``row``) and its record."""
    items = rec.get("items") or []
    reviewer = rec.get("reviewer") or {}
    patient = rec.get("patient") or {}
    prov = rec.get("provenance") or {}
    return {
        "letter_id": rec.get("letter_id") or row["letter_id"],
        "case_number": rec.get("case_number"),
        "date_assigned": rec.get("date_assigned"),
        "decision_date": rec.get("decision_date"),
        "ur_denial_date": rec.get("ur_denial_date"),
        "application_received": rec.get("application_received"),
        "priority": rec.get("priority"),
        "date_of_injury": rec.get("date_of_injury"),
        "reviewer_specialties": _joined(reviewer.get("specialties")),
        "reviewer_subspecialties": _joined(reviewer.get("subspecialties")),
        "reviewer_licensure_states": _joined(reviewer.get("licensure_states")),
        "patient_age": patient.get("age"),
        "patient_sex": patient.get("sex"),
        "patient_occupation": patient.get("occupation"),
        "diagnoses": _joined(rec.get("diagnoses")),
        "n_items": len(items),
        "n_upheld": sum(1 for it in items if it.get("decision") == "upheld"),
        "n_overturned": sum(1 for it in items if it.get("decision") == "overturned"),
        "needs_review": bool(rec.get("needs_review")),
        "n_checks": len(rec.get("checks") or []),
        "backend": row["backend"],
        "backend_version": row["backend_version"],
        "model": row["model"],
        "prompt_version": row["prompt_version"],
        "schema_version": prov.get("schema_version"),
        "fallback": bool(prov.get("fallback")),
        "prompt_tokens": row["prompt_tokens"],
        "completion_tokens": row["completion_tokens"],
        "seconds": round(float(row["seconds"]), 4),
        "source_file": row["source_path"],
        "text_sha256": row["text_sha256"],
        "file_sha256": row["file_sha256"],
        "key": row["key"],
    }


def item_rows(row: Any, rec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The ``items`` rows of one stored result, ``item_index`` counting from 1."""
    specialties = _joined((rec.get("reviewer") or {}).get("specialties"))
    for i, it in enumerate(rec.get("items") or [], start=1):
        med = it.get("medication") or {}
        sources = it.get("guideline_sources") or {}
        yield {
            "letter_id": rec.get("letter_id") or row["letter_id"],
            "item_index": i,
            "request": it.get("request"),
            "original_request": it.get("original_request"),
            "decision": it.get("decision"),
            "category": it.get("category"),
            "quantity": it.get("quantity"),
            "frequency_per_week": it.get("frequency_per_week"),
            "duration_weeks": it.get("duration_weeks"),
            "body_region": it.get("body_region"),
            "retrospective": bool(it.get("retrospective")),
            "date_of_service": it.get("date_of_service"),
            "cpt_codes": _joined(it.get("cpt_codes")),
            "medication_name": med.get("name"),
            "medication_strength": med.get("strength"),
            "medication_days_supply": med.get("days_supply"),
            "claims_administrator_sources": _joined(sources.get("claims_administrator")),
            "maximus_sources": _joined(sources.get("maximus")),
            "maximus_guideline": it.get("maximus_guideline"),
            "case_number": rec.get("case_number"),
            "decision_date": rec.get("decision_date"),
            "reviewer_specialties": specialties,
            "backend": row["backend"],
            "model": row["model"],
            "key": row["key"],
        }


def failure_row(row: Any) -> dict[str, Any]:
    error = json.loads(row["error_json"]) if row["error_json"] else {}
    return {
        "letter_id": row["letter_id"],
        "source_file": row["source_path"],
        "error_class": row["error_class"],
        "error_message": row["error_message"],
        "field": error.get("field"),
        "cause": error.get("cause"),
        "attempts": row["attempts"],
        "backend": row["backend"],
        "backend_version": row["backend_version"],
        "model": row["model"],
        "prompt_version": row["prompt_version"],
        "finished_at": row["finished_at"],
        "file_sha256": row["file_sha256"],
        "key": row["key"],
    }


# --- writers -------------------------------------------------------------------
def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _write_csv(path: Path, columns: dict[str, str], rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(list(columns))
        for r in rows:
            writer.writerow([_csv_cell(r[c]) for c in columns])
            n += 1
    return n


def _write_jsonl(path: Path, columns: dict[str, str], rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps({c: r[c] for c in columns}, ensure_ascii=False) + "\n")
            n += 1
    return n


def _require_pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:
        raise ConfigError(
            'Parquet export needs pyarrow: pip install "llm-extract[parquet]" '
            "(or export --format csv / jsonl)",
            field="format",
            cause=exc,
        ) from exc
    return pyarrow


def _write_parquet(path: Path, columns: dict[str, str], rows: Iterable[dict[str, Any]]) -> int:
    pa = _require_pyarrow()
    import pyarrow.parquet as pq

    types = {
        "str": pa.string(),
        "int": pa.int64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "float": pa.float64(),
    }
    schema = pa.schema([(c, types[t]) for c, t in columns.items()])
    date_cols = [c for c, t in columns.items() if t == "date"]
    n = 0
    with pq.ParquetWriter(str(path), schema) as writer:
        chunk: list[dict[str, Any]] = []

        def flush() -> None:
            for r in chunk:
                for c in date_cols:
                    if r[c] is not None:
                        r[c] = dt.date.fromisoformat(r[c])
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
            chunk.clear()

        for r in rows:
            chunk.append(r)
            n += 1
            if len(chunk) >= _CHUNK_ROWS:
                flush()
        if chunk or n == 0:
            flush()  # an empty table still gets its schema
    return n


_WRITERS: dict[str, Callable[[Path, dict[str, str], Iterable[dict[str, Any]]], int]] = {
    "csv": _write_csv,
    "jsonl": _write_jsonl,
    "parquet": _write_parquet,
}


def _write_atomic(
    path: Path, fmt: str, columns: dict[str, str], rows: Iterable[dict[str, Any]]
) -> int:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        n = _WRITERS[fmt](tmp, columns, rows)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def _records(store: Store, backend: str | None) -> Iterator[tuple[Any, dict[str, Any]]]:
    for row in store.iter_results(DONE, backend=backend):
        yield row, json.loads(row["record_json"])


def export_store(
    outdir: Path, fmt: Format, *, backend: str | None = None, dest: Path | None = None
) -> dict[str, tuple[Path, int]]:
    """Write ``letters``, ``items`` and ``failures`` tables; returns name -> (path, rows)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        _require_pyarrow()  # fail before writing anything
    dest = dest or Path(outdir) / "export"
    with Store(Path(outdir), writer=False) as store:
        try:
            dest.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create {dest}: {exc.strerror}") from exc
        out: dict[str, tuple[Path, int]] = {}
        letters = dest / f"letters.{fmt}"
        out["letters"] = (
            letters,
            _write_atomic(
                letters,
                fmt,
                LETTER_COLUMNS,
                (letter_row(r, d) for r, d in _records(store, backend)),
            ),
        )
        items = dest / f"items.{fmt}"
        out["items"] = (
            items,
            _write_atomic(
                items,
                fmt,
                ITEM_COLUMNS,
                (ir for r, d in _records(store, backend) for ir in item_rows(r, d)),
            ),
        )
        failures = dest / f"failures.{fmt}"
        out["failures"] = (
            failures,
            _write_atomic(
                failures,
                fmt,
                FAILURE_COLUMNS,
                (failure_row(r) for r in store.iter_results(FAILED, backend=backend)),
            ),
        )
    return out
