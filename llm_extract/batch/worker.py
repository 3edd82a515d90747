"""One letter's work in the batch, in a worker thread or a worker process.

:func:`extract_path` is :func:`llm_extract.loop.process_one` on the task's
path (the one rule for failures lives there: a letter's problem becomes data,
a :class:`~llm_extract.errors.ConfigError` is raised and stops the batch).
The :class:`LetterResult` goes back to the main process, which writes it with
its :class:`Task` (key, content hash) to the store.

:func:`init_process_worker` prepares a worker *process* (its signals, its
memory cap), whichever pool started it.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import logging
import resource
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from ..base import Backend
from ..config import Config
from ..loop import LetterResult, process_one
from . import faults

MB = 1 << 20


@dataclass
class Task:
    """A letter to extract, as the main process decided it (picklable)."""

    path: str
    key: str
    file_sha256: str | None


def extract_path(task: Task, backend: Backend, config: Config | None = None) -> LetterResult:
    """Extract the letter at ``task.path``; raises only what stops the batch."""
    faults.delay()
    # PDFium is not thread-safe; load_letter serialises PDF reads itself, so
    # thread workers overlap only the extraction.
    return process_one(task.path, backend, config)


def init_process_worker(log_level: int, memory_mb: int | None = None) -> None:
    """Set up a worker process: logging, signals, and the optional memory cap."""
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    # Ctrl-C reaches the whole process group: the main process handles it (records
    # what finished, stops the pool); workers must not die with a traceback each.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        # Die with the batch: a SIGKILLed main process must not leave workers behind.
        with contextlib.suppress(OSError):  # not glibc: workers exit on EOF anyway
            ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if memory_mb:
        # An address-space cap: an allocation past it fails with MemoryError, which
        # the loop records as the letter's MemoryLimitExceeded, instead of the
        # kernel's OOM killer choosing a process (maybe not this one) to kill.
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = memory_mb * MB
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def settle(fut: cf.Future[LetterResult] | None, payload: LetterResult | BaseException) -> None:
    """Resolve ``fut`` with what a worker process sent back: a result, or what it raised."""
    if fut is None:
        return
    if isinstance(payload, BaseException):
        fut.set_exception(payload)
    else:
        fut.set_result(payload)


def messages(conn: Connection) -> Iterator[Any]:
    """What the batch sends a worker process, until it says stop (None) or is gone."""
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the batch has gone
            return
        if message is None:
            return
        yield message
