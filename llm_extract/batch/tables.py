"""Writing one table (CSV, JSON Lines, Parquet) from streamed rows, atomically.

Split from :mod:`.export` (which decides the rows): CSV is UTF-8 with a header
row, ``true``/``false`` booleans and empty cells for null; JSON Lines one
object per line; Parquet typed columns via pyarrow, written in chunks.  Each
file is written under a temporary name and renamed, so a reader never sees
half a table.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError

_CHUNK_ROWS = 2000


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


def require_pyarrow() -> Any:
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


def write_parquet(path: Path, columns: dict[str, str], rows: Iterable[dict[str, Any]]) -> int:
    pa = require_pyarrow()
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


def write_parquet_rows(
    path: Path, columns: dict[str, str], rows: Iterable[Sequence[Any]], chunk: int = 50_000
) -> int:
    """:func:`write_parquet` for rows that are tuples in ``columns``' order, as SQLite
    gives them (booleans 0/1, dates ISO text), built a column at a time: the query
    views of a large store are written in seconds, where a dict per row took minutes."""
    pa = require_pyarrow()
    import pyarrow.parquet as pq

    direct = {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}
    via = {"bool": (pa.int64(), pa.bool_()), "date": (pa.string(), pa.date32())}
    schema = pa.schema([(c, direct[t] if t in direct else via[t][1]) for c, t in columns.items()])

    def array(values: Sequence[Any], kind: str) -> Any:
        if kind in direct:
            return pa.array(values, direct[kind])
        first, then = via[kind]
        return pa.array(values, first).cast(then)

    n = 0
    with pq.ParquetWriter(str(path), schema) as writer:
        block: list[Sequence[Any]] = []

        def flush() -> None:
            cols = list(zip(*block, strict=True)) if block else [()] * len(columns)
            arrays = [array(v, t) for v, t in zip(cols, columns.values(), strict=True)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            block.clear()

        for r in rows:
            block.append(r)
            n += 1
            if len(block) >= chunk:
                flush()
        if block or n == 0:
            flush()
    return n


_WRITERS: dict[str, Callable[[Path, dict[str, str], Iterable[dict[str, Any]]], int]] = {
    "csv": _write_csv,
    "jsonl": _write_jsonl,
    "parquet": write_parquet,
}


def write_atomic(
    path: Path, fmt: str, columns: dict[str, str], rows: Iterable[dict[str, Any]]
) -> int:
    return atomic(path, lambda tmp: _WRITERS[fmt](tmp, columns, rows))


def atomic(path: Path, write: Callable[[Path], int]) -> int:
    """``write(tmp)`` then rename ``tmp`` to ``path``: a reader never sees half a table."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        n = write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return n
