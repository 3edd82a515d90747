"""Shared fixtures: where the real corpus is, and how its absence is handled.

Real letters are read from ``../shared/corpus`` (or ``$IMR_CORPUS``), never
copied here.  When the corpus is absent the tests that need it skip with the
reason, unless ``IMR_REQUIRE_CORPUS=1`` (set by ``.ci/run``), where they fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
SYNTHETIC = TESTS / "letters"  # small synthetic letters written for the tests


def corpus_path() -> Path:
    return Path(os.environ.get("IMR_CORPUS") or ROOT.parent / "shared" / "corpus").resolve()


def _require_corpus() -> Path:
    path = corpus_path()
    if (path / "letters").is_dir() and (path / "seeds").is_dir():
        return path
    reason = (
        f"IMR corpus not found at {path}: put the shared corpus beside the repository "
        "(../shared/corpus) or set IMR_CORPUS"
    )
    if os.environ.get("IMR_REQUIRE_CORPUS") == "1":
        pytest.fail(reason + " (IMR_REQUIRE_CORPUS=1, so this is a failure)")
    pytest.skip(reason)


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs the corpus with ``corpus``; keep ``live`` out unless asked.

    A test needs the corpus when the ``corpus`` fixture is in its fixture
    closure (directly, or through ``seeds_dir``, ``letters_dir``,
    ``seed_paths``, ``letter_paths`` or a fixture built on them), so
    ``pytest -m corpus`` selects exactly that tier and ``-m "not corpus"``
    runs without it.  A ``-m`` on the command line replaces the default
    ``-m 'not live'`` of pyproject.toml, so live tests (the real model, minutes
    each) are deselected here unless the expression names ``live``.
    """
    for item in items:
        if "corpus" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.corpus)
    if "live" not in (config.option.markexpr or ""):
        live = [item for item in items if item.get_closest_marker("live")]
        if live:
            config.hook.pytest_deselected(items=live)
            items[:] = [item for item in items if not item.get_closest_marker("live")]


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The corpus root (with ``letters/`` and ``seeds/``); skips or fails when absent."""
    return _require_corpus()


@pytest.fixture(scope="session")
def seeds_dir(corpus: Path) -> Path:
    return corpus / "seeds"


@pytest.fixture(scope="session")
def letters_dir(corpus: Path) -> Path:
    return corpus / "letters"


@pytest.fixture(scope="session")
def seed_paths(seeds_dir: Path) -> list[Path]:
    return sorted(seeds_dir.glob("*.txt"))


@pytest.fixture(scope="session")
def letter_paths(letters_dir: Path) -> list[Path]:
    return sorted(letters_dir.glob("*.pdf"))


def seed(seeds_dir: Path, prefix: str) -> Path:
    """A seed by its number prefix, e.g. ``seed(seeds_dir, "004")``."""
    (match,) = sorted(seeds_dir.glob(f"{prefix}_*.txt"))
    return match


# --- recorded HTTP (pytest-recording / vcrpy) -------------------------------------
# Cassettes are recorded against the real local llama.cpp server at a FIXED
# address (LLM_TEST_BASE_URL below; see docs/llm-backends.md for the command), so
# host and port in the cassettes are stable and replay needs no hook.  Requests
# match on the body too: a changed prompt or schema is a cassette miss, not a
# silently replayed stale answer.
LLM_TEST_BASE_URL = "http://127.0.0.1:8765/v1"
LLM_TEST_MODEL = "qwen2.5-coder-1.5b-instruct-q4_k_m"


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, object]:
    return {
        "match_on": ["method", "scheme", "host", "port", "path", "body"],
        "filter_headers": ["authorization", "api-key", "x-api-key", "cookie", "set-cookie"],
        "decode_compressed_response": True,
    }
