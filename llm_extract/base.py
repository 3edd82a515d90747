"""What every backend (rules, llm, hybrid) is and stamps on its records.

The bottom of the backend stack: ``rules`` and ``llm`` import from here, the
registry that builds backends by name (:mod:`llm_extract.backends`) imports
them lazily, so nothing below points up at the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .config import Config
from .loading import Letter
from .models import Provenance, Record, Usage


@runtime_checkable
class Backend(Protocol):
    """Turns a :class:`Letter` into a :class:`Record`.

    A backend that depends on something outside the process (an LLM endpoint)
    also has ``check() -> None``, which raises
    :class:`~llm_extract.errors.BackendUnavailableError` with a one-line reason
    when that is not usable; :func:`llm_extract.loop.check_backend` calls it
    before the first letter.  It is not part of the protocol so that a plain
    in-process backend needs none.
    """

    name: str
    version: str

    def extract(self, letter: Letter) -> Record: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class BackendIdentity:
    """The parts of a backend that change what a letter's record is (the batch key)."""

    name: str
    version: str
    model: str | None = None
    prompt_version: str | None = None
    # How the letter's text is obtained when it is not the default (PDFium text,
    # OCR only for pages without text): another route gives another text, so
    # another record. None for the default keeps the keys of older stores.
    text_route: str | None = None

    @classmethod
    def of(cls, backend: Backend, config: Config | None = None) -> BackendIdentity:
        # LLM backends expose `model` and `prompt_version` (the values their
        # records' provenance names); rules has neither.
        model = getattr(backend, "model", None)
        prompt_version = getattr(backend, "prompt_version", None)
        return cls(
            name=str(backend.name),
            version=str(backend.version),
            model=str(model) if model is not None else None,
            prompt_version=str(prompt_version) if prompt_version is not None else None,
            text_route=text_route(config),
        )

    def describe(self) -> str:
        parts = [f"{self.name} {self.version}"]
        if self.model:
            parts.append(f"model {self.model}")
        if self.prompt_version:
            parts.append(f"prompt {self.prompt_version}")
        if self.text_route:
            parts.append(f"text {self.text_route}")
        return ", ".join(parts)


def text_route(config: Config | None) -> str | None:
    """The text route as a key part, or None for the default route."""
    if config is None:
        return None
    parts = []
    if config.text_from != "pdfium":
        parts.append(f"from={config.text_from}")
    if config.ocr != "auto":
        parts.append(f"ocr={config.ocr}")
    if config.ocr_engine != "auto":
        parts.append(f"engine={config.ocr_engine}")
    return ";".join(parts) or None


def make_provenance(
    letter: Letter,
    *,
    backend: str,
    version: str,
    model: str | None = None,
    prompt_version: str | None = None,
    usage: Usage | None = None,
    fallback: bool = False,
    fallback_reason: str | None = None,
) -> Provenance:
    return Provenance(
        source_file=letter.source_file,
        text_sha256=letter.sha256,
        backend=backend,
        backend_version=version,
        model=model,
        prompt_version=prompt_version,
        usage=usage or Usage(),
        fallback=fallback,
        fallback_reason=fallback_reason,
        layout=letter.layout.name,
        text_source=letter.text_source,
        ocr=letter.ocr,
        part=letter.part,
    )
