"""One letter's work in the batch: load, extract, and report the outcome as data.

:func:`extract_path` runs in a worker thread or a worker process.  It never
raises: a typed :class:`ExtractionError` (bad input, LLM exhausted its
retries) and any unexpected exception alike become a failed :class:`Outcome`
with the error's class and message, so one bad letter never stops the batch.
The outcome is plain data (picklable, no pydantic objects) and carries the
record as JSON text, ready for the store.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import api
from ..backends import Backend
from ..config import Config
from ..errors import ExtractionError
from ..loading import Letter, load_letter

log = logging.getLogger(__name__)

# Test hook, never set in production: seconds to sleep before each letter, so
# a test can SIGKILL a batch of fast rules extractions in mid-run.
TEST_DELAY_ENV = "_LLM_EXTRACT_TEST_LETTER_DELAY"
# Test hook, never set in production: a worker *process* aborts (as a native
# crash would) on the letter with this id, to test that the batch survives it.
TEST_CRASH_ENV = "_LLM_EXTRACT_TEST_CRASH_ON"


def crash_if_told(letter_id: str) -> None:
    """Test hook (``TEST_CRASH_ENV``): a worker process aborts on this letter."""
    if os.environ.get(TEST_CRASH_ENV) == letter_id:
        faulthandler.disable()  # inherited from a test runner: no dump for a planned crash
        os.abort()


def _load(path: str) -> Letter:
    # PDFium is not thread-safe; load_letter serialises PDF reads itself, so
    # thread workers overlap only the extraction.
    return load_letter(path)


@dataclass
class Task:
    """A letter to extract, as the main process decided it (picklable)."""

    path: str
    key: str
    file_sha256: str | None


@dataclass
class Outcome:
    key: str
    path: str
    letter_id: str
    file_sha256: str | None
    backend: str
    backend_version: str
    model: str | None = None
    prompt_version: str | None = None
    text_sha256: str | None = None
    record_json: str | None = None
    error: dict[str, Any] | None = field(default=None)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    items: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.record_json is not None


def error_as_data(exc: BaseException, letter_id: str) -> dict[str, Any]:
    if isinstance(exc, ExtractionError):
        data: dict[str, Any] = dict(exc.to_dict())
        data["letter"] = data.get("letter") or letter_id
        return data
    return {
        "error": type(exc).__name__,
        "message": str(exc) or repr(exc),
        "letter": letter_id,
        "field": None,
        "cause": None,
        "unexpected": True,
    }


def extract_path(
    task: Task,
    ident: tuple[str, str, str | None, str | None],
    backend: Backend | None = None,
    config: Config | None = None,
    backend_name: str | None = None,
) -> Outcome:
    """Extract the letter at ``task.path``; never raises.

    Threads pass the shared ``backend`` instance; processes pass
    ``backend_name`` + ``config`` and get this process's cached instance via
    :func:`llm_extract.api.get_backend` (inside :func:`llm_extract.extract`).
    """
    name, version, model, prompt_version = ident
    letter_id = Path(task.path).stem
    out = Outcome(
        key=task.key,
        path=task.path,
        letter_id=letter_id,
        file_sha256=task.file_sha256,
        backend=name,
        backend_version=version,
        model=model,
        prompt_version=prompt_version,
    )
    delay = os.environ.get(TEST_DELAY_ENV)
    if delay:
        time.sleep(float(delay))
    if backend is None:  # a worker process (threads share the batch's process)
        crash_if_told(letter_id)
    t0 = time.perf_counter()
    try:
        letter = _load(task.path)
        out.text_sha256 = letter.sha256
        record = api.extract(letter, backend=backend or backend_name, config=config)
        out.record_json = record.to_json()
        out.items = len(record.items)
        prov = record.provenance
        if prov is not None:
            out.prompt_tokens = prov.usage.prompt_tokens
            out.completion_tokens = prov.usage.completion_tokens
    except ExtractionError as exc:
        out.error = error_as_data(exc, letter_id)
        _add_usage_from_error(out, exc)
    except Exception as exc:  # a bug in a backend must not stop the batch: record it
        log.exception("unexpected error extracting %s", task.path)
        out.error = error_as_data(exc, letter_id)
    out.seconds = time.perf_counter() - t0
    return out


def _add_usage_from_error(out: Outcome, exc: ExtractionError) -> None:
    # An LLM failure after retries still spent tokens; backends may attach a Usage.
    usage = getattr(exc, "usage", None)
    if usage is not None:
        out.prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        out.completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
