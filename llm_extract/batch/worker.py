"""One letter's work in the batch, in a worker thread or a worker process.

:func:`extract_path` is :func:`llm_extract.loop.process_one` on the task's
path (the one rule for failures lives there: a letter's problem becomes data,
a :class:`~llm_extract.errors.ConfigError` is raised and stops the batch),
plus the two test hooks a batch needs.  The :class:`LetterResult` goes back to
the main process, which writes it with its :class:`Task` (key, content hash)
to the store.
"""

from __future__ import annotations

import faulthandler
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .. import api
from ..base import Backend
from ..config import Config
from ..loop import LetterResult, process_one

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


@dataclass
class Task:
    """A letter to extract, as the main process decided it (picklable)."""

    path: str
    key: str
    file_sha256: str | None


def extract_path(
    task: Task,
    backend: Backend | None = None,
    config: Config | None = None,
    backend_name: str | None = None,
) -> LetterResult:
    """Extract the letter at ``task.path``; raises only what stops the batch.

    Threads pass the shared ``backend`` instance; processes pass
    ``backend_name`` + ``config`` and get this process's cached instance from
    :func:`llm_extract.api.get_backend`.
    """
    delay = os.environ.get(TEST_DELAY_ENV)
    if delay:
        time.sleep(float(delay))
    if backend is None:  # a worker process (threads share the batch's process)
        crash_if_told(Path(task.path).stem)
        backend = api.get_backend(backend_name, config)
    # PDFium is not thread-safe; load_letter serialises PDF reads itself, so
    # thread workers overlap only the extraction.
    return process_one(task.path, backend, config)
