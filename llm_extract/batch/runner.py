"""Run a batch: stream the inputs, skip what the store has, extract the rest
concurrently within a bound and a rate limit, commit each letter as it finishes.

Concurrency: threads, processes or forked processes with threads each, as
:mod:`.pool` decides and runs them.  What a run is (resume, counting,
committing) is :class:`~.run.Run`, shared with the other engines.  Only this
(main) thread touches the store, and at most
``2 × concurrency`` letters are in flight (submitted, not yet committed): the
inputs stream from a generator and results are written and dropped as they
arrive, so memory does not grow with the size of the archive.

Resume: a letter is skipped when its key is in the store (done, or failed or
a fallback unless ``retry_failed``).  Nothing is marked "in flight" in the
store: a letter killed mid-extraction has no row and is simply extracted again.

Stopping: each letter runs through :func:`llm_extract.loop.process_one`, so a
:class:`~llm_extract.errors.ConfigError` met by a letter (a key rejected
mid-run) stops the batch, and the loop's :class:`~llm_extract.breaker.FallbackBreaker`
stops it when letter after letter falls back for the same transport reason.
So does a full disk under OUTDIR (:class:`~llm_extract.errors.DiskFullError`).
Either way what finished is committed, submitting stops, letters not started
are cancelled, and :attr:`BatchSummary.stopped` holds the error.

Workers that die: a ``process`` worker holds one letter, so its death is that
letter's failure (:mod:`.isolation`); a ``multi`` child holds several, so
each is retried alone and the one that kills its worker again is recorded as
:class:`~llm_extract.errors.WorkerCrashed`.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import BrokenExecutor

from .. import api
from ..errors import DiskFullError, WorkerCrashed
from ..loop import LetterResult, check_backend
from .pool import (
    WorkerPool,
    check_worker_limits,
    choose_executor,
    default_concurrency,
    describe_workers,
)
from .progress import BatchProgress
from .run import BatchOptions, BatchSummary, Outcome, Run
from .store import Store
from .worker import Task

log = logging.getLogger(__name__)

__all__ = ["BatchOptions", "BatchSummary", "RateLimiter", "run_batch"]

INFLIGHT_PER_WORKER = 2  # letters handed out per worker: every worker busy, memory bounded


class RateLimiter:
    """At most ``rpm`` letter starts per minute, evenly spaced (no bursts)."""

    def __init__(self, rpm: float | None) -> None:
        self.interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0

    def delay(self) -> float:
        """Seconds to wait before the next start is allowed (0 = now)."""
        if not self.interval:
            return 0.0
        return max(0.0, self._next - time.monotonic())

    def take(self) -> None:
        if self.interval:
            self._next = max(self._next, time.monotonic()) + self.interval


class LocalEngine:
    """The built-in engine's letters in flight on this machine's worker pool."""

    def __init__(self, run: Run, pool: WorkerPool, progress: BatchProgress) -> None:
        self.run, self.pool, self.progress = run, pool, progress
        self.inflight: dict[cf.Future[LetterResult], Task] = {}
        self.suspects: list[Task] = []  # in flight when a multi child died: retry alone
        self.isolated: set[str] = set()

    def submit(self, task: Task) -> None:
        self.inflight[self.pool.submit(task)] = task

    def collect(self, futures: Iterable[cf.Future[LetterResult]]) -> None:
        """Commit every finished letter in ``futures`` (one transaction)."""
        outcomes: list[Outcome] = []
        for fut in futures:
            task = self.inflight.pop(fut)
            if fut.cancelled():  # not started when the run stopped: no row, redone next time
                self.run.release(task)
                continue
            try:
                outcomes.append((task, fut.result()))
            except BrokenExecutor as exc:
                # A multi child died (a crash in native code, the OOM killer) and took
                # every letter in flight in it, innocent or not.  Each is tried again
                # alone (see run_suspects); a letter that kills its worker even then
                # is the culprit and is recorded as failed.
                if task.key not in self.isolated:
                    log.warning("a worker died while extracting %s; will retry it alone", task.path)
                    self.suspects.append(task)
                    continue
                crashed = WorkerCrashed(f"the worker extracting this letter died: {exc}")
                outcomes.append((task, LetterResult.failed(task.path, crashed)))
            except Exception as exc:  # what stops the run, or a last resort: Run decides
                outcomes.append((task, exc))
            self.isolated.discard(task.key)
        self.run.commit(outcomes, self.progress)
        if self.run.stopped is not None:
            for fut in self.pool.cancel_pending(self.inflight):
                self.run.release(self.inflight.pop(fut))

    def run_suspects(self) -> None:
        """Retry, one at a time with nothing else in flight, the letters of a dead worker."""
        while self.suspects:
            if self.run.stopped is not None:
                for task in self.suspects:  # not recorded: redone by the next run
                    self.run.release(task)
                self.suspects.clear()
                return
            self.drain()  # let the rest finish first (they may add suspects)
            task = self.suspects.pop(0)
            self.isolated.add(task.key)
            self.submit(task)
            self.drain()

    def drain(self) -> None:
        while self.inflight:
            self.wait_some(None)

    def wait_some(self, timeout: float | None) -> None:
        if not self.inflight:
            if timeout:
                time.sleep(timeout)
            return
        done, _ = cf.wait(list(self.inflight), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        self.collect(done)


def run_batch(
    opts: BatchOptions,
    *,
    on_result: Callable[[LetterResult, BatchSummary], None] | None = None,
) -> BatchSummary:
    """Run one batch into ``opts.outdir``; returns what happened.

    Raises :class:`ConfigError` before the first letter when the backend cannot
    run (a dead endpoint, a rejected key) or OUTDIR cannot hold a store.  A run
    stopped later (see the module docstring) returns with ``stopped`` set.
    """
    t_start = time.perf_counter()
    mode = choose_executor(opts.backend, opts.executor, opts.concurrency, opts.config)
    check_worker_limits(mode, opts.config)
    concurrency = opts.concurrency or default_concurrency(mode, opts.backend, opts.config)
    # Before the store: a dead endpoint leaves no trace in OUTDIR.
    backend = api.get_backend(opts.backend, opts.config)  # checked when built
    check_backend(backend)  # an instance passed in (library use) is checked here
    with Store(opts.outdir) as store:
        run = Run.begin(
            opts,
            store,
            backend,
            on_result,
            executor=mode,
            concurrency=concurrency,
            started=t_start,
        )
        log.info("batch: %s, %s", run.ident.describe(), describe_workers(mode, concurrency))
        pool = WorkerPool(mode, concurrency, backend, opts.config, str(opts.backend))
        limiter = RateLimiter(opts.rpm)
        max_inflight = INFLIGHT_PER_WORKER * concurrency
        s = run.summary
        progress = BatchProgress(s.total, enabled=opts.progress)
        engine = LocalEngine(run, pool, progress)
        try:
            with progress:
                for task in run.pending(progress):
                    engine.run_suspects()
                    if run.stopped is not None:
                        run.release(task)
                        break
                    while len(engine.inflight) >= max_inflight:
                        engine.wait_some(None)
                    while (wait := limiter.delay()) > 0:
                        engine.wait_some(wait)
                    if run.stopped is not None:
                        run.release(task)
                        break
                    limiter.take()
                    progress.started()
                    engine.submit(task)
                while engine.inflight or engine.suspects:
                    engine.wait_some(None)
                    engine.run_suspects()
        except KeyboardInterrupt:
            s.interrupted = True
            log.warning("interrupted: letters in flight are not recorded and will be redone")
        except DiskFullError as exc:  # met outside a commit (a duplicate's path)
            run.stop(exc)
        finally:
            pool.shutdown(wait=not s.interrupted)
            run.finish()
    return s
