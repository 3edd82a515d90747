"""``llm-extract query OUTDIR "SELECT …"``: SQL over a batch store (DuckDB).

Views ``letters``, ``items``, ``failures``, ``corrections``
(:mod:`llm_extract.batch.sql`); the review's corrections applied unless
``--raw``.  ``--shell`` reads statements from the terminal (or a pipe), each
ended by ``;``.  Exit codes: 0 answered, 2 the SQL failed, 3 DuckDB missing
or OUTDIR not a store.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from ..batch.sql import VIEWS, connect, run_query
from ..errors import QueryError

FORMATS = ("table", "csv", "json")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def write_rows(columns: list[str], rows: Iterator[tuple[Any, ...]], fmt: str) -> int:
    """Print ``rows`` to stdout as ``fmt``; returns how many."""
    n = 0
    out = sys.stdout
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else _plain(v) for v in row])
            n += 1
    elif fmt == "json":  # one array, written as it streams
        out.write("[")
        for row in rows:
            obj = {c: _plain(v) for c, v in zip(columns, row, strict=True)}
            out.write((",\n " if n else "\n ") + json.dumps(obj, ensure_ascii=False, default=str))
            n += 1
        out.write("\n]\n" if n else "]\n")
    else:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for c in columns:
            table.add_column(c)
        for row in rows:
            table.add_row(*("" if v is None else str(_plain(v)) for v in row))
            n += 1
        Console(width=max(Console().width, 120)).print(table)
        click.echo(f"({n} row{'s' if n != 1 else ''})", err=True)
    return n


def _statements(stream: Any) -> Iterator[str]:
    """Statements ended by ``;`` from ``stream``, one prompt per line on a terminal."""
    interactive = stream.isatty()
    buf: list[str] = []
    while True:
        if interactive:
            click.echo("sql> " if not buf else "...> ", nl=False, err=True)
        line = stream.readline()
        if not line:
            break
        if not buf and line.strip().lower() in (".quit", ".exit", "\\q"):
            break
        buf.append(line)
        if line.rstrip().endswith(";"):
            yield "".join(buf).strip()
            buf = []
    if "".join(buf).strip():
        yield "".join(buf).strip()


@click.command("query")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("sql", required=False)
@click.option(
    "--format", "-f", "fmt", type=click.Choice(FORMATS), default="table", show_default=True
)
@click.option("--raw", is_flag=True, help="The extraction as produced, without review corrections.")
@click.option(
    "--shell", is_flag=True, help="Read statements (ended by ;) from the terminal or stdin."
)
def query_command(outdir: Path, sql: str | None, fmt: str, raw: bool, shell: bool) -> int:
    """Run SQL over the views letters, items, failures and corrections of OUTDIR."""
    if not sql and not shell:
        raise click.UsageError('give a query, e.g. "SELECT COUNT(*) FROM items", or --shell')
    con = connect(outdir, raw=raw)
    try:
        if sql:
            write_rows(*run_query(con, sql), fmt)
            return 0
        click.echo(f"views: {', '.join(VIEWS)}; end a statement with ; (.quit to leave)", err=True)
        failed = False
        for statement in _statements(sys.stdin):
            try:
                write_rows(*run_query(con, statement), fmt)
            except QueryError as exc:  # the shell goes on; its exit code says one failed
                click.echo(f"error: {exc}", err=True)
                failed = True
        return QueryError.exit_code if failed else 0
    finally:
        con.close()
