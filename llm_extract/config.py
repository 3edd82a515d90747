"""Configuration: one frozen dataclass, one function that reads the environment.

Precedence: explicit keyword overrides (CLI flags, API arguments) > environment
variables (``LLM_EXTRACT_*``) > defaults.  The API key itself is never stored in
a flag: ``api_key_env`` names the variable that holds it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

BACKENDS = ("rules", "llm", "hybrid")
INSTRUCTOR_MODES = ("auto", "tools", "json", "json_schema", "md_json")
SCHEMA_IN_PROMPT = ("auto", "yes", "no")
# Mirrors of llm_extract.textroutes / llm_extract.ocr (not imported: config is
# imported by everything, those modules are not needed to build a Config).
TEXT_ROUTES = ("pdfium", "pypdf", "pypdf-layout", "pdftotext", "pdftotext-layout", "ocr")
OCR_MODES = ("auto", "always", "never")
OCR_ENGINES = ("auto", "rapidocr", "tesseract")
# The Config fields that bound what one file may cost (llm_extract.limits);
# each has a flag --max-pages etc. (llm_extract.cli.common) and an environment
# variable (env_var).
LIMIT_FIELDS = ("max_file_mb", "max_pages", "max_chars", "max_ocr_pages", "letter_seconds")


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llm-extract"


# Below this a worker process cannot even import what it runs (Python, PDFium).
MIN_WORKER_MEMORY_MB = 256


@dataclass(frozen=True)
class Config:
    # Which backend `extract()` uses when none is named; None = the embedded
    # default (hybrid on the local model when the `local` extra is installed).
    backend: str | None = None
    # OpenAI-compatible endpoint. None = the embedded local llama.cpp server.
    base_url: str | None = None
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    instructor_mode: str = "auto"
    # Whether JSON mode also pastes the schema into the system message (as
    # instructor does). auto = no for the embedded llama.cpp server, which
    # enforces the schema by grammar, yes for any other endpoint.
    schema_in_prompt: str = "auto"
    temperature: float = 0.0
    timeout_s: float = 120.0
    max_retries: int = 4  # transport retries (timeouts, 429, 5xx)
    max_reasks: int = 2  # instructor re-asks on validation errors
    max_tokens: int = 1024
    # The embedded local model.
    # A factory, so $XDG_CACHE_HOME is read when a Config is made, not at import.
    cache_dir: Path = field(default_factory=_default_cache_dir)
    local_model_path: Path | None = None
    local_host: str = "127.0.0.1"
    local_port: int | None = None  # None = a free port
    local_ctx: int = 4096
    local_threads: int | None = None  # None = all cores
    # Which extractor reads a PDF's text (llm_extract.textroutes.TEXT_ROUTES)
    # and whether pages without a text layer go to OCR (auto/always/never);
    # the OCR engine: auto (rapidocr when the ocr extra is installed, else
    # tesseract when on PATH), rapidocr or tesseract.
    text_from: str = "pdfium"
    ocr: str = "auto"
    ocr_engine: str = "auto"
    # Circuit breaker (llm_extract.loop): stop a run after this many letters in a
    # row fell back to the parser for the same transport reason (0 = never).
    max_consecutive_fallbacks: int = 3
    # Limits on one file (llm_extract.limits; 0 = no limit).  An IMR letter has
    # 2-10 pages; the largest corpus letter has 6 pages, 16,744 characters and
    # 101 kB, so these sit 15-250x above it: a file of a few letters fits, a
    # PDF of 20,000 blank pages or a text of thousands of letters does not.
    max_file_mb: float = 25.0
    max_pages: int = 100
    max_chars: int = 500_000
    # OCR costs 2-10 s of CPU per page (llm_extract.ocr).
    max_ocr_pages: int = 30
    # Wall-clock seconds one letter may take from loading to its record,
    # checked between steps (each page, parsing, each LLM call); a batch's
    # worker process still busy past it is stopped and the letter is a
    # LetterTimeoutError.
    letter_seconds: float = 600.0
    # Address-space cap of each batch worker process, in MB (None = no cap): a
    # letter that needs more fails with MemoryLimitExceeded, not the OOM killer.
    worker_memory_mb: int | None = None

    def __post_init__(self) -> None:
        for name in LIMIT_FIELDS:
            if getattr(self, name) < 0:
                raise ConfigError(
                    f"{name} must be 0 (no limit) or more; fix --{name.replace('_', '-')} "
                    f"or {env_var(name)}",
                    field=name,
                )
        if self.worker_memory_mb is not None and self.worker_memory_mb < MIN_WORKER_MEMORY_MB:
            raise ConfigError(
                f"worker_memory_mb must be at least {MIN_WORKER_MEMORY_MB} (a worker process "
                "needs that much address space to start); fix --worker-memory-mb or "
                "LLM_EXTRACT_WORKER_MEMORY_MB",
                field="worker_memory_mb",
            )
        if self.max_consecutive_fallbacks < 0:
            raise ConfigError(
                "max_consecutive_fallbacks must be 0 (never stop) or more; fix "
                "LLM_EXTRACT_MAX_CONSECUTIVE_FALLBACKS",
                field="max_consecutive_fallbacks",
            )
        if self.backend is not None and self.backend not in BACKENDS:
            raise ConfigError(
                f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}",
                field="backend",
            )
        if self.instructor_mode not in INSTRUCTOR_MODES:
            raise ConfigError(
                f"unknown instructor mode {self.instructor_mode!r}; "
                f"choose one of {', '.join(INSTRUCTOR_MODES)}",
                field="instructor_mode",
            )
        if self.schema_in_prompt not in SCHEMA_IN_PROMPT:
            raise ConfigError(
                f"unknown schema_in_prompt {self.schema_in_prompt!r}; "
                f"choose one of {', '.join(SCHEMA_IN_PROMPT)}",
                field="schema_in_prompt",
            )
        for name, allowed in (
            ("text_from", TEXT_ROUTES),
            ("ocr", OCR_MODES),
            ("ocr_engine", OCR_ENGINES),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(
                    f"unknown {name} {value!r}; choose one of {', '.join(allowed)}", field=name
                )
        if self.local_host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(
                "the embedded server only binds to loopback (127.0.0.1); "
                "run your own server and pass --base-url to use another address",
                field="local_host",
            )

    @property
    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) or None

    def with_overrides(self, **overrides: Any) -> Config:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


_ENV = {
    "backend": ("LLM_EXTRACT_BACKEND", str),
    "base_url": ("LLM_EXTRACT_BASE_URL", str),
    "model": ("LLM_EXTRACT_MODEL", str),
    "api_key_env": ("LLM_EXTRACT_API_KEY_ENV", str),
    "instructor_mode": ("LLM_EXTRACT_INSTRUCTOR_MODE", str),
    "schema_in_prompt": ("LLM_EXTRACT_SCHEMA_IN_PROMPT", str),
    "temperature": ("LLM_EXTRACT_TEMPERATURE", float),
    "timeout_s": ("LLM_EXTRACT_TIMEOUT", float),
    "max_retries": ("LLM_EXTRACT_MAX_RETRIES", int),
    "max_reasks": ("LLM_EXTRACT_MAX_REASKS", int),
    "max_tokens": ("LLM_EXTRACT_MAX_TOKENS", int),
    "cache_dir": ("LLM_EXTRACT_CACHE_DIR", Path),
    "local_model_path": ("LLM_EXTRACT_MODEL_PATH", Path),
    "local_port": ("LLM_EXTRACT_LOCAL_PORT", int),
    "local_ctx": ("LLM_EXTRACT_LOCAL_CTX", int),
    "local_threads": ("LLM_EXTRACT_LOCAL_THREADS", int),
    "text_from": ("LLM_EXTRACT_TEXT_FROM", str),
    "ocr": ("LLM_EXTRACT_OCR", str),
    "ocr_engine": ("LLM_EXTRACT_OCR_ENGINE", str),
    "max_consecutive_fallbacks": ("LLM_EXTRACT_MAX_CONSECUTIVE_FALLBACKS", int),
    "max_file_mb": ("LLM_EXTRACT_MAX_FILE_MB", float),
    "max_pages": ("LLM_EXTRACT_MAX_PAGES", int),
    "max_chars": ("LLM_EXTRACT_MAX_CHARS", int),
    "max_ocr_pages": ("LLM_EXTRACT_MAX_OCR_PAGES", int),
    "letter_seconds": ("LLM_EXTRACT_LETTER_SECONDS", float),
    "worker_memory_mb": ("LLM_EXTRACT_WORKER_MEMORY_MB", int),
}


def env_var(name: str) -> str:
    """The environment variable that sets the ``Config`` field ``name``."""
    return _ENV[name][0]


def load_config(env: dict[str, str] | None = None, **overrides: Any) -> Config:
    """Build a :class:`Config` from ``env`` (default ``os.environ``) plus overrides."""
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}
    for name, (var, conv) in _ENV.items():
        raw = env.get(var)
        if raw is None or raw == "":
            continue
        try:
            values[name] = conv(raw)
        except ValueError as exc:
            raise ConfigError(
                f"{var}={raw!r} is not a valid {conv.__name__}; fix or unset it",
                field=name,
                cause=exc,
            ) from exc
    known = {f.name for f in fields(Config)}
    unknown = set(overrides) - known
    if unknown:
        raise ConfigError(f"unknown configuration option(s): {', '.join(sorted(unknown))}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Config(**values)
