"""The workers of a batch: which kind runs the letters, how many, and the pool.

- **HTTP backends (llm, hybrid): a thread pool** of ``concurrency`` threads
  sharing one backend instance.  Their ``extract()`` is synchronous (the
  openai client, instructor, tenacity); a thread blocked on a socket releases
  the GIL, so N threads give N requests in flight with no second, async code
  path through the backends.  One shared instance also means one HTTP
  connection pool and, for the embedded model, one llama.cpp server.
- **HTTP backends at high concurrency on an endpoint of their own
  (``--base-url``, ``-j 16`` and up): forked worker processes running a thread
  pool each** (:mod:`.multipool`), because there one process's CPU, not the
  endpoint, caps the throughput (~5-6 ms of client CPU per letter under one GIL).
- **rules (CPU-bound: PDF text + regex): worker processes** (``spawn``,
  :mod:`.isolation`), one backend and one letter at a time per process, so
  letters parse on every core instead of queueing on the GIL, and a letter that
  crashes, hangs or bloats its worker fails alone.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import logging
import os
import signal
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import BrokenExecutor
from typing import Literal

from ..base import Backend
from ..config import Config
from ..errors import ConfigError
from ..loop import LetterResult
from .isolation import IsolatedProcessPool
from .multipool import ThreadedProcessPool, fork_available
from .run import Executor
from .worker import Task, extract_path, init_process_worker

log = logging.getLogger(__name__)

# What runs the letters once "auto" is decided.
WorkerKind = Literal["thread", "process", "multi"]
HTTP_DEFAULT_CONCURRENCY = 4
# From this many letters in flight on an endpoint of its own, an HTTP batch runs
# in forked worker processes with threads each (see multipool.py): below it one
# process has CPU to spare (measured 0.94-0.97 of the ideal at -j 1 and -j 8).
MULTI_MIN_CONCURRENCY = 16
THREADS_PER_PROCESS = 8


def choose_executor(
    backend: str | Backend,
    executor: Executor,
    concurrency: int | None = None,
    config: Config | None = None,
) -> WorkerKind:
    """``auto``: processes for ``rules`` (CPU-bound), threads for HTTP backends, and
    forked processes with threads each for an HTTP backend on an endpoint of its
    own (``--base-url``) from ``MULTI_MIN_CONCURRENCY`` letters in flight."""
    if executor == "multi":
        _check_multi(config)
        return "multi"
    if not isinstance(backend, str):
        if executor == "process":
            raise ConfigError("a backend instance cannot be sent to worker processes; name it")
    elif executor != "auto":
        return executor
    elif backend == "rules":
        return "process"
    if (
        executor == "auto"
        and concurrency is not None
        and concurrency >= MULTI_MIN_CONCURRENCY
        and config is not None
        and config.base_url is not None
        and (os.cpu_count() or 1) > 1
        and fork_available()
    ):
        return "multi"
    return "thread"


def _check_multi(config: Config | None) -> None:
    if not fork_available():
        raise ConfigError("--executor multi needs fork(), which this platform lacks; use thread")
    if config is None or config.base_url is None:
        raise ConfigError(
            "--executor multi is for an endpoint of your own (--base-url): worker "
            "processes must not share the embedded server; use --executor thread"
        )


def check_worker_limits(mode: str, config: Config) -> None:
    """A memory cap is per worker *process* of the built-in engine: refuse it for a
    batch whose letters run elsewhere (threads, Ray actors, the Batch API)."""
    if config.worker_memory_mb and mode not in ("process", "multi"):
        where = "in threads (an HTTP backend)" if mode == "thread" else f"on {mode}"
        raise ConfigError(
            f"--worker-memory-mb caps the built-in engine's worker processes, and this batch "
            f"runs {where}: use --executor process (or multi), or drop the cap "
            "(unset LLM_EXTRACT_WORKER_MEMORY_MB)",
            field="worker_memory_mb",
        )


def multi_shape(concurrency: int) -> tuple[int, int]:
    """(processes, threads per process) for ``concurrency`` letters in flight."""
    processes = max(1, min(os.cpu_count() or 1, -(-concurrency // THREADS_PER_PROCESS)))
    return processes, -(-concurrency // processes)


def describe_workers(mode: str, concurrency: int) -> str:
    if mode == "process":
        return f"{concurrency} processes"
    if mode == "multi":
        processes, threads = multi_shape(concurrency)
        return f"{processes} processes x {threads} threads"
    return f"{concurrency} threads"


def default_concurrency(mode: str, backend: str | Backend, config: Config) -> int:
    if mode == "process":
        return os.cpu_count() or 1
    if backend in ("llm", "hybrid") and config.base_url is None:
        # The embedded llama.cpp server answers one request at a time: more in flight
        # only queue there and run into the client's timeout.
        return 1
    return HTTP_DEFAULT_CONCURRENCY


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class WorkerPool:
    """The executor of one batch, recreated when a worker process dies (BrokenProcessPool).

    ``backend`` is the batch's instance (threads share it, forked children copy
    it); ``backend_name`` + ``config`` are what spawned processes build their own from.
    """

    def __init__(
        self,
        mode: str,
        concurrency: int,
        backend: Backend,
        config: Config,
        backend_name: str,
    ) -> None:
        self.mode, self.concurrency = mode, concurrency
        self.backend, self.config, self.backend_name = backend, config, backend_name
        self.executor = self._make()

    def _make(self) -> cf.Executor | ThreadedProcessPool | IsolatedProcessPool:
        level = logging.getLogger().getEffectiveLevel()
        if self.mode == "multi":
            processes, threads = multi_shape(self.concurrency)
            return ThreadedProcessPool(
                processes,
                threads,
                self.backend,
                self.config,
                init=functools.partial(init_process_worker, level, self.config.worker_memory_mb),
            )
        if self.mode == "process":
            return IsolatedProcessPool(
                self.concurrency, self.backend_name, self.config, log_level=level
            )
        return cf.ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="extract")

    def _submit(self, task: Task) -> cf.Future[LetterResult]:
        if isinstance(self.executor, ThreadedProcessPool):
            return self.executor.submit(task)
        if isinstance(self.executor, IsolatedProcessPool):
            # Each process builds (and caches) its own backend from name + config.
            # Worker processes start inside submit(): they inherit an ignored SIGINT,
            # so a Ctrl-C while they are still importing does not print a traceback
            # from each of them; the main process handles it.
            with _sigint_ignored():
                return self.executor.submit(task)
        return self.executor.submit(extract_path, task, self.backend, self.config)

    def cancel_pending(
        self, futures: Iterable[cf.Future[LetterResult]]
    ) -> list[cf.Future[LetterResult]]:
        """Cancel the letters not started yet; returns those cancelled."""
        if isinstance(self.executor, ThreadedProcessPool):
            return []  # its futures never say "running": a cancel would lose a result
        return [f for f in list(futures) if f.cancel()]

    def submit(self, task: Task) -> cf.Future[LetterResult]:
        try:
            return self._submit(task)
        except BrokenExecutor:
            log.warning("the worker pool broke; starting a new one")
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = self._make()
            return self._submit(task)

    def shutdown(self, *, wait: bool) -> None:
        self.executor.shutdown(wait=wait, cancel_futures=True)
