"""Worker processes that each run a thread pool: HTTP backends at high concurrency.

At ``-j 32`` against a fast endpoint one Python process is the bottleneck, not
the endpoint: each letter costs ~5–6 ms of client CPU (the openai client,
instructor's parsing, pydantic validation, building the record), all of it
under one GIL, so a thread pool tops out near one core (measured: 0.79–0.87
of the ideal 160 letters/s at 200 ms latency).  Here ``processes`` children
each run ``concurrency / processes`` threads, and the parent only hands out
letters and writes the store.

The children are **forked** from the batch process after the backend has
been built, so they start in milliseconds with everything imported (a
spawned child re-imports openai and instructor: ~1.5 s of CPU each, which
at 160 letters/s is the cost of 200+ letters).  Each child uses its copy of
the backend; :mod:`llm_extract.llm.endpoint` drops a copied HTTP client after a
fork, so no connection is shared between processes.  Only backends that talk
to an endpoint of their own (``--base-url``) run here: a child must never
own, or stop, the embedded llama.cpp server.

A child that dies (native crash, OOM killer) breaks the pool as a dead worker
breaks :class:`concurrent.futures.ProcessPoolExecutor`: every letter in flight
fails with ``BrokenProcessPool``, and the runner retries each of them alone
(a child runs many letters at once, so its death names no single culprit;
the per-letter time budget is not enforced here, as a thread cannot be
stopped: the HTTP client's timeouts bound these letters).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import multiprocessing
import sys
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from ..base import Backend
from ..config import Config
from ..loop import LetterResult
from . import faults
from .worker import Task, extract_path, messages, settle

log = logging.getLogger(__name__)


def fork_available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _child_main(
    tasks: Connection,
    results: Connection,
    backend: Backend,
    config: Config | None,
    threads: int,
    init: Callable[[], None] | None,
) -> None:
    """A child: read tasks, extract them on ``threads`` threads, send results back."""
    # A pool re-made after a crash is forked while the progress bar runs, which
    # has sys.stdout/stderr pointing at its console (whose lock another thread
    # may have held at the fork): the child writes to the real streams.
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    if init is not None:
        init()
    backend = faults.in_worker(backend)  # test hook, inert in normal use
    send_lock = threading.Lock()

    def run(seq: int, task: Task) -> None:
        payload: LetterResult | BaseException
        try:
            payload = extract_path(task, backend, config)
        except Exception as exc:  # what stops the batch (a ConfigError): the parent decides
            payload = exc
        with send_lock:
            results.send((seq, payload))

    with cf.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="extract") as pool:
        for message in messages(tasks):
            pool.submit(run, *message)
    results.close()


@dataclass
class _Child:
    process: Any  # multiprocessing.Process (the fork context's class)
    tasks: Connection
    results: Connection
    inflight: dict[int, cf.Future[LetterResult]] = field(default_factory=dict)


class ThreadedProcessPool:
    """``processes`` forked workers × ``threads`` threads; submit(task) -> Future[LetterResult]."""

    def __init__(
        self,
        processes: int,
        threads: int,
        backend: Backend,
        config: Config | None,
        *,
        init: Callable[[], None] | None = None,
    ) -> None:
        ctx = multiprocessing.get_context("fork")
        self._lock = threading.Lock()
        self._seq = 0
        self._broken: str | None = None
        self._closed = False
        self._children: list[_Child] = []
        for _ in range(processes):
            task_r, task_w = ctx.Pipe(duplex=False)
            result_r, result_w = ctx.Pipe(duplex=False)
            proc = ctx.Process(
                target=_child_main,
                args=(task_r, result_w, backend, config, threads, init),
                daemon=True,
                name="llm-extract-worker",
            )
            proc.start()
            task_r.close()
            result_w.close()
            self._children.append(_Child(proc, task_w, result_r))
        self._reader = threading.Thread(target=self._read, name="pool-results", daemon=True)
        self._reader.start()

    # -- parent side --------------------------------------------------------
    def submit(self, task: Task) -> cf.Future[LetterResult]:
        fut: cf.Future[LetterResult] = cf.Future()
        with self._lock:
            if self._broken is not None:
                raise BrokenProcessPool(self._broken)
            if self._closed:
                raise RuntimeError("cannot submit to a pool that was shut down")
            self._seq += 1
            child = min(self._children, key=lambda c: len(c.inflight))
            child.inflight[self._seq] = fut
            seq = self._seq
        try:
            child.tasks.send((seq, task))
        except OSError as exc:  # the child is gone; the reader will break the pool
            with self._lock:
                child.inflight.pop(seq, None)
            raise BrokenProcessPool(f"a worker process is gone: {exc}") from exc
        return fut

    def _read(self) -> None:
        """Resolve futures as results arrive; break the pool when a child dies."""
        conns = {c.results: c for c in self._children}
        sentinels = {c.process.sentinel: c for c in self._children}
        # Until every child has exited: a dead child's pipe may report EOF before
        # its sentinel does, and only the sentinel says how it ended.
        while sentinels and self._broken is None:
            for ready in wait([*conns, *sentinels]):
                if ready in conns:
                    child = conns[ready]
                    try:
                        seq, payload = ready.recv()
                    except (EOFError, OSError):
                        del conns[ready]  # the child exited (or died)
                        continue
                    self._resolve(child, seq, payload)
                elif ready in sentinels:
                    child = sentinels.pop(ready)
                    child.process.join()
                    self._drain(child, conns)
                    if child.process.exitcode != 0 and not self._closed:
                        self._break(f"a worker process died (exit code {child.process.exitcode})")
                        return

    def _drain(self, child: _Child, conns: dict[Connection, _Child]) -> None:
        """Results a finished child sent before it exited are still in its pipe."""
        if child.results not in conns:
            return
        del conns[child.results]
        while True:
            try:
                if not child.results.poll():
                    return
                seq, payload = child.results.recv()
            except (EOFError, OSError):
                return
            self._resolve(child, seq, payload)

    def _resolve(self, child: _Child, seq: int, payload: LetterResult | BaseException) -> None:
        with self._lock:
            fut = child.inflight.pop(seq, None)
        settle(fut, payload)

    def _break(self, reason: str) -> None:
        log.warning("%s; letters in flight will be retried", reason)
        with self._lock:
            self._broken = reason
            orphans = [f for c in self._children for f in c.inflight.values()]
            for c in self._children:
                c.inflight.clear()
        for c in self._children:  # as ProcessPoolExecutor does: the whole pool goes
            if c.process.is_alive():
                c.process.kill()
        for fut in orphans:
            fut.set_exception(BrokenProcessPool(reason))

    def shutdown(self, *, wait: bool = True, cancel_futures: bool = False) -> None:
        """Stop the workers: after their letters (``wait``), or at once."""
        with self._lock:
            self._closed = True
            orphans = (
                [f for c in self._children for f in c.inflight.values()] if cancel_futures else []
            )
        for c in self._children:
            with contextlib.suppress(OSError):  # already gone
                c.tasks.send(None)
        if not wait:
            for c in self._children:
                if c.process.is_alive():
                    c.process.kill()
        for c in self._children:
            c.process.join()
            c.tasks.close()
        self._reader.join(timeout=5)
        for fut in orphans:
            fut.cancel()
