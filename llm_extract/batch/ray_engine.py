"""The batch on Ray Data (``llm-extract batch … --engine ray``): beyond one machine.

(~870 lines: the Ray Data pipeline, the actor, the driver's streaming commit
and the opt-in warm start with its per-letter claims all touch the same run
state; a split is due when the warm start proves itself or goes.)

The same batch as :func:`llm_extract.batch.runner.run_batch` — inputs, keys,
skip-done, errors as data, ``--retry-failed``, progress bar, summary — with the
letters read and extracted by a pool of Ray actors instead of local threads or
processes:

- The **driver** (this process) walks the inputs, hashes each file and skips
  what the store already has, exactly as the built-in engine does (the same
  :func:`~llm_extract.batch.runner._make_task` / ``_skip``), so resume and
  duplicates behave the same.  The letters left become a Ray dataset of small
  task rows (path, key, content hash): the paths must be readable on every node
  (a shared file system), the files themselves never travel through Ray.
- **Actors** (``map_batches`` with an :class:`~ray.data.ActorPoolStrategy`)
  each build one backend, as one worker process does today, and extract a
  batch of letters on a thread pool (HTTP backends wait on sockets, so threads
  overlap requests, as in the built-in ``multi`` executor).  A batch is as many
  letters as the actor has threads, and two run at once on the same pool, so
  the pool stays full and Ray Data's per-batch cost is paid rarely.
  Actors ask for a *fraction* of a CPU: with whole CPUs, two actors on a
  2-core machine leave none for Ray Data's read task and the run deadlocks.
- Results stream back to the driver (``iter_rows``), which stays the **only
  writer** of the SQLite store; letters that arrive together share one commit.
  ``export``, ``stats`` and resume therefore do not know which engine ran.
- With ``--dataset DIR`` the actors also write the letters and items tables
  (the columns of ``export``) as Parquet part files, one per batch, named by the
  batch's keys: Ray re-runs the batch of an actor that died, and the re-run
  replaces the same file, so the dataset neither loses nor repeats a letter of
  a run.  (A letter redone after a killed *driver* lands in a second part
  file: de-duplicate the dataset on ``key``; the store never holds it twice.)

**Warm start** (opt-in, ``--ray-warm-start``; off by default: a run the driver
can finish alone then never starts Ray, and the claims lean on Ray internals,
``internal_kv``): Ray and its
actors take seconds to start (fresh processes importing Ray Data, openai,
instructor), so while they do, the driver extracts letters from the front of
the chunk itself, on ``-j`` threads sharing its backend, through the same
:func:`extract_path` the built-in engine's threads run.  Each letter is
*claimed* once, by the driver or by an actor, with an atomic put-if-absent in
the Ray cluster's key-value store (GCS), so nothing is extracted twice: an
actor that finds a letter claimed by the driver returns it untouched, the
driver skips one an actor claimed.  The first row Ray delivers ends the warm-up
(letters the driver's threads hold then are finished there); a chunk the
driver finishes alone stops its Ray execution.  Ray itself is asked for only
once the driver's own rate says the letters left would outlast Ray's start-up
(``RAY_READY_S``): actors that would arrive after the last letter only take CPU
from the warm-up.  The driver writes the ``--dataset`` parts of the letters it
extracted itself.

Fault tolerance is Ray Data's: an actor that dies (its node lost, a native
crash) is restarted and its unfinished batches are retried.  A letter's
problems never kill an actor: :func:`extract_path` turns them into data.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import importlib.util
import itertools
import json
import logging
import math
import os
import pickle
import queue
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import BrokenExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import api
from ..base import Backend, BackendIdentity
from ..config import Config
from ..errors import ConfigError
from ..loop import LetterResult, check_backend
from .pool import WorkerPool, choose_executor, describe_workers
from .progress import BatchProgress
from .runner import BatchOptions, BatchSummary, _make_task, _Run, _skip
from .store import Store
from .worker import TEST_CRASH_ENV, TEST_DELAY_ENV, Task, crash_if_told, extract_path

log = logging.getLogger(__name__)

# CPU share each actor asks for.  Whole CPUs deadlock a 2-core machine (the read
# task cannot be scheduled beside two actors); HTTP actors mostly wait anyway.
ACTOR_CPUS = 0.25
# Letters in flight per actor for HTTP backends (as the built-in `multi` executor
# runs 8-16 threads per process): beyond it a second actor (process) helps the GIL.
MAX_THREADS_PER_ACTOR = 16
# Batches running at once in an actor, each of `per_actor` letters on the actor's one
# pool of `per_actor` threads: the second batch's letters take threads as the first's
# finish, so the pool stays full, while Ray Data pays its per-batch cost (a task, a
# block through the object store, a row to the driver: ~10-20 ms of CPU) once per
# `per_actor` letters.  Measured at -j 32 on 2 cores: 8 calls of 2 letters, 49.5
# letters/s steady; 8 of 4, 66; 1 or 2 of 16, 79-83 (the built-in engine: 94).
CALLS_PER_ACTOR = 2
_POLL_S = 0.2
# Letters per Ray dataset: the inputs are walked lazily, a chunk at a time, so a
# million-letter archive is never one list in the driver (each chunk starts its
# actors again: seconds per 20,000 letters).
CHUNK_LETTERS = 20_000
# Warm start: the driver measures its own rate for WARM_PROBE_S, then starts Ray only
# when the letters left would take it longer than Ray takes from being asked to its
# first delivered letter: RAY_READY_S when Ray runs already (joined by address, or
# in this process), RAY_START_READY_S when this command starts it (measured on 2
# loaded cores, docs/distributed.md: first batch +9.3 s, and +19.3 s with ray.init);
# below that the actors would arrive after the last letter and only take CPU (and,
# during ray.init, the main thread) from the warm-up.
WARM_PROBE_S = 1.0
RAY_READY_S = 10.0
RAY_START_READY_S = 20.0
# The batch's test hooks (see worker.py) reach actors on a running cluster too.
_TEST_HOOKS = (TEST_DELAY_ENV, TEST_CRASH_ENV)


@dataclass(frozen=True)
class RayOptions:
    """What ``--engine ray`` adds to a batch."""

    address: str | None = None  # None: start Ray locally; "auto" or host:port joins
    dataset: Path | None = None  # also write letters/items Parquet parts here (workers)
    actors: int | None = None  # default: from -j and the cluster's CPUs
    # The driver extracts letters itself while Ray and its actors start (see the
    # module docstring); warm_max caps how many it takes per chunk (None: no cap).
    # Off by default: with it a short run may never start Ray at all (the driver
    # finishes first), which is not what a user who asked for a cluster expects,
    # and it leans on Ray internals (internal_kv, Ray Data's executor handle).
    warm_start: bool = False
    warm_max: int | None = None


def require_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ConfigError(
            '--engine ray needs Ray Data: pip install -e ".[ray]"', field="engine", cause=exc
        ) from exc
    return ray


def ray_shape(backend: str, concurrency: int, cpus: float) -> tuple[int, int]:
    """(actors, letters in flight per actor) for ``concurrency`` letters in flight.

    ``rules`` is CPU-bound: one actor per letter in flight, one letter at a time.
    HTTP backends: as few actors as keep each at most ``MAX_THREADS_PER_ACTOR``
    letters in flight, but at least one per CPU when there are letters to spare
    (one process's GIL caps the client work, see docs/batch.md).
    """
    if backend == "rules":
        return max(1, concurrency), 1
    by_threads = math.ceil(concurrency / MAX_THREADS_PER_ACTOR)
    by_cpus = min(max(1, int(cpus)), math.ceil(concurrency / 8))
    actors = max(1, by_threads, by_cpus)
    return actors, math.ceil(concurrency / actors)


def start_ray(address: str | None) -> Any:
    """Join ``address`` (a running cluster), or start Ray on this machine."""
    ray = require_ray()
    # Our progress bar and summary are the batch's output: Ray Data's own bars
    # and per-dataset INFO lines would interleave with them on stderr.
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "configure_logging": False,
        "log_to_driver": False,
    }
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=os.cpu_count() or 1, **kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = address or "a local Ray instance"
        raise ConfigError(
            f"cannot start or join {where}: {exc}; check --ray-address (host:port of the "
            "head node's GCS, or 'auto' on a cluster node)",
            field="ray_address",
            cause=exc,
        ) from exc
    return ray


def _check_reachable(address: str) -> None:
    """Fail in seconds, with what to fix, on an address nothing listens at: ray.init
    itself retries for minutes before it gives up."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", or a form Ray resolves itself
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(
            f"no Ray cluster answers at {address} ({exc.strerror or exc}): check "
            "--ray-address (host:port of the head node's GCS, default port 6379) "
            "and that the cluster is up (`ray status` on the head node)",
            field="ray_address",
            cause=exc,
        ) from exc


# Claims of a warm-started chunk live in the GCS key-value store under this
# namespace, one key per letter ("<chunk id>/<letter key>"), deleted with the chunk.
CLAIMS_NAMESPACE = "llm_extract_claims"
_LOCAL, _RAY = b"local", b"ray"


def _claim(key: str, who: bytes) -> bytes | None:
    """Claim ``key`` for ``who`` atomically; returns the earlier claimant, or None.

    The GCS put-if-absent is the one operation every process of the cluster
    (driver and actors) shares without another actor process to start.
    ``internal_kv`` is Ray's internal API (Ray Serve and the job manager build
    on it); pinned by the ``ray`` extra (>=2.60,<3)."""
    from ray.experimental import internal_kv

    existed = internal_kv._internal_kv_put(key, who, overwrite=False, namespace=CLAIMS_NAMESPACE)
    if not existed:
        return None
    return bytes(internal_kv._internal_kv_get(key, namespace=CLAIMS_NAMESPACE) or b"")


def _drop_claims(prefix: str) -> None:
    from ray.experimental import internal_kv

    with contextlib.suppress(Exception):  # Ray already gone: nothing is left to drop
        internal_kv._internal_kv_del(prefix, del_by_prefix=True, namespace=CLAIMS_NAMESPACE)


class LetterActor:
    """One Ray actor: one backend, a thread pool, optionally a dataset writer.

    Built by Ray Data (``map_batches`` with a class): ``__call__`` gets a batch
    of task rows (one JSON task per row) and returns one JSON outcome per row.
    """

    def __init__(
        self,
        backend_name: str,
        config: Config,
        threads: int,
        dataset: str | None,
        claims: str | None = None,
    ) -> None:
        self.config = config
        self.claims = claims  # a warm-started chunk's claim prefix: skip the driver's letters
        # Built once per actor and reused for every letter (its HTTP pool too).
        self.backend: Backend = api.get_backend(backend_name, config)
        self.pool = cf.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="extract")
        self.dataset = Path(dataset) if dataset else None

    def _one(self, task: Task) -> tuple[Task, LetterResult | ConfigError | None]:
        # Another claimant: the driver took it during the warm-up (None: "not mine").
        # Our own earlier claim is an actor that died with this batch: redo it.
        if self.claims is not None and _claim(self.claims + task.key, _RAY) not in (None, _RAY):
            return task, None
        crash_if_told(Path(task.path).stem)  # test hook: an actor's native crash
        try:
            # The one loop's per-letter function (via the batch worker's
            # extract_path, its test hooks included): a letter's outcome is
            # exactly the built-in engine's.
            return task, extract_path(task, self.backend, self.config)
        except ConfigError as exc:  # the backend's problem: the driver stops the run
            return task, exc

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        tasks = [Task(**json.loads(str(t))) for t in batch["task"]]
        results = list(self.pool.map(self._one, tasks))
        if self.dataset is not None:
            from .dataset import write_parts

            done = [(t, r) for t, r in results if isinstance(r, LetterResult)]
            write_parts(self.dataset, done, BackendIdentity.of(self.backend))
        # Pickled: the record goes back as the pydantic object the built-in engine
        # commits, so the driver writes the same JSON.
        return {"result": [pickle.dumps(r) for r in results]}

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.pool.shutdown(wait=False)


def _dataset(
    ray: Any,
    tasks: list[Task],
    opts: BatchOptions,
    ray_opts: RayOptions,
    concurrency: int,
    claims: str | None = None,
) -> tuple[Any, int, int]:
    """The pipeline: task rows -> actors -> outcome rows (lazy until iterated)."""
    name = str(opts.backend)
    cpus = float(ray.cluster_resources().get("CPU", 1))
    actors, per_actor = ray_shape(name, concurrency, cpus)
    if ray_opts.actors:
        actors = ray_opts.actors
        per_actor = max(1, math.ceil(concurrency / actors))
    calls = CALLS_PER_ACTOR
    batch_size = per_actor
    rows = [{"task": json.dumps(asdict(t))} for t in tasks]
    ds = ray.data.from_items(rows, override_num_blocks=max(1, math.ceil(len(rows) / batch_size)))
    env = {name: value for name, value in os.environ.items() if name in _TEST_HOOKS}
    key = opts.config.api_key
    if key:  # actors on other nodes read the key from their environment
        env[opts.config.api_key_env] = key
    # Only when needed: an actor with a runtime_env of its own cannot use the worker
    # processes Ray prestarts (a job-level runtime_env was tried: the actor's process
    # then started only with the run, its first letter ~18 s later on 2 loaded cores).
    remote: dict[str, Any] = {"runtime_env": {"env_vars": env}} if env else {}
    ds = ds.map_batches(
        LetterActor,
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(
            size=actors,
            max_concurrent_calls_per_actor=calls,
            enable_true_multi_threading=calls > 1,
        ),
        fn_constructor_kwargs={
            "backend_name": name,
            "config": opts.config,
            "threads": per_actor,
            "dataset": str(ray_opts.dataset) if ray_opts.dataset else None,
            "claims": claims,
        },
        num_cpus=ACTOR_CPUS,
        **remote,
    )
    return ds, actors, per_actor


def _stream(ds: Any, out: queue.Queue[Any], stop: threading.Event, tag: str | None = None) -> None:
    """Feed (task, result) pairs to the driver's main thread (the only store writer);
    with ``tag``, each as ``(tag, pair)``."""

    def put(item: Any) -> None:
        out.put(item if tag is None else (tag, item))

    try:
        for row in ds.iter_rows():
            put(pickle.loads(row["result"]))
            if stop.is_set():
                break  # closing the iterator stops the dataset's execution
    except BaseException as exc:  # surfaced in the main thread
        if not stop.is_set():
            put(exc)
    finally:
        put(None)


class _Resolved:
    """The runner's ``pool`` as :meth:`_Run.stop` sees it: every future it holds
    here is already resolved, so there is nothing to cancel."""

    def cancel_pending(self, futures: Any) -> list[cf.Future[LetterResult]]:
        return []


def _check_engine(opts: BatchOptions) -> str:
    if not isinstance(opts.backend, str):
        raise ConfigError("--engine ray builds a backend in every actor: name it (--backend)")
    if opts.rpm:
        raise ConfigError("--rpm is not supported with --engine ray; use --engine builtin")
    if opts.backend in ("llm", "hybrid") and opts.config.base_url is None:
        raise ConfigError(
            "--engine ray with an LLM backend needs an endpoint (--base-url/--model): each "
            "actor would otherwise start its own embedded model",
            field="base_url",
        )
    return opts.backend


def _ray_running() -> bool:
    """This process is connected to Ray (it must not fork then)."""
    ray = sys.modules.get("ray")
    return ray is not None and bool(ray.is_initialized())


def _ray_installed() -> bool:
    """Ray Data is there, without importing it (seconds the warm-up can use)."""
    spec = importlib.util.find_spec("ray")
    where = list(spec.submodule_search_locations or []) if spec else []
    return any((Path(p) / "data" / "__init__.py").exists() for p in where)


def run_batch_ray(
    opts: BatchOptions,
    ray_opts: RayOptions | None = None,
    *,
    on_result: Callable[[LetterResult, BatchSummary], None] | None = None,
) -> BatchSummary:
    """Run one batch into ``opts.outdir`` on Ray; returns what happened.

    Raises :class:`ConfigError` before the first letter when the backend cannot
    run, Ray is missing, or the cluster cannot be joined.
    """
    ray_opts = ray_opts or RayOptions()
    t_start = time.perf_counter()
    name = _check_engine(opts)
    if ray_opts.warm_start:
        if not _ray_installed():
            require_ray()  # the ConfigError saying what to install
    else:
        require_ray()
    if ray_opts.address:  # before the store: a wrong address leaves no trace in OUTDIR
        _check_reachable(ray_opts.address)
    concurrency = opts.concurrency or ((os.cpu_count() or 1) if name == "rules" else 4)
    # Before the store: a dead endpoint leaves no trace in OUTDIR.
    backend = api.get_backend(name, opts.config)
    check_backend(backend)
    with Store(opts.outdir) as store:
        run, paths = _Run.begin(
            opts, store, backend, on_result, executor="ray", concurrency=concurrency
        )
        run.pool = _Resolved()  # type: ignore[assignment]
        ident, s, total = run.ident, run.summary, run.summary.total
        progress = BatchProgress(total, enabled=opts.progress)
        split = _Split()
        try:
            with progress:
                tasks = pending_tasks(run, paths, ident, progress)
                # The walk stays lazy: a dataset per CHUNK_LETTERS letters to do.
                while s.stopped is None and (chunk := list(itertools.islice(tasks, CHUNK_LETTERS))):
                    progress.started()
                    if ray_opts.warm_start:
                        _warm_chunk(run, chunk, backend, ray_opts, concurrency, progress, split)
                        continue
                    ray = start_ray(ray_opts.address)
                    ds, actors, per_actor = _dataset(ray, chunk, opts, ray_opts, concurrency)
                    s.executor = f"ray: {actors} actors x {per_actor}"
                    log.info("batch on ray: %s, %s", ident.describe(), s.executor)
                    _drain(run, ds, progress)
        except KeyboardInterrupt:
            s.interrupted = True
            log.warning("interrupted: letters in flight are not recorded and will be redone")
        finally:
            finish_run(run, t_start)
    return s


@dataclass
class _Split:
    """Who extracted the letters of a warm-started run (for the summary)."""

    local: int = 0
    ray: int = 0
    shape: str = "no actors started"
    local_shape: str = ""

    def describe(self) -> str:
        return (
            f"ray: {self.shape}, warm start: {self.local} letters local + {self.ray} on Ray"
            f" (local: {self.local_shape})"
        )


class _Claims:
    """The letters of one chunk, handed out to the driver's warm-up threads from the
    front; those left when Ray's dataset is built are Ray's too, and from then on
    every hand-out is a claim in the GCS (see :func:`_claim`)."""

    def __init__(self, tasks: list[Task], limit: int | None) -> None:
        self.lock = threading.Lock()
        self.todo = collections.deque(tasks)
        self.prefix = f"{uuid.uuid4().hex}/"
        self.shared = False  # True once Ray may take any letter still in todo
        self.closed = False  # the warm-up ended: Ray delivered, or the run stops
        self.limit = limit

    def take(self) -> Task | None:
        with self.lock:
            while self.todo and not self.closed and self.limit != 0:
                task = self.todo.popleft()
                if self.shared:
                    try:
                        if _claim(self.prefix + task.key, _LOCAL) is not None:
                            continue  # an actor has it: it arrives from Ray
                    except Exception as exc:  # the GCS unreachable: leave the rest to Ray
                        log.warning("warm start: cannot claim letters (%s); Ray does the rest", exc)
                        self.closed = True
                        return None
                if self.limit is not None:
                    self.limit -= 1
                return task
            return None

    def left(self) -> int:
        with self.lock:
            return len(self.todo)

    def for_ray(self) -> list[Task]:
        """The letters Ray's dataset gets; from now on the driver claims in the GCS."""
        with self.lock:
            self.shared = True
            return list(self.todo)

    def close(self) -> None:
        with self.lock:
            self.closed = True


class _WarmUp:
    """``threads`` driver threads taking letters from :class:`_Claims` until it closes,
    each extracting with the driver's backend exactly as the built-in thread
    executor does (:func:`extract_path`), or handing it to ``pool`` (the built-in
    engine's forked processes × threads) and waiting for it; results to ``out``
    for the main thread."""

    def __init__(
        self,
        claims: _Claims,
        backend: Backend,
        config: Config,
        threads: int,
        out: queue.Queue[Any],
        pool: WorkerPool | None = None,
    ) -> None:
        self.claims, self.backend, self.config, self.out = claims, backend, config, out
        self.pool, self.broken = pool, False
        self.submitting = threading.Lock()  # one writer at a time on a child's pipe
        self.threads = [
            threading.Thread(target=self._work, name=f"warm-{i}", daemon=True)
            for i in range(max(1, threads))
        ]
        for t in self.threads:
            t.start()

    def _work(self) -> None:
        while (task := self.claims.take()) is not None:
            try:
                result: LetterResult | BaseException = self._extract(task)
            except Exception as exc:  # ConfigError stops the run; anything else: a failure
                result = exc
            self.out.put(("local", (task, result)))

    def _extract(self, task: Task) -> LetterResult:
        if self.pool is not None and not self.broken:
            try:
                with self.submitting:
                    fut = self.pool.submit(task)
                return fut.result()
            except BrokenExecutor:
                # A worker process died (a native crash): the warm-up's letters go on in
                # this process's threads rather than forking again beside Ray.
                log.warning("a warm-up worker process died; going on in threads")
                self.broken = True
        return extract_path(task, self.backend, self.config)

    def running(self) -> bool:
        return any(t.is_alive() for t in self.threads)

    def join(self) -> None:
        for t in self.threads:
            t.join()


def _warm_chunk(
    run: _Run,
    chunk: list[Task],
    backend: Backend,
    ray_opts: RayOptions,
    concurrency: int,
    progress: BatchProgress,
    split: _Split,
) -> None:
    """One chunk, warm-started: the driver's threads first, Ray once it delivers."""
    s = run.summary
    claims = _Claims(chunk, ray_opts.warm_max)
    out: queue.Queue[Any] = queue.Queue()
    # At most -j letters in flight locally, as the built-in engine runs them: more
    # would take CPU from the actors' start-up on a small machine.  Forked processes
    # × threads where the built-in engine would use them (an endpoint of its own, -j
    # 16 and up) and this process has not joined Ray yet (its threads must not be forked).
    pool = None
    name = str(run.opts.backend)
    if not _ray_running() and (
        choose_executor(name, "auto", concurrency, run.opts.config) == "multi"
    ):
        pool = WorkerPool("multi", concurrency, backend, run.opts.config, name)
    split.local_shape = describe_workers("multi" if pool else "thread", concurrency)
    warm = _WarmUp(claims, backend, run.opts.config, concurrency, out, pool)
    stop = threading.Event()
    executors: list[Any] = []
    parts = _local_parts(ray_opts.dataset, backend)
    interrupted = False

    def start() -> bool:
        """Start (or join) Ray and its actors on the letters no one has taken yet."""
        ray = start_ray(ray_opts.address)  # the main thread: Ray installs handlers there
        rows = claims.for_ray()
        if not rows:
            return False
        # Reversed: the actors start at the far end from the driver's threads, so
        # the two meet (and claims collide) only once, near the end.
        ds, actors, per_actor = _dataset(
            ray, rows[::-1], run.opts, ray_opts, concurrency, claims=claims.prefix
        )
        split.shape = f"{actors} actors x {per_actor}"
        s.executor = split.describe()
        log.info("batch on ray: %s, %s", run.ident.describe(), s.executor)
        _capture_executors(ds, executors)
        threading.Thread(target=_stream, args=(ds, out, stop, "ray"), daemon=True).start()
        return True

    try:
        s.executor = split.describe()
        ready_s = RAY_READY_S if ray_opts.address or _ray_running() else RAY_START_READY_S
        _commit_warm(run, chunk, out, claims, warm, start, progress, split, parts, ready_s)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        claims.close()
        stop.set()
        for ex in executors:  # a chunk done before Ray delivered: stop its actors now
            with contextlib.suppress(Exception):
                ex.shutdown(force=True)
        if not interrupted:
            # Letters the driver's threads were extracting when the run stopped (or
            # Ray failed): finished and committed, as the built-in engine does.
            warm.join()
            _commit_local_leftovers(run, out, progress, split, parts)
        if pool is not None:
            pool.shutdown(wait=not interrupted)
        if claims.shared:
            _drop_claims(claims.prefix)
        s.executor = split.describe()


def _ray_due(
    claims: _Claims,
    local_done: int,
    since_start: float,
    since_first: float,
    ready_s: float = RAY_READY_S,
) -> bool:
    """Whether to start Ray now: the letters left would take the driver's warm-up
    longer than Ray takes to deliver (``ready_s``).  Starting it sooner only
    takes CPU from the warm-up for actors that would arrive after the last letter.

    ``since_first``: seconds since the warm-up's first letters were done (negative
    while none is) and ``local_done`` the letters done since: the rate is measured
    from there for ``WARM_PROBE_S``, since a process's first letters pay one-off
    costs (connections, lazy imports)."""
    if claims.limit is not None:
        return True  # a capped warm-up: Ray does the rest whatever the rate
    if since_first < 0:
        return since_start > ready_s  # slow letters: Ray's start-up is no loss
    if since_first < WARM_PROBE_S:
        return False  # no rate yet
    return local_done == 0 or claims.left() / (local_done / since_first) > ready_s


def _capture_executors(ds: Any, into: list[Any]) -> None:
    """Keep the handle of the dataset's executor, to stop its actors when the driver
    finished the chunk alone (Ray Data shuts it down only at the end of the
    iteration or when the dataset is collected)."""
    make = getattr(ds, "_create_executor", None)
    if make is None:  # another Ray Data: the actors stop at their first row instead
        return

    def create() -> Any:
        executor = make()
        into.append(executor)
        return executor

    ds._create_executor = create


def _commit_warm(
    run: _Run,
    chunk: list[Task],
    out: queue.Queue[Any],
    claims: _Claims,
    warm: _WarmUp,
    start: Callable[[], bool],
    progress: BatchProgress,
    split: _Split,
    parts: Callable[[list[tuple[Task, Any]]], None],
    ready_s: float,
) -> None:
    """Commit the driver's and Ray's letters as they come, until the chunk is done;
    start Ray once the warm-up alone would not finish before Ray is ready."""
    outstanding = {t.key for t in chunk}
    seen: set[str] = set()
    t_warm, local, started, ray_open = time.perf_counter(), 0, False, False
    t_first, local_first = -1.0, 0
    while outstanding and run.summary.stopped is None:
        now = time.perf_counter()
        if t_first < 0 and local:
            t_first, local_first = now, local
        since_first = now - t_first if t_first >= 0 else -1.0
        rate_done = local - local_first if t_first >= 0 else 0
        if (
            not started
            and claims.left()
            and (
                _ray_due(claims, rate_done, now - t_warm, since_first, ready_s)
                or not warm.running()
            )
        ):
            log.info("warm start: starting Ray, %d letters left", claims.left())
            started = True
            ray_open = start()
        if not ray_open and not warm.running() and out.empty():
            # Nothing more can come (Ray's stream ended early): not recorded, so the
            # next run does them; never expected.
            log.error("%d letters were extracted by no one; run again", len(outstanding))
            break
        got = _take_batch(out)
        if not got:
            continue
        futures, local_done = [], []
        for source, item in got:
            if item is None:
                ray_open = False
                continue
            if isinstance(item, BaseException):
                raise item
            task, result = item
            if source == "ray":
                claims.close()  # Ray delivers: the warm-up takes no more letters
                if result is None:
                    continue  # the driver's letter: it arrives from the driver
            if task.key in seen:
                log.warning("%s arrived twice; kept once", task.path)
                continue
            seen.add(task.key)
            outstanding.discard(task.key)
            if source == "ray":
                split.ray += 1
            else:
                split.local += 1
                local += 1
                local_done.append((task, result))
            futures.append(_resolved(run, task, result))
        parts(local_done)
        run.collect(futures, progress)


def _commit_local_leftovers(
    run: _Run,
    out: queue.Queue[Any],
    progress: BatchProgress,
    split: _Split,
    parts: Callable[[list[tuple[Task, Any]]], None],
) -> None:
    futures, local_done = [], []
    with contextlib.suppress(queue.Empty):
        while True:
            source, item = out.get_nowait()
            if source == "local" and run.summary.stopped is None:
                split.local += 1
                local_done.append(item)
                futures.append(_resolved(run, *item))
            elif source == "local":  # stopped: not recorded, redone by the next run
                run.inflight_keys.pop(item[0].key, None)
    parts(local_done)
    run.collect(futures, progress)


def _local_parts(
    dataset: Path | None, backend: Backend
) -> Callable[[list[tuple[Task, Any]]], None]:
    """``--dataset``: the parts of the letters the driver extracted are written by the
    driver (the same rows, identity and part naming as the actors')."""
    ident = BackendIdentity.of(backend)

    def write(done: list[tuple[Task, Any]]) -> None:
        ok = [(t, r) for t, r in done if isinstance(r, LetterResult)]
        if dataset is not None and ok:
            from .dataset import write_parts

            write_parts(dataset, ok, ident)

    return write


def finish_run(run: _Run, t_start: float) -> None:
    """The summary's time and cost, recorded in the store's ``runs`` (also batch_api's)."""
    s = run.summary
    s.seconds = time.perf_counter() - t_start
    s.cost_usd = run.opts.prices.cost(s.prompt_tokens, s.completion_tokens)
    run.store.finish_run(run.run_id, s.as_dict())


def pending_tasks(
    run: _Run, paths: Iterator[Path], ident: BackendIdentity, progress: BatchProgress
) -> Iterator[Task]:
    """The letters of this run that the store does not have yet (skips counted as the
    built-in engine counts them); also used by :mod:`.batch_api`."""
    for path in paths:
        task = _make_task(path, ident)
        if _skip(run, task, progress):
            continue
        run.inflight_keys[task.key] = task.path  # a copy later in the walk is a duplicate
        yield task


def _drain(run: _Run, ds: Any, progress: BatchProgress) -> None:
    """Commit results as they stream in; those that arrive together share a commit."""
    results: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    reader = threading.Thread(target=_stream, args=(ds, results, stop), daemon=True)
    reader.start()
    try:
        _commit_stream(run, results, progress)
    finally:
        stop.set()  # the reader stops the dataset at its next row


def _take_batch(q: queue.Queue[Any]) -> list[Any]:
    """Everything the queue holds now, waiting up to ``_POLL_S`` for the first ([] if none):
    letters that arrive together share one commit."""
    try:
        got = [q.get(timeout=_POLL_S)]
    except queue.Empty:
        return []
    with contextlib.suppress(queue.Empty):
        while True:
            got.append(q.get_nowait())
    return got


def _commit_stream(run: _Run, results: queue.Queue[Any], progress: BatchProgress) -> None:
    seen: set[str] = set()
    finished = False
    while not finished and run.summary.stopped is None:
        got = _take_batch(results)
        if not got:
            continue
        futures = []
        for item in got:
            if item is None:
                finished = True
            elif isinstance(item, BaseException):
                raise item
            elif item[0].key in seen:
                # Ray retried a batch whose results had already arrived: once only.
                log.warning("%s arrived twice; kept once", item[0].path)
            else:
                seen.add(item[0].key)
                futures.append(_resolved(run, *item))
        run.collect(futures, progress)


def _resolved(
    run: _Run, task: Task, result: LetterResult | BaseException
) -> cf.Future[LetterResult]:
    """The runner's commit path takes futures: hand it one that is already done."""
    fut: cf.Future[LetterResult] = cf.Future()
    if isinstance(result, BaseException):
        fut.set_exception(result)  # collect() stops the run on it, as the built-in does
    else:
        fut.set_result(result)
    run.inflight[fut] = task
    return fut
