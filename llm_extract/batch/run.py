"""One batch run as every engine sees it: what to do, what was done, the summary.

The built-in engine (:mod:`.runner`), Ray (:mod:`.ray_engine`) and the Batch
API (:mod:`.batch_api`) differ only in *where* letters are extracted.  What a
run is stays here, so resume, duplicates, counting, the circuit breaker and
the ``runs`` row behave the same whichever engine ran:

- :meth:`Run.pending` walks the inputs lazily and yields the letters the store
  does not have yet (skips and duplicates counted);
- :meth:`Run.commit` records letters that finished and their analysis rows
  (:mod:`.flat`; one transaction) and counts them; what stops a run (a
  :class:`~llm_extract.errors.ConfigError` met by a letter, the breaker, a
  full disk) sets :attr:`Run.stopped`;
- :meth:`Run.finish` writes the summary's time and cost to the store.

Only the thread that owns the run touches the store.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from ..base import Backend, BackendIdentity
from ..breaker import FallbackBreaker
from ..config import Config
from ..errors import ConfigError, DiskFullError, ExtractionError
from ..loop import LetterResult, error_as_data
from . import flat
from .disk import writing
from .identity import file_sha256, letter_key, missing_key
from .inputs import count_inputs, expand_inputs
from .progress import BatchProgress
from .store import DONE, FAILED, FALLBACK, Store
from .worker import Task

log = logging.getLogger(__name__)

Executor = Literal["auto", "thread", "process", "multi"]
# What one engine hands back for a letter: its result, or what its worker raised.
Outcome = tuple[Task, LetterResult | BaseException]


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
    # The error that stopped the run early (ConfigError, EndpointDownError,
    # DiskFullError), if any.
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


def make_task(path: Path, ident: BackendIdentity) -> Task:
    """The letter at ``path`` as the store keys it (content hash + backend identity)."""
    # Absolute: the store outlives the working directory (--retry-failed reads it back).
    where = os.path.abspath(path)
    try:
        content = file_sha256(path)
    except OSError:
        # Missing or unreadable: keyed by path; the worker records why it failed.
        return Task(path=where, key=missing_key(path, ident), file_sha256=None)
    return Task(path=where, key=letter_key(content, ident), file_sha256=content)


class Run:
    """The state of one batch run (its owning thread only)."""

    def __init__(
        self,
        opts: BatchOptions,
        store: Store,
        ident: BackendIdentity,
        on_result: Callable[[LetterResult, BatchSummary], None] | None = None,
        *,
        started: float | None = None,
    ) -> None:
        self.opts = opts
        self.store = store
        self.ident = ident
        self.on_result = on_result
        self.started = time.perf_counter() if started is None else started
        self.summary = BatchSummary(backend=ident.describe())
        self.breaker = FallbackBreaker.for_config(opts.config)
        self.open_keys: dict[str, str] = {}  # handed out, not yet recorded: key -> path
        self.run_id = 0

    @classmethod
    def begin(
        cls,
        opts: BatchOptions,
        store: Store,
        backend: Backend,
        on_result: Callable[[LetterResult, BatchSummary], None] | None = None,
        *,
        executor: str,
        concurrency: int,
        started: float | None = None,
    ) -> Run:
        """A run recorded in the store (its ``runs`` row), inputs counted."""
        run = cls(opts, store, BackendIdentity.of(backend, opts.config), on_result, started=started)
        run.summary.executor, run.summary.concurrency = executor, concurrency
        run.summary.total = count_inputs(run._specs())
        run.run_id = store.start_run(argv=opts.argv, backend=run.ident.describe())
        with writing(store.outdir):  # the analysis rows' tables, written with each commit
            flat.ensure(store.db)
        return run

    def _specs(self) -> list[str]:
        if not self.opts.inputs and self.opts.retry_failed:
            return list(self.store.failed_paths())
        return list(self.opts.inputs)

    @property
    def stopped(self) -> ExtractionError | None:
        return self.summary.stopped

    # --- what to do ----------------------------------------------------------------
    def pending(self, progress: BatchProgress) -> Iterator[Task]:
        """The letters of this run the store does not have yet, walked lazily.

        Each one yielded is *open* until :meth:`commit` records it or
        :meth:`release` gives it up: a later path with the same content is
        counted as a duplicate of it."""
        for path in expand_inputs(self._specs()):
            task = make_task(path, self.ident)
            if self._skip(task, progress):
                continue
            self.open_keys[task.key] = task.path
            yield task

    def _skip(self, task: Task, progress: BatchProgress) -> bool:
        """True (and counted) when ``task`` needs no extraction in this run."""
        s = self.summary
        if task.key in self.open_keys:
            # Same content as a letter being extracted right now.
            if self.open_keys[task.key] != task.path:
                self.store.add_source(task.path, task.key, self.run_id)
                s.duplicates += 1
            s.skipped += 1
            progress.skipped()
            return True
        status = self.store.status_of(task.key)
        if status is None or (status in (FAILED, FALLBACK) and self.opts.retry_failed):
            return False
        assert status in (DONE, FAILED, FALLBACK)
        if not self.store.has_source(task.path, task.key):
            self.store.add_source(task.path, task.key, self.run_id)
            s.duplicates += 1
        s.skipped += 1
        if status == FAILED:
            s.previously_failed += 1
        elif status == FALLBACK:
            s.previously_fallback += 1
        progress.skipped()
        return True

    def release(self, task: Task) -> None:
        """``task`` will not be recorded in this run (cancelled): the next run does it."""
        self.open_keys.pop(task.key, None)

    # --- what was done -------------------------------------------------------------
    def commit(self, outcomes: Iterable[Outcome], progress: BatchProgress) -> None:
        """Record the letters that finished together (one transaction), then count them.

        An outcome is a :class:`LetterResult` or what the worker raised: a
        :class:`ConfigError` stops the run (the letter is not recorded), any
        other exception is recorded as the letter's failure."""
        finished: list[tuple[Task, LetterResult]] = []
        for task, outcome in outcomes:
            if isinstance(outcome, ConfigError):
                # The backend cannot go on (a key rejected mid-run): stop the batch.
                self.release(task)
                self.stop(outcome)
                continue
            if isinstance(outcome, BaseException):
                log.error("worker failed on %s: %s", task.path, outcome)
                outcome = LetterResult.failed(task.path, outcome, letter_id=Path(task.path).stem)
            finished.append((task, outcome))
        try:
            # Group commit: the letters that finished together share one fsync.
            self.store.commit_many(finished, self.ident, self.run_id, also=flat.derive_committed)
        except DiskFullError as exc:
            for task, _ in finished:  # rolled back: redone by the next run
                self.release(task)
            self.stop(exc)
            return
        for task, result in finished:
            self.release(task)
            letters = result.parts or (result,)  # a file holding several letters: each
            tokens = sum(self._count(task, letter) for letter in letters)
            # The bar's total counts files, so a file is one step however many letters it holds.
            progress.finished(ok=all(letter.ok for letter in letters), tokens=tokens)

    def _count(self, task: Task, result: LetterResult) -> int:
        """Count one letter in the summary; its tokens."""
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
        if self.on_result is not None:
            self.on_result(result, s)
        try:
            self.breaker.observe(result)
        except ExtractionError as exc:
            self.stop(exc)
        return prompt + completion

    def stop(self, exc: ExtractionError) -> None:
        """Stop the run (the first reason is kept); the engine stops handing out letters."""
        if self.summary.stopped is None:
            self.summary.stopped = exc
            log.error("stopping the batch: %s", exc)

    def finish(self) -> None:
        """The summary's time and cost, recorded in the store's ``runs`` row."""
        s = self.summary
        s.seconds = time.perf_counter() - self.started
        s.cost_usd = self.opts.prices.cost(s.prompt_tokens, s.completion_tokens)
        try:
            self.store.finish_run(self.run_id, s.as_dict())
        except DiskFullError as exc:  # the letters are committed; only the run's row is stale
            log.error("the run's summary was not recorded: %s", exc)
            self.stop(exc)
