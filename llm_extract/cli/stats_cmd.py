"""``llm-extract stats``: uphold / overturn rates with 95 % intervals, by dimension.

``--by`` picks the dimensions (default: category, MAXIMUS guideline source,
reviewer specialty); ``--by A --by B`` (exactly two) or ``--by A:B`` adds the
two-way table A × B.  The same selection goes to the terminal tables, the
JSON (which always holds every one-way dimension) and the HTML page.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.table import Table

from ..batch.dimensions import DEFAULT_DIMENSIONS, dimension, label
from ..batch.stats import cross_heading, heading, pct_ci, stats_from_store
from ..batch.stats_types import Group, Pair, Stats
from ..intervals import SMALL_GROUP, Rate

SMALL_MARK = "*"


def selection(by: tuple[str, ...]) -> tuple[list[str], list[Pair]]:
    """The one-way dimensions and two-way tables that ``--by`` values ask for."""
    dims: list[str] = []
    pairs: list[Pair] = []
    for value in by:
        if ":" in value:
            a, _, b = value.partition(":")
            pairs.append((dimension(a), dimension(b)))
            dims += [d for d in pairs[-1] if d not in dims]
        elif dimension(value) not in dims:
            dims.append(dimension(value))
    if len(by) == 2 and not pairs and len(dims) == 2:
        pairs.append((dims[0], dims[1]))
    return dims or list(DEFAULT_DIMENSIONS), pairs


def rate_cell(rate: Rate) -> str:
    """``87.4 (83.1-90.8%)``: the rate and its 95 % interval."""
    return "-" if not rate.n else f"{100 * rate.k / rate.n:.1f} ({pct_ci(rate)})"


def _items(g: Group) -> str:
    return f"{g.items}{SMALL_MARK}" if g.small else str(g.items)


def _table(title: str, columns: list[str], groups: list[Group], two_way: bool) -> Table:
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in columns:
        t.add_column(col, min_width=14, ratio=1)
    # Short headers: a one-way table fits a 100-column terminal.
    for col in ("letters", "items", "upheld", "overt.", "upheld % (95% CI)", "overt. % (95% CI)"):
        t.add_column(col, justify="right", no_wrap=True)
    for g in groups:
        names = [g.name, str(g.name2)] if two_way else [g.name]
        t.add_row(
            *names,
            str(g.letters),
            _items(g),
            str(g.upheld),
            str(g.overturned),
            rate_cell(g.uphold),
            rate_cell(g.overturn),
        )
    return t


def print_stats(stats: Stats, dims: list[str], pairs: list[Pair], console: Console) -> None:
    o = stats.overall
    console.print(
        f"[bold]{o.letters}[/bold] letters, [bold]{o.items}[/bold] items: "
        f"upheld {o.uphold}, overturned {o.overturn}; "
        f"{stats.failed_letters} letter(s) failed and are not counted"
    )
    console.print(stats.review.line())
    if len(stats.backends) > 1:
        console.print(
            "[yellow]note[/yellow]: OUTDIR holds results of several backends, all counted: "
            + ", ".join(stats.backends)
            + " (use --backend to pick one)"
        )
    for dim in dims:
        console.print(_table(heading(dim), [label(dim)], stats.rows(dim), False))
    for pair in pairs:
        cols = [label(pair[0]), label(pair[1])]
        console.print(_table(cross_heading(pair), cols, stats.cross_rows(pair), True))
    console.print(
        f"{SMALL_MARK} under {SMALL_GROUP} items: the interval is wide, read the rate with it. "
        "Intervals: Wilson score, 95 %."
    )


@click.command("stats")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--by",
    "by",
    multiple=True,
    metavar="DIM[:DIM]",
    help="Group by this dimension (repeatable): category, maximus_source (guideline_source), "
    "specialty, priority, drug, drug_class, year, quarter, month. Two --by, or A:B, "
    "add the two-way table A × B.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a self-contained HTML page with charts here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON instead.")
@click.option("--backend", default=None, help="Only letters extracted by this backend.")
@click.option(
    "--raw",
    is_flag=True,
    help="Count the extraction as produced, without the review's corrections.",
)
@click.option(
    "--reviewed-only",
    is_flag=True,
    help="Leave out letters flagged for review that no person has reviewed yet.",
)
def stats_command(
    outdir: Path,
    by: tuple[str, ...],
    html_path: Path | None,
    as_json: bool,
    backend: str | None,
    raw: bool,
    reviewed_only: bool,
) -> int:
    """Uphold/overturn rates with 95 % intervals, by category, guideline source, specialty,
    drug, drug class, period … and two-way tables."""
    dims, pairs = selection(by)
    stats = stats_from_store(
        outdir,
        backend=backend,
        raw=raw,
        reviewed_only=reviewed_only,
        pairs=pairs,
        # the JSON holds every dimension; the tables and the page only those asked for
        dims=None if as_json else dims,
    )
    if as_json:
        click.echo(stats.to_json())
    else:
        # Tables are wider than 80 columns: a pipe or a narrow window gets
        # wrapped lines rather than names squeezed to nothing.
        print_stats(stats, dims, pairs, Console(width=max(Console().width, 120)))
    if html_path is not None:
        from ..batch.stats_html import render_html

        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(render_html(stats, dims=dims, pairs=pairs), encoding="utf-8")
        click.echo(f"wrote {html_path}", err=as_json)
    return 0
