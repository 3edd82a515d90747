"""Options shared by the commands that run a backend (extract, eval, batch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..config import BACKENDS, INSTRUCTOR_MODES, OCR_MODES, TEXT_ROUTES, Config, load_config

F = Callable[..., Any]


def backend_options(func: F) -> F:
    """--backend, --base-url, --model, --api-key-env, --instructor-mode, --text-from, --ocr."""
    options = [
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
    for option in reversed(options):
        func = option(func)
    return func


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
