"""``llm-extract batch`` and ``export``: archive-scale extraction (``stats``: stats_cmd).

See docs/batch.md.  Exit codes of ``batch``: 0 every letter extracted, 1 some
letter failed (in this run, or in an earlier one and not retried), 5 no letter
failed but some are fallbacks (the parser's record: the LLM failed), 2 bad
usage, 3 configuration (backend unavailable — checked before the first letter —,
OUTDIR locked or not a store), 4 stopped by the circuit breaker (letter after
letter fell back for the same transport reason), 6 stopped because the disk
holding OUTDIR is full (the store is intact: free space and run again), 130
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
from ..batch.pool import describe_workers
from ..batch.run import BatchOptions, BatchSummary, Prices
from ..batch.runner import run_batch
from ..review.labelstudio import write_tasks
from .common import backend_options, config_from_options

EXIT_SOME_FAILED = 1
EXIT_SOME_FELL_BACK = 5
EXIT_INTERRUPTED = 130


def _print_summary(s: BatchSummary, outdir: Path, console: Console) -> None:
    t = Table(title=f"batch summary ({outdir})", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_row("letters in inputs", str(s.total))
    t.add_row("done (extracted now)", str(s.done))
    t.add_row("failed (now)", str(s.failed))
    t.add_row("fallbacks (now: the LLM failed, parser's record)", str(s.fallbacks))
    skipped = f"{s.skipped}"
    if s.duplicates or s.previously_failed or s.previously_fallback:
        skipped += (
            f"  ({s.duplicates} duplicate content, {s.previously_failed} failed earlier, "
            f"{s.previously_fallback} fallbacks earlier)"
        )
    t.add_row("skipped (already in store)", skipped)
    t.add_row("time", f"{s.seconds:.2f} s")
    if s.done + s.failed + s.fallbacks:
        t.add_row("throughput", f"{s.letters_per_s:.1f} letters/s")
    engine = s.executor.startswith(("ray", "batch api"))  # these name their own workers
    t.add_row("workers", s.executor if engine else describe_workers(s.executor, s.concurrency))
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
    if s.previously_failed or s.previously_fallback:
        console.print(
            f"{s.previously_failed + s.previously_fallback} letter(s) failed or fell back "
            "to the parser in an earlier run: add --retry-failed to try them again"
        )
    if s.fallbacks:
        console.print(
            f"[yellow]{s.fallbacks} fallback(s)[/yellow]: the LLM failed and the record is "
            "the parser's (needs_review); --retry-failed extracts them again"
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
    help="Extract again the letters that failed or fell back to the parser before "
    "(without INPUTs: every such letter in OUTDIR). Done letters are still skipped.",
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
@click.option(
    "--engine",
    type=click.Choice(["builtin", "ray"]),
    default="builtin",
    show_default=True,
    help="builtin: this machine's threads/processes; ray: a pool of Ray actors "
    "(local, or a cluster with --ray-address; needs the ray extra). See docs/distributed.md.",
)
@click.option(
    "--ray-address",
    default=None,
    help="Join this Ray cluster (host:port, or 'auto') instead of starting Ray locally.",
)
@click.option(
    "--worker-memory-mb",
    type=click.IntRange(min=256),
    default=None,
    help="Cap each worker process's memory (address space) at this many MB: a letter "
    "needing more fails alone as MemoryLimitExceeded instead of waking the kernel's OOM "
    "killer [env LLM_EXTRACT_WORKER_MEMORY_MB]. Needs worker processes (rules, or "
    "--executor process/multi).",
)
@click.option(
    "--dataset",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With --engine ray: the workers also write letters/ and items/ Parquet parts here.",
)
@click.option(
    "--batch-api",
    is_flag=True,
    help="Send the LLM requests through the endpoint's Batch API (/v1/batches: about "
    "half the price, results within 24 h); a killed command resumes polling.",
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
    engine: str,
    ray_address: str | None,
    worker_memory_mb: int | None,
    dataset: Path | None,
    batch_api: bool,
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
    every letter was extracted, 1 when any failed, 5 when some fell back to the
    parser (the LLM failed); 3 when the backend cannot run (checked before the
    first letter), 4 when letter after letter fell back (the run stops), 6 when
    the disk holding OUTDIR is full (the store is intact; free space, run again).

    \b
    A letter that crashes, hangs (past LLM_EXTRACT_LETTER_SECONDS) or exhausts
    its worker process fails alone (WorkerCrashed, LetterTimeoutError,
    MemoryLimitExceeded); the worker is replaced and the run goes on.
    """
    if not inputs and not retry_failed:
        raise click.UsageError("give at least one INPUT (file, folder, glob or @list)")
    if engine != "ray" and (ray_address or dataset):
        raise click.UsageError("--ray-address and --dataset go with --engine ray")
    if batch_api and engine == "ray":
        raise click.UsageError("--batch-api runs on the endpoint's side: drop --engine ray")
    config = config_from_options(**backend_opts)
    if worker_memory_mb is not None:
        config = config.with_overrides(worker_memory_mb=worker_memory_mb)
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
        if batch_api:
            from ..batch.batch_api import run_batch_api

            summary = run_batch_api(opts)
        elif engine == "ray":
            from ..batch.ray_engine import RayOptions, run_batch_ray

            summary = run_batch_ray(opts, RayOptions(address=ray_address, dataset=dataset))
        else:
            summary = run_batch(opts)
    finally:
        close_backends()
    _print_summary(summary, outdir, Console())
    if summary.stopped is not None:
        raise summary.stopped  # one line and its exit code (3 or 4), after the summary
    if summary.interrupted:
        return EXIT_INTERRUPTED
    if summary.any_failed:
        return EXIT_SOME_FAILED
    return EXIT_SOME_FELL_BACK if summary.any_fallback else 0


@click.command("export")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="csv",
    show_default=True,
    help="csv (spreadsheets), jsonl, parquet (pandas/DuckDB; needs the parquet extra), "
    "or label-studio (tasks with the extraction as pre-annotations).",
)
@click.option("--backend", default=None, help="Only letters extracted by this backend.")
@click.option(
    "--raw", is_flag=True, help="The extraction as produced, without the review's corrections."
)
def export_command(outdir: Path, fmt: str, backend: str | None, raw: bool) -> int:
    """Write OUTDIR/export/letters.FORMAT, items.FORMAT and failures.FORMAT.

    letters: one row per letter; items: one row per disputed item (join on
    letter_id, or on key when one OUTDIR holds several backends); failures: one
    row per letter that could not be extracted, with its error class and message.
    Values corrected in `llm-extract review` replace the extracted ones
    (column corrected_fields names them) unless --raw.
    """
    written = export_store(outdir, fmt, backend=backend, raw=raw, task_writer=write_tasks)  # type: ignore[arg-type]
    for _name, (path, rows) in written.items():
        click.echo(f"{path}  {rows} row(s)")
    if written.corrected_values or written.stale_corrections:
        click.echo(
            f"{written.corrected_values} value(s) set by a reviewer"
            + (
                f"; {written.stale_corrections} stale correction(s) not applied "
                "(the extraction changed since): see `llm-extract review OUTDIR`"
                if written.stale_corrections
                else ""
            ),
            err=True,
        )
    return 0
