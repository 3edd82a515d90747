"""``llm-extract eval``: score a backend, or a predictions file, against gold records."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from ..api import close_backends, get_backend
from ..backends import default_backend_name
from ..errors import BackendUnavailableError, InputError
from ..evaluation import headline
from ..evaluation.calibration import examples, leave_one_split_out, print_calibration
from ..evaluation.compare import compare, load_result, print_comparison
from ..evaluation.gold import SPLITS, GoldRecord, gold_digest, load_gold, load_predictions
from ..evaluation.report_html import write_html
from ..evaluation.report_json import result_to_dict
from ..evaluation.report_text import print_report
from ..evaluation.runner import (
    attach_texts,
    default_gold_dir,
    default_letters_dir,
    predictions_from_records,
    run_backend,
)
from ..evaluation.scoring import FIELD_NAMES, EvalResult, evaluate
from ..loop import LetterResult
from ..textroutes import route_available
from .common import backend_options, config_from_options


def parse_fail_under(specs: Sequence[str]) -> list[tuple[str, float]]:
    """``FIELD=VALUE`` pairs; VALUE is a fraction in [0, 1]."""
    out = []
    for spec in specs:
        name, sep, raw = spec.partition("=")
        name = name.strip()
        if not sep or not name:
            raise click.BadParameter(
                f"{spec!r}: expected FIELD=VALUE, e.g. decision=0.9", param_hint="--fail-under"
            )
        if name not in headline.names() and name not in FIELD_NAMES:
            raise click.BadParameter(
                f"{spec!r}: unknown field {name!r}; use a field name "
                f"(e.g. decision, patient.age) or one of {', '.join(headline.names())}",
                param_hint="--fail-under",
            )
        try:
            value = float(raw)
        except ValueError:
            raise click.BadParameter(
                f"{spec!r}: {raw!r} is not a number", param_hint="--fail-under"
            ) from None
        if not 0.0 <= value <= 1.0:
            raise click.BadParameter(
                f"{spec!r}: use a fraction between 0 and 1 (0.9, not 90)", param_hint="--fail-under"
            )
        out.append((name, value))
    return out


def check_fail_under(
    figures: dict[str, float | None], limits: list[tuple[str, float]]
) -> str | None:
    """One line naming every violated limit, or None when all hold."""
    bad = []
    for name, limit in limits:
        got = figures.get(name)
        if got is None or got < limit:
            shown = "n/a" if got is None else f"{got:.4f}"
            bad.append(f"{name} {shown} < {limit:.4f}")
    return "fail-under: " + "; ".join(bad) if bad else None


def _figures_from_dict(result: dict[str, Any]) -> dict[str, float | None]:
    """Field scores and headline figures of an ``eval --json`` document."""
    return {**(result.get("fields") or {}), **headline.from_json(result)}


def _run_meta(predictions: dict[str, LetterResult]) -> dict[str, Any]:
    """Backend version, model and prompt version, from the first record's provenance."""
    for p in predictions.values():
        if p.record is not None and p.record.provenance is not None:
            prov = p.record.provenance
            return {
                "backend_version": prov.backend_version,
                "model": prov.model,
                "prompt_version": prov.prompt_version,
            }
    return {"backend_version": None, "model": None, "prompt_version": None}


def _package_version() -> str:
    from .. import __version__

    return __version__


@click.command("eval")
@click.option(
    "--predictions",
    "predictions_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Score this JSON Lines file of records (llm-extract extract -o) instead of running "
    "a backend.",
)
@click.option(
    "--gold",
    "gold_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of gold records <letter_id>.json, searched recursively (default: evals/fixtures).",
)
@click.option(
    "--letters",
    "letters_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the letters are: <DIR>/letters/<id>.pdf, <DIR>/seeds/<id>.txt or <DIR>/<id>.* "
    "(default: $IMR_CORPUS, else ../shared/corpus).",
)
@click.option(
    "--split",
    type=click.Choice(SPLITS),
    default="all",
    show_default=True,
    help="Which gold sub-folder to score (dev/ or test/ under --gold).",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N letters.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (docs/eval.md).")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a self-contained HTML report (per-field bars, per-letter drill-down).",
)
@click.option(
    "--save-predictions",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the backend's records to this JSON Lines file (re-score later with --predictions).",
)
@click.option(
    "--compare",
    "compare_files",
    nargs=2,
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="A.json B.json",
    help="Show per-field deltas between two --json results (B - A); runs nothing.",
)
@click.option(
    "--fail-under",
    "fail_under",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Exit 1 when FIELD's score is below VALUE (a fraction). FIELD: a field name "
    f"(decision, patient.age, medication.name …) or {', '.join(headline.names())}. "
    "Repeatable. With --compare, applies to B.",
)
@click.option(
    "--calibration",
    is_flag=True,
    help="Also measure the per-value confidence leave-one-split-out: each split scored by a "
    "model fitted on the others (calibration table, silent letters, flagged values).",
)
@backend_options
def eval_command(
    predictions_file: Path | None,
    gold_dir: Path | None,
    letters_dir: Path | None,
    split: str,
    limit: int | None,
    as_json: bool,
    html_file: Path | None,
    save_predictions: Path | None,
    compare_files: tuple[Path, Path] | None,
    fail_under: tuple[str, ...],
    calibration: bool,
    **backend_opts: str | None,
) -> int:
    """Score extraction against hand-labelled gold records (RECORD.md's scoring rules).

    \b
    Examples:
      llm-extract eval --backend rules                   # table over evals/fixtures
      llm-extract eval --backend rules --json > rules.json
      llm-extract eval --predictions out.jsonl --gold evals/fixtures --html report.html
      llm-extract eval --compare evals/baseline-rules.json hybrid.json
      llm-extract eval --backend rules --fail-under decision=0.95 --fail-under mean_field_score=0.8

    Reports per-field accuracy (or F1 for list fields), item precision/recall after
    aligning predicted to gold items, decision accuracy, the mean field score, and
    seconds and tokens per letter. A letter that fails is scored as an empty record and
    listed as an error. Exit code 1 when a --fail-under limit is violated.
    """
    limits = parse_fail_under(fail_under)
    out_console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 130)
    if compare_files:
        if predictions_file or any(v is not None for v in backend_opts.values()):
            raise click.UsageError(
                "--compare reads two results; it cannot be combined with --backend or --predictions"
            )
        return _fail_under(_compare(compare_files, as_json, out_console), limits)
    if predictions_file and backend_opts.get("backend"):
        raise click.UsageError("give either --backend (run it) or --predictions (score a file)")

    gold_root = gold_dir or default_gold_dir()
    letters_root = letters_dir or default_letters_dir()
    gold = load_gold(gold_root, split=split)[:limit]
    meta = _meta(gold, gold_root, split)
    if predictions_file:
        predictions = _read_predictions(predictions_file, gold, letters_root, meta, bool(html_file))
    else:
        predictions = _run(gold, letters_root, backend_opts, meta)
    meta.update(_run_meta(predictions))
    result = evaluate(gold, predictions, meta=meta)

    if save_predictions:
        _save_predictions(save_predictions, predictions)
    if calibration:
        if len({g.split for g in gold}) < 2:
            raise click.UsageError("--calibration leaves one split out: score two splits or more")
        result.meta["calibration"] = leave_one_split_out(examples(result)).to_dict()
    _report(result, as_json, html_file, out_console)
    if calibration and not as_json:
        print_calibration(result.meta["calibration"], out_console)
    return _fail_under(headline.all_figures(result), limits)


def _fail_under(figures: dict[str, float | None], limits: list[tuple[str, float]]) -> int:
    reason = check_fail_under(figures, limits)
    if reason:
        click.echo(reason, err=True)
        return 1
    return 0


def _compare(files: tuple[Path, Path], as_json: bool, console: Console) -> dict[str, float | None]:
    """Print the comparison of two results; return B's figures (for --fail-under)."""
    a, b = (load_result(p) for p in files)
    cmp = compare(a, b)
    if as_json:
        click.echo(json.dumps(cmp, indent=2))
    else:
        print_comparison(cmp, console)
    return _figures_from_dict(b)


def _meta(gold: list[GoldRecord], gold_root: Path, split: str) -> dict[str, Any]:
    return {
        "backend": None,
        "predictions_file": None,
        "gold_dir": str(gold_root),
        "split": split,
        "gold_sha256": gold_digest(gold),
        "llm_extract_version": _package_version(),
    }


def _read_predictions(
    path: Path,
    gold: Sequence[GoldRecord],
    letters_root: Path,
    meta: dict[str, Any],
    want_texts: bool,
) -> dict[str, LetterResult]:
    """Score mode: the records of a JSON Lines file; the backend if they share one."""
    predictions = predictions_from_records(load_predictions(path), gold)
    meta["predictions_file"] = str(path)
    backends = {
        p.record.provenance.backend
        for p in predictions.values()
        if p.record is not None and p.record.provenance is not None
    }
    meta["backend"] = backends.pop() if len(backends) == 1 else None
    if want_texts and letters_root.is_dir():
        attach_texts(predictions, letters_root)
    return predictions


def _run(
    gold: Sequence[GoldRecord],
    letters_root: Path,
    backend_opts: dict[str, str | None],
    meta: dict[str, Any],
) -> dict[str, LetterResult]:
    """Run mode: extract every gold letter with the configured backend."""
    if not letters_root.is_dir():
        raise InputError(
            f"letters folder not found: {letters_root} (pass --letters DIR or set IMR_CORPUS)"
        )
    config = config_from_options(**backend_opts)
    backend_name = default_backend_name(config)
    meta["backend"] = backend_name
    meta["text_from"] = config.text_from
    meta["ocr"] = config.ocr
    skipped = route_available(config.text_from)
    if skipped is not None:
        # The route's tool is missing here: the run is skipped, not scored as empty.
        raise BackendUnavailableError(f"text route {config.text_from} skipped: {skipped}")
    try:
        get_backend(backend_name, config)  # fail fast when the backend cannot run
        return _run_with_progress(gold, letters_root, backend_name, config, Console(stderr=True))
    finally:
        close_backends()


def _save_predictions(path: Path, predictions: dict[str, LetterResult]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for p in predictions.values():
            if p.record is not None:
                fh.write(p.record.to_json() + "\n")


def _report(result: EvalResult, as_json: bool, html_file: Path | None, console: Console) -> None:
    if as_json:
        click.echo(json.dumps(result_to_dict(result), indent=2, ensure_ascii=False))
    else:
        print_report(result, console)
    if html_file:
        write_html(result, html_file)
        click.echo(f"HTML report written to {html_file}", err=True)


def _run_with_progress(
    gold: Sequence[Any], letters_root: Path, backend: str, config: Any, console: Console
) -> dict[str, LetterResult]:
    if not console.is_terminal:
        return run_backend(gold, letters_root, backend=backend, config=config)
    from rich.progress import Progress

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"{backend}: extracting", total=len(gold))
        return run_backend(
            gold,
            letters_root,
            backend=backend,
            config=config,
            progress=lambda lid: progress.update(task, advance=1, description=f"{backend}: {lid}"),
        )
