"""``llm-extract extract`` and ``llm-extract schema``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..api import close_backends, extract_many, get_backend
from ..models import record_json_schema
from ..sources import iter_letter_paths
from .common import backend_options, config_from_options


@click.command("extract")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write JSON Lines here (one record per line). Default: stdout.",
)
@click.option(
    "--jsonl/--pretty",
    "as_jsonl",
    default=None,
    help="Stdout format. Default: pretty JSON for a single letter, JSON Lines otherwise.",
)
@backend_options
def extract_command(
    inputs: tuple[Path, ...], output: Path | None, as_jsonl: bool | None, **backend_opts: str | None
) -> int:
    """Extract IMR letters (.pdf/.txt files or folders of them) into JSON records.

    \b
    Examples:
      llm-extract extract letter.pdf                     # pretty JSON to stdout
      llm-extract extract ../shared/corpus/letters -o out.jsonl --backend rules

    Each line of the output is one record (RECORD.md; `llm-extract schema`);
    a file holding several letters gives one record per letter.
    A letter that cannot be read is reported on stderr with its reason; the rest
    go on, and the exit code is 2 if any letter failed.  A file past one of the
    limits (--max-pages …) fails with a reason naming the limit.
    """
    config = config_from_options(**backend_opts)
    paths = iter_letter_paths(list(inputs))
    if not paths:
        raise click.UsageError("no .pdf or .txt letters found in the given inputs")
    # Fails fast (one line, exit 3) on a backend that cannot run: a dead endpoint,
    # a rejected key, a local server that does not start.
    get_backend(config.backend, config)
    single = len(paths) == 1 and output is None and as_jsonl is not True
    failed = 0
    written = 0
    exit_code = 0
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    results = extract_many(paths, backend=config.backend, config=config)
    if single:
        # One file may hold several letters: pretty JSON is for one record, so
        # such a file's records go out as JSON Lines like several files'.
        everything = list(results)
        single = sum(1 for r in everything if r.record is not None) <= 1
        results = iter(everything)
    try:
        for result in results:
            if result.record is None:
                failed += 1
                click.echo(f"error: {result.error_message}", err=True)
                exit_code = result.exit_code if single else 2
                continue
            if result.fallback:
                reason = result.fallback_reason
                click.echo(
                    f"warning: {result.source}: the LLM failed, the record is the parser's "
                    f"(needs_review): {reason}",
                    err=True,
                )
            written += 1
            if single:
                out.write(result.record.to_json(indent=2) + "\n")
            else:
                out.write(result.record.to_json() + "\n")
                out.flush()
    finally:
        if output:
            out.close()
        close_backends()
    if output:
        click.echo(f"{written} record(s) written to {output}, {failed} failed", err=True)
    return exit_code


@click.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of one record (the same as schemas/record.schema.json)."""
    click.echo(json.dumps(record_json_schema(), indent=2))
