"""Writing one table (CSV, JSON Lines, Parquet) from streamed rows, atomically.

Split from :mod:`.export` (which decides the rows): CSV is UTF-8 with a header
row, ``true``/``false`` booleans and empty cells for null; JSON Lines one
object per line; Parquet typed columns via pyarrow, written in chunks.  Each
file is written under a temporary name and renamed, so a reader never sees
half a table.
"""

from __future__ import annotations

import csv
import itertools
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
    return write_parquet_rows(path, columns, (tuple(r[c] for c in columns) for r in rows))


def write_parquet_rows(
    path: Path, columns: dict[str, str], rows: Iterable[Sequence[Any]], chunk: int = _CHUNK_ROWS
) -> int:
    """:func:`write_parquet_blocks` of ``rows``, ``chunk`` rows at a time."""
    it = iter(rows)
    return write_parquet_blocks(path, columns, iter(lambda: list(itertools.islice(it, chunk)), []))


def write_parquet_blocks(
    path: Path, columns: dict[str, str], blocks: Iterable[Sequence[Sequence[Any]]]
) -> int:
    """Parquet of rows given a block at a time (one row group each), each row a
    tuple in ``columns``' order (booleans may be 0/1, as SQLite gives them; dates
    ISO text), built a column at a time: the query views of a large store are
    written in seconds."""
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

    def array(values: Sequence[Any], kind: str) -> Any:
        if kind == "bool":
            return pa.array([None if v is None else bool(v) for v in values], pa.bool_())
        if kind == "date":
            return pa.array(values, pa.string()).cast(pa.date32())
        return pa.array(values, types[kind])

    n = 0
    with pq.ParquetWriter(str(path), schema) as writer:
        for block in blocks:
            if not block:
                continue
            cols = list(zip(*block, strict=True))
            arrays = [array(v, t) for v, t in zip(cols, columns.values(), strict=True)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            n += len(block)
        if n == 0:  # an empty table still gets its schema
            writer.write_table(schema.empty_table())
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
