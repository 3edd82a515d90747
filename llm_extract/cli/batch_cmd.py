"""``llm-extract batch``, ``export`` and ``stats``: archive-scale extraction.

See docs/batch.md.  Exit codes of ``batch``: 0 every letter extracted, 1 some
letter failed (in this run, or in an earlier one and not retried), 2 bad usage,
3 configuration (backend unavailable, OUTDIR locked or not a store), 130
interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ..api import close_backends
from ..backends import default_backend_name
from ..batch.export import FORMATS, export_store
from ..batch.runner import BatchOptions, Prices, Summary, describe_workers, run_batch
from ..batch.stats import DIMENSIONS, Stats, heading, pct, stats_from_store
from .common import backend_options, config_from_options

EXIT_SOME_FAILED = 1
EXIT_INTERRUPTED = 130


def _print_summary(s: Summary, outdir: Path, console: Console) -> None:
    t = Table(title=f"batch summary ({outdir})", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_row("letters in inputs", str(s.total))
    t.add_row("done (extracted now)", str(s.done))
    t.add_row("failed (now)", str(s.failed))
    skipped = f"{s.skipped}"
    if s.duplicates or s.previously_failed:
        skipped += f"  ({s.duplicates} duplicate content, {s.previously_failed} failed earlier)"
    t.add_row("skipped (already in store)", skipped)
    t.add_row("time", f"{s.seconds:.2f} s")
    if s.done + s.failed:
        t.add_row("throughput", f"{s.letters_per_s:.1f} letters/s")
    t.add_row("workers", describe_workers(s.executor, s.concurrency))
    t.add_row("tokens", f"{s.prompt_tokens:,} prompt + {s.completion_tokens:,} completion")
    if s.cost_usd is not None:
        t.add_row("estimated cost", f"${s.cost_usd:,.4f}")
    console.print(t)
    for f in s.failures[:10]:
        console.print(f"[red]failed[/red] {f.get('path')}: {f.get('error')}: {f.get('message')}")
    if s.failed > len(s.failures[:10]):
        console.print(
            f"… and {s.failed - len(s.failures[:10])} more: "
            f"`llm-extract export {outdir}` writes them all to export/failures.csv"
        )
    if s.previously_failed:
        console.print(
            f"{s.previously_failed} letter(s) failed in an earlier run: "
            "add --retry-failed to try them again"
        )
    if s.interrupted:
        console.print("[yellow]interrupted[/yellow]: run the same command again to resume")


@click.command("batch")
@click.argument("inputs", nargs=-1)
@click.option(
    "-o",
    "--outdir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the durable store (batch.sqlite3); the same OUTDIR resumes.",
)
@backend_options
@click.option(
    "-j",
    "--concurrency",
    type=click.IntRange(1, 1024),
    default=None,
    help="Letters extracted at once. rules: worker processes (default: CPU count); "
    "llm/hybrid: threads with requests in flight (default 4 with --base-url, "
    "1 on the embedded model, which answers one request at a time).",
)
@click.option(
    "--executor",
    type=click.Choice(["auto", "thread", "process", "multi"]),
    default="auto",
    show_default=True,
    help="auto = processes for rules (CPU-bound), threads for llm/hybrid (HTTP-bound), "
    "and from -j 16 on a --base-url endpoint 'multi': forked worker processes with "
    "threads each (one process's CPU would cap the throughput).",
)
@click.option(
    "--rpm",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="At most this many letters started per minute (evenly spaced).",
)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Extract again the letters that failed before (without INPUTs: every failed "
    "letter in OUTDIR). Done letters are still skipped.",
)
@click.option(
    "--price-prompt",
    type=click.FloatRange(min=0),
    default=None,
    help="USD per 1M prompt tokens, for the cost estimate.",
)
@click.option(
    "--price-completion",
    type=click.FloatRange(min=0),
    default=None,
    help="USD per 1M completion tokens, for the cost estimate.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Live progress bar on stderr (default: when stderr is a terminal).",
)
def batch_command(
    inputs: tuple[str, ...],
    outdir: Path,
    concurrency: int | None,
    executor: str,
    rpm: float | None,
    retry_failed: bool,
    price_prompt: float | None,
    price_completion: float | None,
    progress: bool | None,
    **backend_opts: Any,
) -> int:
    """Extract many letters into OUTDIR, resumably; failures are recorded, not fatal.

    \b
    INPUT: a .pdf/.txt file, a folder (searched recursively), a glob
    ('archive/**/*.pdf', quoted), or a list of paths (@paths.txt, or a file
    ending in .lst/.list/.paths; one path, folder or glob per line).

    \b
    Examples:
      llm-extract batch ../shared/corpus --backend rules -o out/
      llm-extract batch @todo.lst -o out/ --backend llm \\
          --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-7B-Instruct -j 32 --rpm 600
      llm-extract batch -o out/ --retry-failed

    Each letter is committed to OUTDIR/batch.sqlite3 the moment it finishes; run
    the same command again after a crash or Ctrl-C to resume. Exit code 0 when
    every letter was extracted, 1 when any failed.
    """
    if not inputs and not retry_failed:
        raise click.UsageError("give at least one INPUT (file, folder, glob or @list)")
    config = config_from_options(**backend_opts)
    backend = config.backend or default_backend_name(config)
    opts = BatchOptions(
        inputs=list(inputs),
        outdir=outdir,
        backend=backend,
        config=config,
        concurrency=concurrency,
        executor=executor,  # type: ignore[arg-type]
        rpm=rpm,
        retry_failed=retry_failed,
        prices=Prices(price_prompt, price_completion),
        progress=sys.stderr.isatty() if progress is None else progress,
        argv=sys.argv[1:],
    )
    try:
        summary = run_batch(opts)
    finally:
        close_backends()
    _print_summary(summary, outdir, Console())
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED if summary.any_failed else 0


@click.command("export")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="csv",
    show_default=True,
    help="csv (spreadsheets), jsonl, or parquet (pandas/DuckDB; needs the parquet extra).",
)
@click.option("--backend", default=None, help="Only letters extracted by this backend.")
def export_command(outdir: Path, fmt: str, backend: str | None) -> int:
    """Write OUTDIR/export/letters.FORMAT, items.FORMAT and failures.FORMAT.

    letters: one row per letter; items: one row per disputed item (join on
    letter_id, or on key when one OUTDIR holds several backends); failures: one
    row per letter that could not be extracted, with its error class and message.
    """
    written = export_store(outdir, fmt, backend=backend)  # type: ignore[arg-type]
    for _name, (path, rows) in written.items():
        click.echo(f"{path}  {rows} row(s)")
    return 0


def _stats_table(stats: Stats, dim: str) -> Table:
    t = Table(title=heading(dim), title_justify="left")
    t.add_column(DIMENSIONS[dim], min_width=18)
    # Short headers: the table fits an 80-column terminal.
    for col in ("letters", "items", "upheld", "overt.", "upheld %", "overt. %"):
        t.add_column(col, justify="right", no_wrap=True)
    for g in stats.rows(dim):
        t.add_row(
            g.name,
            str(g.letters),
            str(g.items),
            str(g.upheld),
            str(g.overturned),
            pct(g.uphold_rate),
            pct(g.overturn_rate),
        )
    return t


@click.command("stats")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a self-contained HTML page with charts here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON instead.")
@click.option("--backend", default=None, help="Only letters extracted by this backend.")
def stats_command(outdir: Path, html_path: Path | None, as_json: bool, backend: str | None) -> int:
    """Uphold/overturn rates by category, MAXIMUS guideline source and reviewer specialty."""
    stats = stats_from_store(outdir, backend=backend)
    if as_json:
        click.echo(stats.to_json())
    else:
        console = Console()
        o = stats.overall
        console.print(
            f"[bold]{o.letters}[/bold] letters, [bold]{o.items}[/bold] items: "
            f"{o.upheld} upheld ({pct(o.uphold_rate)}), "
            f"{o.overturned} overturned ({pct(o.overturn_rate)}); "
            f"{stats.failed_letters} letter(s) failed and are not counted"
        )
        if len(stats.backends) > 1:
            console.print(
                "[yellow]note[/yellow]: OUTDIR holds results of several backends, all counted: "
                + ", ".join(stats.backends)
                + " (use --backend to pick one)"
            )
        for dim in DIMENSIONS:
            console.print(_stats_table(stats, dim))
    if html_path is not None:
        from ..batch.stats_html import render_html

        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(render_html(stats), encoding="utf-8")
        click.echo(f"wrote {html_path}", err=as_json)
    return 0
