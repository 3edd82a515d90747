"""The limits on what one file may cost: size, pages, text, OCR pages and time.

Each is a :class:`~llm_extract.config.Config` field (``LIMIT_FIELDS``; 0 = no
limit) with a flag and an environment variable.  Past one, the loader raises a
:class:`~llm_extract.errors.LimitExceededError` whose message names the limit
and how to raise it: ``extract`` exits 2, ``batch`` records the letter's
failure and goes on.

The time budget (``Config.letter_seconds``) is a deadline held in a context
variable for the letter being worked on (:func:`letter_budget`), so the steps
that can take long — reading pages, OCR page by page, parsing, each LLM call —
ask :func:`check_time` between steps without every function in between
passing it along.  A context variable, not a global: the batch runs letters
in several threads at once, each with its own deadline.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .config import Config, env_var
from .errors import (
    FileTooLargeError,
    LetterTimeoutError,
    LimitExceededError,
    TextTooLongError,
    TooManyOcrPagesError,
    TooManyPagesError,
)

_ERRORS: dict[str, type[LimitExceededError]] = {
    cls.limit: cls
    for cls in (
        FileTooLargeError,
        TooManyPagesError,
        TextTooLongError,
        TooManyOcrPagesError,
        LetterTimeoutError,
    )
}


def how_to_raise(name: str, placeholder: str = "N") -> str:
    """The flag and the environment variable that raise the limit ``name``."""
    flag = "--" + name.replace("_", "-")
    return f"raise it with {flag} {placeholder} or {env_var(name)}={placeholder} (0 = no limit)"


def check_limit(config: Config, name: str, value: float, what: str, letter: str) -> None:
    """Raise the limit's error when ``value`` is over ``config.<name>`` (0 = no limit).

    ``what`` says what was measured, e.g. ``"the PDF has 20000 pages"``.
    """
    limit = getattr(config, name)
    if limit and value > limit:
        raise _ERRORS[name](
            f"{what}, over the limit of {limit:g} ({name}); {how_to_raise(name)}",
            letter=letter,
        )


# --- the time budget -------------------------------------------------------------
@dataclass(frozen=True)
class _Budget:
    deadline: float  # time.monotonic()
    seconds: float
    letter: str | None


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "llm_extract_letter_budget", default=None
)


@contextmanager
def letter_budget(seconds: float, letter: str | None = None) -> Iterator[None]:
    """Give the letter worked on inside this block ``seconds`` (0 = no budget)."""
    budget = _Budget(time.monotonic() + seconds, seconds, letter) if seconds else None
    token = _BUDGET.set(budget)
    try:
        yield
    finally:
        _BUDGET.reset(token)


def check_time(step: str) -> None:
    """Raise :class:`LetterTimeoutError` when the current letter is past its budget.

    ``step`` says what was about to happen ("OCR of page 7", "an LLM call").
    Outside :func:`letter_budget` it does nothing.
    """
    budget = _BUDGET.get()
    if budget is None or time.monotonic() <= budget.deadline:
        return
    raise LetterTimeoutError(
        f"the letter took more than its budget of {budget.seconds:g} s (stopped before "
        f"{step}); {how_to_raise('letter_seconds', 'S')}",
        letter=budget.letter,
    )


__all__ = ["check_limit", "check_time", "how_to_raise", "letter_budget"]
