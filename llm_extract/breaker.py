"""The circuit breaker of the loop: stop a run whose LLM endpoint is gone.

A ``hybrid`` letter whose LLM call fails after its retries still "works": it
is the parser's record, marked ``provenance.fallback``.  Against a mistyped
URL or a server that died, every letter would, and the archive would be
silently degraded.  :class:`FallbackBreaker` watches the results of a run
(:func:`llm_extract.loop.run_letters`, the batch) and stops it.

It reads a letter's outcome through :class:`Outcome` — what it needs of
:class:`llm_extract.loop.LetterResult` — so it depends on no module above it.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from .config import Config
from .errors import EndpointDownError


class Outcome(Protocol):
    """What the breaker reads of one letter's result."""

    @property
    def ok(self) -> bool: ...
    @property
    def fallback(self) -> bool: ...
    @property
    def fallback_reason(self) -> str | None: ...
    @property
    def error_class(self) -> str | None: ...
    @property
    def error(self) -> dict[str, Any] | None: ...


# The provider's messages for an endpoint that did not serve the request at all
# (llm_extract.llm.transport.translate), by reason class.  A validation failure
# (the model answered, but nonsense) is about the letter and is not listed.
_TRANSPORT_REASONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("cannot reach the endpoint", re.compile(r"cannot reach|connect(ion)? ?(error|refused)", re.I)),
    (
        "the endpoint does not answer in time",
        re.compile(r"did not answer within|timed? ?out", re.I),
    ),
    ("the endpoint keeps failing (HTTP 5xx)", re.compile(r"HTTP 5\d\d", re.I)),
    ("the endpoint keeps rate-limiting (HTTP 429)", re.compile(r"HTTP 429", re.I)),
    ("the endpoint sends malformed responses", re.compile(r"malformed", re.I)),
)
# Errors that say the LLM failed (the ``llm`` backend has no fallback: it fails).
_LLM_ERRORS = frozenset({"LLMError", "EndpointDownError"})


def transport_reason(text: str | None) -> str | None:
    """The transport reason class of an LLM failure message, or None."""
    if not text:
        return None
    for reason, pattern in _TRANSPORT_REASONS:
        if pattern.search(text):
            return reason
    return None


def _failure_text(result: Outcome) -> str | None:
    if result.fallback:
        return result.fallback_reason or ""
    if result.error is not None and result.error_class in _LLM_ERRORS:
        return str(result.error.get("message") or "")
    return None


class FallbackBreaker:
    """Stops a run when ``limit`` letters in a row fail on the LLM's transport.

    A letter counts when it is a fallback record (or, for the ``llm`` backend,
    an ``LLMError``) whose reason is one transport class (cannot reach, time
    out, 5xx, 429, malformed).  A letter the LLM served resets the count; a
    letter that failed before the LLM (a bad PDF) does neither.  ``limit`` 0
    never stops.  :meth:`observe` raises :class:`EndpointDownError` (exit 4).
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self.reason: str | None = None
        self.count = 0
        self.last_message: str | None = None

    @classmethod
    def for_config(cls, config: Config | None) -> FallbackBreaker:
        return cls(config.max_consecutive_fallbacks if config is not None else 3)

    def observe(self, result: Outcome) -> None:
        text = _failure_text(result)
        reason = transport_reason(text)
        if reason is None:
            if text is not None or result.ok:  # the endpoint answered
                self.reason, self.count = None, 0
            return
        if reason == self.reason:
            self.count += 1
        else:
            self.reason, self.count = reason, 1
        self.last_message = text
        if self.limit and self.count >= self.limit:
            raise EndpointDownError(
                f"stopped after {self.count} letters in a row fell back to the parser "
                f"because {self.reason}: {self.last_message}. The letters done are kept; "
                "fix the endpoint (--base-url, the server) and run again "
                "(batch: add --retry-failed to redo the fallbacks)"
            )
