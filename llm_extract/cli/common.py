"""Options shared by the commands that run a backend (extract, eval, batch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..config import (
    BACKENDS,
    INSTRUCTOR_MODES,
    LIMIT_FIELDS,
    OCR_MODES,
    TEXT_ROUTES,
    Config,
    env_var,
    load_config,
)

F = Callable[..., Any]


def backend_options(func: F) -> F:
    """--backend, --base-url, --model, --api-key-env, --instructor-mode, --text-from, --ocr,
    and the limits on one file (--max-file-mb, --max-pages, --max-chars,
    --max-ocr-pages, --letter-seconds)."""
    options: list[Callable[[F], F]] = [
        click.option(
            "--backend",
            "-b",
            type=click.Choice(BACKENDS),
            default=None,
            help="rules | llm | hybrid. Default: $LLM_EXTRACT_BACKEND, else hybrid on the "
            "embedded local model when the `local` extra is installed.",
        ),
        click.option(
            "--base-url",
            default=None,
            help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (vLLM), "
            "http://localhost:11434/v1 (Ollama), https://api.openai.com/v1. "
            "Default: the embedded local llama.cpp server.",
        ),
        click.option("--model", default=None, help="Model name at the endpoint."),
        click.option(
            "--api-key-env",
            default=None,
            help="Name of the environment variable holding the API key (default OPENAI_API_KEY).",
        ),
        click.option(
            "--instructor-mode",
            type=click.Choice(INSTRUCTOR_MODES),
            default=None,
            help="How instructor asks for structured output (default: auto per endpoint).",
        ),
        click.option(
            "--text-from",
            type=click.Choice(TEXT_ROUTES),
            default=None,
            help="Which extractor reads a PDF's text: pdfium (default), pypdf, pypdf-layout, "
            "pdftotext, pdftotext-layout (poppler-utils), ocr (every page). "
            "Default: $LLM_EXTRACT_TEXT_FROM, else pdfium.",
        ),
        click.option(
            "--ocr",
            type=click.Choice(OCR_MODES),
            default=None,
            help="OCR pages without a text layer: auto (default), always, never. "
            'Needs the ocr extra (pip install -e ".[ocr]") or tesseract.',
        ),
    ]
    options += [_limit_option(name) for name in LIMIT_FIELDS]
    for option in reversed(options):
        func = option(func)
    return func


# What each limit bounds, for its flag's help (the defaults come from Config).
_LIMIT_HELP = {
    "max_file_mb": ("MB", "Largest file read, in MB"),
    "max_pages": ("N", "Most pages a PDF may have"),
    "max_chars": ("N", "Most characters of text a file may have"),
    "max_ocr_pages": ("N", "Most pages of one file sent to OCR"),
    "letter_seconds": ("S", "Time budget of one letter, in seconds, from loading to its record"),
}


def _limit_option(name: str) -> Callable[[F], F]:
    metavar, what = _LIMIT_HELP[name]
    default = getattr(Config, name)
    return click.option(
        "--" + name.replace("_", "-"),
        name,
        type=float if isinstance(default, float) else int,
        default=None,
        metavar=metavar,
        help=f"{what} (0 = no limit). Default: ${env_var(name)}, else {default:g}; "
        "past it the file fails with a one-line reason.",
    )


def config_from_options(
    backend: str | None = None,
    base_url: str | None = None,
    model: str | None = None,
    api_key_env: str | None = None,
    instructor_mode: str | None = None,
    **extra: Any,
) -> Config:
    return load_config(
        backend=backend,
        base_url=base_url,
        model=model,
        api_key_env=api_key_env,
        instructor_mode=instructor_mode,
        **extra,
    )
