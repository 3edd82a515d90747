"""Run a batch: stream the inputs, skip what the store has, extract the rest
concurrently within a bound and a rate limit, commit each letter as it finishes.

Concurrency: threads, processes or forked processes with threads each, as
:mod:`.pool` decides and runs them.  Either way only this (main) thread touches the store, and at most
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
Either way what finished is committed, submitting stops, letters not started
are cancelled, and :attr:`BatchSummary.stopped` holds the error.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .. import api
from ..base import Backend, BackendIdentity
from ..config import Config
from ..errors import ConfigError, ExtractionError
from ..loop import FallbackBreaker, LetterResult, check_backend, error_as_data
from .identity import file_sha256, letter_key, missing_key
from .inputs import count_inputs, expand_inputs
from .pool import (
    Executor,
    WorkerPool,
    choose_executor,
    default_concurrency,
    describe_workers,
    multi_shape,
)
from .progress import BatchProgress
from .store import DONE, FAILED, FALLBACK, Store
from .worker import Task

log = logging.getLogger(__name__)

# choose_executor, describe_workers, multi_shape: named here for existing importers.
__all__ = [
    "BatchOptions",
    "BatchSummary",
    "Prices",
    "RateLimiter",
    "choose_executor",
    "default_concurrency",
    "describe_workers",
    "multi_shape",
    "run_batch",
]

INFLIGHT_PER_WORKER = 2  # letters handed out per worker: every worker busy, memory bounded


@dataclass(frozen=True)
class Prices:
    """USD per million tokens; ``None`` when not given."""

    prompt: float | None = None
    completion: float | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if self.prompt is None and self.completion is None:
            return None
        return (
            prompt_tokens * (self.prompt or 0.0) + completion_tokens * (self.completion or 0.0)
        ) / 1e6


class WorkerCrashed(Exception):  # the name is the stored error class, as before
    """The worker process extracting a letter died (native crash, OOM killer)."""


@dataclass
class BatchSummary:
    total: int = 0
    done: int = 0  # extracted now (fallbacks not included)
    failed: int = 0
    fallbacks: int = 0  # extracted now, but the parser's record: the LLM failed
    skipped: int = 0  # already in the store (done, or failed/fallback and not retried)
    duplicates: int = 0  # same content as another path (counted in skipped)
    previously_failed: int = 0  # skipped because an earlier run recorded a failure
    previously_fallback: int = 0  # skipped because an earlier run stored a fallback
    seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    interrupted: bool = False
    executor: str = ""
    concurrency: int = 0
    backend: str = ""
    failures: list[dict[str, Any]] = field(default_factory=list)  # first few, for the report
    # The error that stopped the run early (ConfigError, EndpointDownError), if any.
    stopped: ExtractionError | None = field(default=None, repr=False)

    @property
    def any_failed(self) -> bool:
        return self.failed > 0 or self.previously_failed > 0

    @property
    def any_fallback(self) -> bool:
        return self.fallbacks > 0 or self.previously_fallback > 0

    @property
    def letters_per_s(self) -> float:
        n = self.done + self.failed + self.fallbacks
        return n / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["failures"] = [dict(f) for f in self.failures]
        d["stopped"] = error_as_data(self.stopped, None) if self.stopped is not None else None
        d["letters_per_s"] = round(self.letters_per_s, 2)
        return d


@dataclass
class BatchOptions:
    inputs: list[str]
    outdir: Path
    # A backend name, or an instance (library use; always run in threads).
    backend: str | Backend
    config: Config
    concurrency: int | None = None
    executor: Executor = "auto"
    rpm: float | None = None
    retry_failed: bool = False
    prices: Prices = field(default_factory=Prices)
    progress: bool = True
    argv: list[str] = field(default_factory=list)


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


def _make_task(path: Path, ident: BackendIdentity) -> Task:
    # Absolute: the store outlives the working directory (--retry-failed reads it back).
    where = os.path.abspath(path)
    try:
        content = file_sha256(path)
    except OSError:
        # Missing or unreadable: keyed by path; the worker records why it failed.
        return Task(path=where, key=missing_key(path, ident), file_sha256=None)
    return Task(path=where, key=letter_key(content, ident), file_sha256=content)


class _Run:
    """The state of one batch run (main thread only)."""

    def __init__(
        self,
        opts: BatchOptions,
        store: Store,
        ident: BackendIdentity,
        on_result: Callable[[LetterResult, BatchSummary], None] | None,
    ) -> None:
        self.opts = opts
        self.store = store
        self.ident = ident
        self.on_result = on_result
        self.summary = BatchSummary(backend=ident.describe())
        self.breaker = FallbackBreaker.for_config(opts.config)
        self.inflight: dict[cf.Future[LetterResult], Task] = {}
        self.inflight_keys: dict[str, str] = {}  # key -> path
        self.suspects: list[Task] = []  # in flight when a worker died: retry alone
        self.isolated: set[str] = set()
        self.run_id = 0
        self.pool: WorkerPool

    @classmethod
    def begin(
        cls,
        opts: BatchOptions,
        store: Store,
        backend: Backend,
        on_result: Callable[[LetterResult, BatchSummary], None] | None,
        *,
        executor: str,
        concurrency: int,
    ) -> tuple[_Run, Iterator[Path]]:
        """A run recorded in the store, with its inputs walked lazily (every engine)."""
        ident = BackendIdentity.of(backend, opts.config)
        run = cls(opts, store, ident, on_result)
        run.summary.executor, run.summary.concurrency = executor, concurrency
        run.run_id = store.start_run(argv=opts.argv, backend=ident.describe())
        paths, run.summary.total = run.paths()
        return run, paths

    def paths(self) -> tuple[Iterator[Path], int]:
        specs: Iterable[str] = self.opts.inputs
        if not specs and self.opts.retry_failed:
            specs = list(self.store.failed_paths())
        return expand_inputs(specs), count_inputs(specs)

    def collect(self, futures: Iterable[cf.Future[LetterResult]], progress: BatchProgress) -> None:
        """Commit every finished letter in ``futures`` (one transaction), then count them."""
        finished: list[tuple[Task, LetterResult]] = []
        for fut in futures:
            task = self.inflight.pop(fut)
            if fut.cancelled():  # not started when the run stopped: no row, redone next time
                self.inflight_keys.pop(task.key, None)
                continue
            try:
                result = fut.result()
            except BrokenExecutor as exc:
                # A worker process died (a crash in native code, the OOM killer) and
                # took every letter in flight in that pool with it, innocent or not.
                # Each is tried again alone (see run_suspects); a letter that kills
                # its worker even then is the culprit and is recorded as failed.
                if task.key not in self.isolated:
                    log.warning("a worker died while extracting %s; will retry it alone", task.path)
                    self.suspects.append(task)
                    continue
                result = self._crashed(task, exc)
            except ConfigError as exc:
                # The backend cannot go on (a key rejected mid-run): stop the batch.
                self.inflight_keys.pop(task.key, None)
                self.stop(exc)
                continue
            except Exception as exc:  # process_one never raises for a letter; a last resort
                log.error("worker failed on %s: %s", task.path, exc)
                result = self._crashed(task, exc)
            self.inflight_keys.pop(task.key, None)
            self.isolated.discard(task.key)
            finished.append((task, result))
        # Group commit: the letters that finished together share one fsync.
        self.store.commit_many(finished, self.ident, self.run_id)
        for task, result in finished:
            self._count(task, result, progress)

    def _count(self, task: Task, result: LetterResult, progress: BatchProgress) -> None:
        for letter in result.parts or (result,):  # a file holding several letters: each
            self._count_letter(task, letter, progress)

    def _count_letter(self, task: Task, result: LetterResult, progress: BatchProgress) -> None:
        s = self.summary
        if result.fallback:
            s.fallbacks += 1
        elif result.ok:
            s.done += 1
        else:
            s.failed += 1
            if len(s.failures) < 20:
                s.failures.append({"path": task.path, **(result.error or {})})
            log.warning("%s: %s", task.path, (result.error or {}).get("message"))
        prompt, completion = result.tokens()
        s.prompt_tokens += prompt
        s.completion_tokens += completion
        progress.finished(ok=result.ok, tokens=prompt + completion)  # a fallback is no failure
        if self.on_result is not None:
            self.on_result(result, s)
        try:
            self.breaker.observe(result)
        except ExtractionError as exc:
            self.stop(exc)

    def stop(self, exc: ExtractionError) -> None:
        """Stop submitting; cancel what has not started (the first reason is kept)."""
        if self.summary.stopped is None:
            self.summary.stopped = exc
            log.error("stopping the batch: %s", exc)
        for fut in self.pool.cancel_pending(self.inflight):
            task = self.inflight.pop(fut)
            self.inflight_keys.pop(task.key, None)

    def _crashed(self, task: Task, exc: BaseException) -> LetterResult:
        if isinstance(exc, BrokenExecutor):
            exc = WorkerCrashed(f"the worker extracting this letter died: {exc}")
        return LetterResult.failed(task.path, exc, letter_id=Path(task.path).stem)

    def run_suspects(self, progress: BatchProgress) -> None:
        """Retry, one at a time with nothing else in flight, the letters of a dead worker."""
        while self.suspects:
            if self.summary.stopped is not None:
                self.suspects.clear()  # not recorded: redone by the next run
                return
            while self.inflight:  # let the rest finish first (they may add suspects)
                self.wait_some(progress, None)
            task = self.suspects.pop(0)
            self.isolated.add(task.key)
            self.inflight[self.pool.submit(task)] = task
            while self.inflight:
                self.wait_some(progress, None)

    def wait_some(self, progress: BatchProgress, timeout: float | None) -> None:
        if not self.inflight:
            if timeout:
                time.sleep(timeout)
            return
        done, _ = cf.wait(list(self.inflight), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        self.collect(done, progress)


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
    concurrency = opts.concurrency or default_concurrency(mode, opts.backend, opts.config)
    # Before the store: a dead endpoint leaves no trace in OUTDIR.
    backend = api.get_backend(opts.backend, opts.config)  # checked when built
    check_backend(backend)  # an instance passed in (library use) is checked here
    with Store(opts.outdir) as store:
        run, paths = _Run.begin(
            opts, store, backend, on_result, executor=mode, concurrency=concurrency
        )
        ident, total = run.ident, run.summary.total
        log.info("batch: %s, %s", ident.describe(), describe_workers(mode, concurrency))
        pool = run.pool = WorkerPool(mode, concurrency, backend, opts.config, str(opts.backend))
        limiter = RateLimiter(opts.rpm)
        max_inflight = INFLIGHT_PER_WORKER * concurrency
        s = run.summary
        progress = BatchProgress(total, enabled=opts.progress)
        try:
            with progress:
                for path in paths:
                    run.run_suspects(progress)
                    if s.stopped is not None:
                        break
                    task = _make_task(path, ident)
                    if _skip(run, task, progress):
                        continue
                    while len(run.inflight) >= max_inflight:
                        run.wait_some(progress, None)
                    while (wait := limiter.delay()) > 0:
                        run.wait_some(progress, wait)
                    if s.stopped is not None:
                        break
                    limiter.take()
                    progress.started()
                    run.inflight[pool.submit(task)] = task
                    run.inflight_keys[task.key] = task.path
                while run.inflight or run.suspects:
                    run.wait_some(progress, None)
                    run.run_suspects(progress)
        except KeyboardInterrupt:
            s.interrupted = True
            log.warning("interrupted: letters in flight are not recorded and will be redone")
        finally:
            pool.shutdown(wait=not s.interrupted)
            s.seconds = time.perf_counter() - t_start
            s.cost_usd = opts.prices.cost(s.prompt_tokens, s.completion_tokens)
            store.finish_run(run.run_id, s.as_dict())
    return s


def _skip(run: _Run, task: Task, progress: BatchProgress) -> bool:
    """True (and counted) when ``task`` needs no extraction in this run."""
    s = run.summary
    if task.key in run.inflight_keys:
        # Same content as a letter being extracted right now.
        if run.inflight_keys[task.key] != task.path:
            run.store.add_source(task.path, task.key, run.run_id)
            s.duplicates += 1
        s.skipped += 1
        progress.skipped()
        return True
    status = run.store.status_of(task.key)
    if status is None or (status in (FAILED, FALLBACK) and run.opts.retry_failed):
        return False
    assert status in (DONE, FAILED, FALLBACK)
    if not run.store.has_source(task.path, task.key):
        run.store.add_source(task.path, task.key, run.run_id)
        s.duplicates += 1
    s.skipped += 1
    if status == FAILED:
        s.previously_failed += 1
    elif status == FALLBACK:
        s.previously_fallback += 1
    progress.skipped()
    return True
