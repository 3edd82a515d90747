"""The ``llm-extract`` command line: a thin layer over :mod:`llm_extract.api`.

Each subcommand lives in its own module and is imported only when used, so
``llm-extract extract --backend rules`` never imports the LLM stack.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from ..errors import ExtractionError

# command name -> "module:attribute"
_COMMANDS = {
    "extract": "llm_extract.cli.extract_cmd:extract_command",
    "schema": "llm_extract.cli.extract_cmd:schema_command",
    "eval": "llm_extract.cli.eval_cmd:eval_command",
    "batch": "llm_extract.cli.batch_cmd:batch_command",
    "export": "llm_extract.cli.batch_cmd:export_command",
    "stats": "llm_extract.cli.stats_cmd:stats_command",
    "query": "llm_extract.cli.query_cmd:query_command",
    "serve": "llm_extract.cli.serve_cmd:serve_command",
    "review": "llm_extract.cli.review_cmd:review_command",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="llm-extract")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug) on stderr.")
def cli(verbose: int) -> None:
    """Turn California IMR Final Determination letters (PDF or text) into typed,
    validated JSON records.

    \b
    Backends:  rules  deterministic parser, no LLM (fast, exact on dates/counts)
               llm    an LLM through an OpenAI-compatible endpoint
               hybrid rules first, the LLM for what rules cannot decide,
                      cross-checked (the default when an LLM is available)
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def main(argv: list[str] | None = None) -> None:
    """Console entry point: typed errors become one line on stderr and an exit code."""
    try:
        # standalone_mode=False: click returns ctx.exit()'s code instead of exiting,
        # and lets our typed errors through to be reported here.
        rv = cli.main(args=argv, prog_name="llm-extract", standalone_mode=False)
    except ExtractionError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
