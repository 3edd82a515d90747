"""Worker processes that each extract one letter at a time, watched from outside.

The ``process`` executor of a batch (the ``rules`` backend: CPU-bound PDF
parsing).  Because a worker holds exactly one letter, whatever happens to
the worker is that letter's doing, and is recorded as that letter's typed
failure while the run goes on:

- the worker **dies** (a segfault or abort in a C library, a signal, the
  kernel's OOM killer): :class:`~llm_extract.errors.WorkerCrashed`, with the
  signal or exit code; a new worker takes its place;
- the letter runs past its **time budget** (``Config.letter_seconds``, plus
  ``GRACE_S`` for a budget the letter checks itself): the worker is killed —
  a native loop cannot be interrupted any other way — and the letter is a
  :class:`~llm_extract.errors.LetterTimeoutError`;
- the letter needs more than the worker's **memory cap**
  (``Config.worker_memory_mb``, an address-space rlimit set when the worker
  starts): the allocation fails, the loop records
  :class:`~llm_extract.errors.MemoryLimitExceeded`, and the worker, whose
  heap may be left fragmented or a C library half-initialised, is replaced.

No letter but the culprit is lost or retried: the others are in other
workers.  Workers are spawned as letters arrive (up to ``processes``), so a
re-run that skips everything starts none.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import multiprocessing
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from .. import api
from ..base import Backend
from ..config import Config
from ..errors import ConfigError, LetterTimeoutError, WorkerCrashed
from ..loop import LetterResult
from . import faults
from .worker import Task, extract_path, init_process_worker, messages, settle

log = logging.getLogger(__name__)

# Seconds past the letter's budget before its worker is killed: a budget the
# letter enforces itself ends it with its own typed error first.
GRACE_S = 5.0
_TICK_S = 0.25  # how often deadlines are checked
_REPLACED_AFTER = frozenset({"MemoryLimitExceeded"})  # error classes that retire a worker
READY = "ready"  # a worker's first message: started, backend built
MAX_FAILED_STARTS = 3  # workers dying before they are ready, in a row: stop the batch


def _worker_main(
    conn: Connection, backend_name: str, config: Config, log_level: int, memory_mb: int | None
) -> None:
    """A worker: start up, say so, then take one letter at a time until told to stop."""
    init_process_worker(log_level, memory_mb)
    backend: Backend | Exception
    try:  # before the first letter: its time budget is for the letter, not the imports
        backend = faults.in_worker(api.get_backend(backend_name, config))
    except Exception as exc:  # what stops the batch (a ConfigError): said with the letter
        backend = exc
    conn.send(READY)
    for task in messages(conn):
        payload: LetterResult | BaseException
        try:
            if isinstance(backend, Exception):
                raise backend
            payload = extract_path(task, backend, config)
        except Exception as exc:  # what stops the batch (a ConfigError): the batch decides
            payload = exc
        conn.send(payload)


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process (the spawn context's class)
    conn: Connection
    task: Task | None = None
    future: cf.Future[LetterResult] | None = None
    started: float = 0.0
    ready: bool = False
    timed_out: bool = False
    retiring: bool = False


def describe_death(exitcode: int | None) -> str:
    """How a worker process ended, for the letter's error message."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if name == "SIGKILL":
            return (
                "was killed (SIGKILL; the kernel's OOM killer, most likely: cap each "
                "worker with --worker-memory-mb to get a MemoryLimitExceeded instead)"
            )
        return f"crashed ({name}), most likely in a native library reading this letter"
    return f"exited with code {exitcode}"


class IsolatedProcessPool:
    """``processes`` spawned workers, one letter each at a time; ``submit(task)`` ->
    a future that always ends in a :class:`LetterResult` (or what stops the batch)."""

    def __init__(
        self, processes: int, backend_name: str, config: Config, *, log_level: int
    ) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._args = (backend_name, config, log_level, config.worker_memory_mb)
        self._budget = config.letter_seconds or None
        self._max = max(1, processes)
        self._lock = threading.Lock()
        self._queue: deque[tuple[Task, cf.Future[LetterResult]]] = deque()
        self._workers: list[_Worker] = []
        self._closed = False
        self._failed_starts = 0
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        self._supervisor = threading.Thread(target=self._supervise, name="workers", daemon=True)
        self._supervisor.start()

    # --- the batch's side -------------------------------------------------------
    def submit(self, task: Task) -> cf.Future[LetterResult]:
        fut: cf.Future[LetterResult] = cf.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to a pool that was shut down")
            self._queue.append((task, fut))
            self._dispatch()
        return fut

    def shutdown(self, *, wait: bool = True, cancel_futures: bool = False) -> None:
        """Stop the workers: after their letters (``wait``), or at once."""
        with self._lock:
            self._closed = True
            queued = list(self._queue) if cancel_futures else []
            if cancel_futures:
                self._queue.clear()
        for _, fut in queued:
            fut.cancel()
        deadline = time.monotonic() + (self._budget or 0) + GRACE_S
        while wait and self._busy() and time.monotonic() < deadline:
            time.sleep(_TICK_S / 5)
        with self._lock:
            workers = list(self._workers)
        for w in workers:
            with contextlib.suppress(OSError):
                w.conn.send(None)
        for w in workers:
            w.process.join(timeout=GRACE_S if wait else 0)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
        self._wake()
        self._supervisor.join(timeout=5)

    # --- the pool's side --------------------------------------------------------
    def _busy(self) -> bool:
        with self._lock:
            return any(w.future is not None for w in self._workers)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(None)

    def _spawn(self) -> _Worker:
        ours, theirs = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=_worker_main, args=(theirs, *self._args), daemon=True, name="llm-extract-worker"
        )
        proc.start()
        theirs.close()
        worker = _Worker(proc, ours)
        self._workers.append(worker)
        return worker

    def _dispatch(self) -> None:
        """Hand queued letters to idle workers, starting workers up to the maximum
        (under the lock)."""
        starting = [w for w in self._workers if not w.ready]
        spawned = False
        while self._queue:
            idle = [w for w in self._workers if w.ready and w.future is None and not w.retiring]
            if not idle:
                # One worker starting per queued letter, up to the maximum; the letter
                # goes to whichever worker is ready first.
                more = len(starting) < len(self._queue) and len(self._workers) < self._max
                if more and not self._closed:
                    starting.append(self._spawn())
                    spawned = True
                    continue
                break
            worker = idle[0]
            task, fut = self._queue.popleft()
            if not fut.set_running_or_notify_cancel():
                continue  # cancelled while queued
            worker.task, worker.future, worker.started = task, fut, time.monotonic()
            with contextlib.suppress(OSError):  # it died: its sentinel says how, with this letter
                worker.conn.send(task)
        if spawned:
            self._wake()  # the supervisor must watch the new worker too

    def _supervise(self) -> None:
        while True:
            with self._lock:
                if self._closed and not self._workers:
                    return
                conns = {w.conn: w for w in self._workers}
                sentinels = {w.process.sentinel: w for w in self._workers}
            for ready in wait([*conns, *sentinels, self._wake_r], timeout=_TICK_S):
                if ready is self._wake_r:
                    with contextlib.suppress(EOFError, OSError):
                        while self._wake_r.poll():
                            self._wake_r.recv()
                elif ready in conns:
                    self._receive(conns[ready])
                elif ready in sentinels:
                    self._ended(sentinels[ready])
            self._check_deadlines()
            if self._closed and not self._busy():
                with self._lock:
                    if all(not w.process.is_alive() for w in self._workers):
                        return

    def _receive(self, worker: _Worker) -> None:
        try:
            payload = worker.conn.recv()
        except (EOFError, OSError):
            return  # it died: its sentinel follows
        with self._lock:
            if payload == READY:
                worker.ready = True
                self._dispatch()
                return
            fut, worker.task, worker.future = worker.future, None, None
            if isinstance(payload, LetterResult) and payload.error_class in _REPLACED_AFTER:
                worker.retiring = True
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
            self._dispatch()
        settle(fut, payload)

    def _ended(self, worker: _Worker) -> None:
        worker.process.join()
        with contextlib.suppress(EOFError, OSError):  # a result sent just before it exited
            if worker.future is not None and worker.conn.poll():
                self._receive(worker)
        with self._lock:
            self._workers.remove(worker)
            task, fut = worker.task, worker.future
            worker.conn.close()
            failed_start = not worker.ready and not self._closed
            self._failed_starts = self._failed_starts + 1 if failed_start else 0
            doomed = list(self._queue) if self._failed_starts >= MAX_FAILED_STARTS else []
            if doomed:
                self._queue.clear()
            self._dispatch()  # a new worker takes the queue's next letter
        for _, queued in doomed:  # workers die as they start: this batch cannot run
            if queued.set_running_or_notify_cancel():
                queued.set_exception(
                    ConfigError(
                        f"{MAX_FAILED_STARTS} worker processes in a row died as they started "
                        f"({describe_death(worker.process.exitcode)}); check the environment "
                        "(memory cap, installation) or use --executor thread"
                    )
                )
        if task is None or fut is None:
            return
        if worker.timed_out:
            exc: Exception = LetterTimeoutError(
                f"the letter ran past its time budget of {self._budget:g} s and its worker "
                "was stopped; if the letter is sound, raise the budget "
                "(LLM_EXTRACT_LETTER_SECONDS)",
                letter=Path(task.path).stem,
            )
        else:
            exc = WorkerCrashed(
                f"the worker process extracting this letter {describe_death(worker.process.exitcode)}"
            )
        log.warning("%s: %s; a new worker takes over", task.path, exc)
        fut.set_result(LetterResult.failed(task.path, exc, letter_id=Path(task.path).stem))

    def _check_deadlines(self) -> None:
        if self._budget is None:
            return
        now = time.monotonic()
        with self._lock:
            late = [
                w
                for w in self._workers
                if w.future is not None
                and not w.timed_out
                and now - w.started > self._budget + GRACE_S
            ]
            for w in late:
                w.timed_out = True
                w.process.kill()  # its sentinel fires; _ended records the timeout
