"""``llm-extract review OUTDIR``: the local review app over a batch's results.

Also ``--save-gold DIR`` (reviewed letters as gold fixtures) and
``--import-label-studio FILE`` (a Label Studio export as corrections), which
do their work and exit without starting the server.
"""

from __future__ import annotations

import getpass
import webbrowser
from pathlib import Path

import click


def _default_reviewer() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers)
        return "reviewer"


@click.command("review")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--reviewer",
    default=None,
    help="Your name, stored with every correction (default: your login name).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free one).",
)
@click.option(
    "--sample",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Also queue N random unflagged letters for a spot check.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --sample draw.")
@click.option(
    "--ocr-threshold",
    type=click.FloatRange(0, 1),
    default=0.8,
    show_default=True,
    help="Flag letters with an OCR'd page read below this confidence.",
)
@click.option(
    "--save-gold",
    "save_gold",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write every fully reviewed letter as a gold fixture into DIR and exit.",
)
@click.option(
    "--import-label-studio",
    "ls_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read a Label Studio JSON export as corrections and exit.",
)
@click.option("--open/--no-open", "open_browser", default=False, help="Open the page in a browser.")
def review_command(
    outdir: Path,
    reviewer: str | None,
    port: int,
    sample: int,
    seed: int,
    ocr_threshold: float,
    save_gold: Path | None,
    ls_file: Path | None,
    open_browser: bool,
) -> int:
    """Review what the extractor is unsure of, in a local web page.

    \b
    Flagged letters come first (needs_review and its reasons, LLM fallbacks,
    failed letters, low OCR confidence), each with its reasons; each field's
    evidence is highlighted in the letter text.  Corrections are stored in
    OUTDIR/batch.sqlite3 beside the extraction (never over it): `export` and
    `stats` use them, a later batch run keeps them.

    \b
    The page answers on 127.0.0.1 only, and only with the access token in
    the printed address.

    \b
    Examples:
      llm-extract review out/ --reviewer "A. Analyst" --sample 20
      llm-extract review out/ --save-gold evals/fixtures/reviewed
      llm-extract review out/ --import-label-studio project-1-export.json
    """
    from ..batch.corrections import ReviewDB

    who = reviewer or _default_reviewer()
    db = ReviewDB(outdir)
    if save_gold is not None or ls_file is not None:
        if ls_file is not None:
            from ..review.labelstudio import import_label_studio

            summary = import_label_studio(db, ls_file, reviewer=who)
            click.echo(
                f"imported {summary.corrections} correction(s) in {summary.letters} letter(s) "
                f"from {ls_file} ({summary.unchanged} value(s) unchanged)"
            )
            for problem in summary.problems:
                click.echo(f"skipped: {problem}", err=True)
        if save_gold is not None:
            from ..review.gold import save_gold as write_gold

            written = write_gold(db, save_gold)
            click.echo(f"wrote {len(written.written)} gold fixture(s) to {save_gold}")
            for why in written.skipped:
                click.echo(f"not written: {why}", err=True)
            if written.written:
                click.echo(
                    f"score a backend against them: llm-extract eval --gold {save_gold} "
                    "--letters DIR --backend rules"
                )
        db.close()
        return 0

    from ..review.access import Settings, new_token
    from ..review.app import create_app
    from ..review.queue import Queue
    from ..review.server import HOST, bind, serve

    queue = Queue(db, sample=sample, seed=seed, ocr_threshold=ocr_threshold)
    progress = queue.snapshot().progress
    settings = Settings(reviewer=who, token=new_token())
    app = create_app(db, queue, settings)
    sock = bind(port)
    url = f"http://{HOST}:{sock.getsockname()[1]}/?token={settings.token}"
    click.echo(
        f"{progress.in_queue} letter(s) in the queue ({progress.flagged} flagged, "
        f"{progress.sampled} spot checks), {progress.reviewed + progress.unusable} reviewed; "
        f"reviewer: {who}"
    )
    click.echo(f"open {url}", err=False)
    click.echo("Ctrl-C stops the server; corrections are saved as you make them.", err=True)
    if open_browser:
        webbrowser.open(url)
    serve(app, sock)
    return 0
