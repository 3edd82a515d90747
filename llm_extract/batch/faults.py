"""Test hooks that make a batch worker misbehave on purpose; inert unless a test
sets their environment variable (names start with ``_LLM_EXTRACT_TEST``).

They let tests show that a letter which kills, hangs or bloats its worker
process is recorded as that letter's typed failure while the rest of the run
goes on (see :mod:`.isolation`).  They live in the batch package, beside the
workers that call them, because the batch sits below ``devtools`` in the
package layers and must not import it.  A worker *process* runs its
backend through :func:`in_worker`, so the fault strikes inside ``extract()``,
where a real letter's parsing would (in a thread it would take the whole batch
down, so threads never get it).
"""

from __future__ import annotations

import ctypes
import faulthandler
import os
import resource
import signal
import time
from pathlib import Path
from typing import Any

from ..base import Backend
from ..loading import Letter
from ..models import Record

# Seconds to sleep before each letter, so a test can SIGKILL a batch of fast
# rules extractions in mid-run.
TEST_DELAY_ENV = "_LLM_EXTRACT_TEST_LETTER_DELAY"
# A worker process aborts (as a native crash would) on the letter with this id.
TEST_CRASH_ENV = "_LLM_EXTRACT_TEST_CRASH_ON"
# Faults by letter id: "kind:letter_id,kind:letter_id"; kinds are FAULTS' keys.
TEST_FAULTS_ENV = "_LLM_EXTRACT_TEST_FAULTS"
BALLOON_STEP = 64 << 20  # bytes added per step while ballooning


def _abort() -> None:
    faulthandler.disable()  # inherited from a test runner: no dump for a planned crash
    os.abort()


def _segfault() -> None:
    faulthandler.disable()
    ctypes.string_at(0)  # reads address 0: SIGSEGV, as a crash in a C library would


def _killed() -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer ends a process


def _hang() -> None:
    while True:  # blocked in C (sleep), as a native loop would be: only a kill ends it
        time.sleep(3600)


def _balloon() -> None:
    """Grow until the address-space cap stops it (MemoryError); never without a cap."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        raise RuntimeError("the balloon fault needs a memory cap (worker_memory_mb)")
    blocks = []
    while True:
        blocks.append(bytearray(BALLOON_STEP))  # zero-filled: really allocated


FAULTS = {
    "abort": _abort,
    "segv": _segfault,
    "sigkill": _killed,
    "hang": _hang,
    "balloon": _balloon,
}


def planned(letter_id: str, environ: dict[str, str] | None = None) -> str | None:
    """The fault a test planned for ``letter_id``, or None (always None in normal use)."""
    env = os.environ if environ is None else environ
    if env.get(TEST_CRASH_ENV) == letter_id:
        return "abort"
    for entry in filter(None, env.get(TEST_FAULTS_ENV, "").split(",")):
        kind, _, target = entry.partition(":")
        if target == letter_id and kind in FAULTS:
            return kind
    return None


def delay() -> None:
    """Sleep before a letter when a test asked for slow letters (``TEST_DELAY_ENV``)."""
    seconds = os.environ.get(TEST_DELAY_ENV)
    if seconds:
        time.sleep(float(seconds))


def inject(letter_id: str) -> None:
    """Misbehave on ``letter_id`` as a test planned; nothing in normal use."""
    kind = planned(letter_id)
    if kind is not None:
        FAULTS[kind]()


class FaultyBackend:
    """``inner`` with the planned faults struck inside :meth:`extract`."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name, self.version = inner.name, inner.version

    def __getattr__(self, name: str) -> Any:  # model, prompt_version, check …
        return getattr(self.inner, name)

    def extract(self, letter: Letter) -> Record:
        inject(letter.letter_id)
        if letter.source_file and Path(letter.source_file).stem != letter.letter_id:
            inject(Path(letter.source_file).stem)
        return self.inner.extract(letter)

    def close(self) -> None:
        self.inner.close()


def in_worker(backend: Backend) -> Backend:
    """The backend a worker process runs: itself, unless a test planned faults."""
    if os.environ.get(TEST_CRASH_ENV) or os.environ.get(TEST_FAULTS_ENV):
        return FaultyBackend(backend)
    return backend
