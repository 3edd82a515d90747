"""Compare two ``llm-extract eval --json`` results: per-field deltas.

Typical uses: ``rules`` vs ``hybrid`` on the same gold, or a run before and
after a prompt change.  Only the stable keys are read (the headline
figures of :mod:`.headline` at their dotted paths, and ``fields``), so the
committed baseline (evals/baseline-rules.json) works as either side; a
headline figure one side lacks shows as ``-``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from ..errors import InputError, RecordValidationError
from . import headline
from .report_text import percent

REQUIRED_KEYS = ("mean_field_score", "decision_accuracy", "fields", "items")


def load_result(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"eval result not found: {p}", cause=exc) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordValidationError(f"{p}: not an eval result JSON file: {exc}", cause=exc) from exc
    missing = [k for k in REQUIRED_KEYS if not isinstance(data, dict) or k not in data]
    if missing:
        raise RecordValidationError(
            f"{p}: not an `llm-extract eval --json` result (missing {', '.join(missing)})"
        )
    return dict(data)


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(b - a, 4)


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """``{"headline": {...}, "fields": {name: {"a", "b", "delta"}}, "gold_changed": bool}``."""
    names = list(a["fields"]) + [n for n in b["fields"] if n not in a["fields"]]
    fields = {n: {"a": a["fields"].get(n), "b": b["fields"].get(n)} for n in names}
    for v in fields.values():
        v["delta"] = _delta(v["a"], v["b"])
    ha, hb = headline.from_json(a), headline.from_json(b)
    return {
        "a": _label(a),
        "b": _label(b),
        "gold_changed": a.get("gold_sha256") != b.get("gold_sha256"),
        "headline": {k: {"a": ha[k], "b": hb[k], "delta": _delta(ha[k], hb[k])} for k in ha},
        "fields": fields,
    }


def _label(result: dict[str, Any]) -> str:
    backend, source = result.get("backend"), result.get("predictions_file")
    if backend and source:
        return f"{backend} ({source})"
    return str(backend or source or "?")


def _fmt_delta(d: float | None, better: str | None = "higher") -> str:
    """The delta in points, green when it is an improvement, red when not."""
    if d is None:
        return "-"
    if abs(d) < 5e-5:
        return "[dim]0.0[/]"
    if better is None:
        return f"{100 * d:+.1f}"
    style = "green" if (d > 0) == (better == "higher") else "red"
    return f"[{style}]{100 * d:+.1f}[/]"


def print_comparison(cmp: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    console.print(f"A = {cmp['a']}\nB = {cmp['b']}\nscores in %, delta = B - A", highlight=False)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("field")
    table.add_column("A", justify="right")
    table.add_column("B", justify="right")
    table.add_column("delta", justify="right")
    for name, v in cmp["headline"].items():
        delta = _fmt_delta(v["delta"], headline.better(name))
        table.add_row(f"[bold]{name}[/]", percent(v["a"]), percent(v["b"]), delta)
    table.add_section()
    for name, v in cmp["fields"].items():
        table.add_row(name, percent(v["a"]), percent(v["b"]), _fmt_delta(v["delta"]))
    console.print(table)
    if cmp["gold_changed"]:
        console.print(
            "[yellow]warning: the two results were scored on different gold sets "
            "(gold_sha256 differs); deltas mix labelling and extraction changes[/]"
        )
