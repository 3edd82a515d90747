"""The terminal report: a rich table of per-field scores plus the headline figures."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from . import headline, review_signal
from .headline import Figure
from .scoring import DIAGNOSES, EXACT, SET_F1, EvalResult, FieldScore

# "F1~": F1 with Jaccard >= 0.5 word-set matching (diagnoses).
_METRIC = {EXACT: "acc", SET_F1: "F1", DIAGNOSES: "F1~"}


def percent(x: float | None, none: str = "-") -> str:
    """A fraction as a percentage with one decimal, which never rounds an
    imperfect score up to a perfect-looking ``100.0`` (``0.9996`` -> ``99.96``)."""
    if x is None:
        return none
    if x < 1.0 and round(100 * x, 1) >= 100.0:
        return f"{100 * x:.2f}"
    return f"{100 * x:.1f}"


_pct = percent


def _style(x: float | None) -> str:
    if x is None:
        return "dim"
    if x >= 0.9:
        return "green"
    if x >= 0.7:
        return "yellow"
    return "red"


def _counts(fs: FieldScore) -> str:
    if fs.kind == EXACT:
        return f"{fs.correct}/{fs.n}"
    return f"tp {fs.tp} fp {fs.fp} fn {fs.fn}"


def _pr(fs: FieldScore) -> str:
    if fs.kind == EXACT:
        return ""
    return f"{_pct(fs.precision)} / {_pct(fs.recall)}"


def field_table(result: EvalResult, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("field")
    table.add_column("level", style="dim")
    table.add_column("metric", style="dim")
    table.add_column("score %", justify="right")
    table.add_column("counts", justify="right")
    table.add_column("P / R %", justify="right")
    table.add_column("on stated %", justify="right")
    table.add_column("stated", justify="right", style="dim")
    for fs in result.fields.values():
        metric = _METRIC[fs.kind]
        table.add_row(
            fs.name,
            fs.level,
            metric,
            f"[{_style(fs.score)}]{_pct(fs.score)}[/]",
            _counts(fs),
            _pr(fs),
            _pct(fs.score_on_gold_values),
            str(fs.n_gold_values),
        )
    return table


def _headline_lines(result: EvalResult) -> list[str]:
    """One line per headline figure, or per group of them (``items``)."""
    groups: dict[str, list[Figure]] = {}
    for fig in headline.HEADLINES:
        groups.setdefault(fig.group, []).append(fig)
    lines = []
    for group, figs in groups.items():
        if len(figs) == 1 and figs[0].name == group:
            line = f"{figs[0].label:<17} {_figure(figs[0].value(result))}"
        else:
            parts = "  ".join(f"{fig.short} {_figure(fig.value(result))}" for fig in figs)
            line = f"{group:<17} {parts}"
        lines.append(line + _NOTES.get(group, lambda r: "")(result))
    return lines


def _figure(x: float | None) -> str:
    return "-" if x is None else f"{_pct(x)} %"


def _review_note(r: EvalResult) -> str:
    s = review_signal.of(r)
    return (
        f"  (flagged {s.flagged} of {s.letters}; {s.wrong} letters with a wrong field, "
        f"{s.flagged_wrong} of them flagged)"
    )


# Counts shown after a headline line, by group.
_NOTES: dict[str, Callable[[EvalResult], str]] = {
    "mean_field_score": lambda r: f"  (over {len(r.fields)} fields)",
    "items": lambda r: (
        f"  ({r.items.matched} matched of {r.items.gold} gold, {r.items.predicted} predicted)"
    ),
    "review": _review_note,
}


def split_table(result: EvalResult) -> Table | None:
    """The headline figures per gold split (%), when there are several splits."""
    splits = result.by_split()
    if not splits:
        return None
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("split")
    table.add_column("letters", justify="right")
    for fig in headline.HEADLINES:
        head = fig.label if fig.name == fig.group else f"{fig.group} {fig.short}"
        table.add_column("\n".join(textwrap.wrap(head, 10)), justify="right")
    for name, sub in splits.items():
        values = (_pct(fig.value(sub)) for fig in headline.HEADLINES)
        table.add_row(name or "(root)", str(len(sub.letters)), *values)
    return table


def summary_lines(result: EvalResult) -> list[str]:
    cost: dict[str, Any] = result.cost()
    lines = _headline_lines(result)
    lines.append(
        f"letters           {len(result.letters)} scored, {len(result.errors)} failed",
    )
    lines.extend(review_signal.reader_lines(result))
    if cost["seconds_per_letter"] is not None:
        lines.append(
            f"cost              {cost['seconds_per_letter']:.2f} s/letter "
            f"(median {cost['seconds_median']:.2f}, max {cost['seconds_max']:.2f}, "
            f"total {cost['seconds_total']:.1f} s); "
            f"{cost['prompt_tokens_per_letter']:.0f} prompt + "
            f"{cost['completion_tokens_per_letter']:.0f} completion tokens/letter"
        )
    return lines


def print_report(result: EvalResult, console: Console | None = None) -> None:
    console = console or Console()
    meta = result.meta
    source = meta.get("backend") or meta.get("predictions_file") or "?"
    title = f"llm-extract eval: {source} on {meta.get('gold_dir', '?')} (split {meta.get('split', 'all')})"
    console.print(field_table(result, title))
    console.print(
        "[dim]score: accuracy (exact fields) or mean per-instance F1 (lists; F1~ = diagnoses, "
        "Jaccard>=0.5 word matching) over gold instances; null=null counts as correct; "
        "'on stated' = score over instances where gold states a value.[/]"
    )
    for line in summary_lines(result):
        console.print(line, highlight=False)
    splits = split_table(result)
    if splits is not None:
        console.print(splits)
    if result.errors:
        console.print(f"[red]{len(result.errors)} letter(s) failed (scored as empty records):[/]")
        for lr in result.errors[:20]:
            console.print(f"  {lr.letter_id}: {lr.error}", highlight=False, markup=False)
        if len(result.errors) > 20:
            console.print(f"  … and {len(result.errors) - 20} more (see --json)")
