"""The batch on Ray Data (``llm-extract batch … --engine ray``): beyond one machine.

The same batch as :func:`llm_extract.batch.runner.run_batch` — inputs, keys,
skip-done, errors as data, ``--retry-failed``, progress bar, summary — with the
letters read and extracted by a pool of Ray actors instead of local threads or
processes:

- The **driver** (this process) walks the inputs, hashes each file and skips
  what the store already has through the same :class:`~.run.Run` the built-in
  engine uses (:meth:`~.run.Run.pending`), so resume and duplicates behave the
  same.  The letters left become a Ray dataset of small task rows (path, key,
  content hash): the paths must be readable on every node (a shared file
  system), the files themselves never travel through Ray.
- **Actors** (``map_batches`` with an :class:`~ray.data.ActorPoolStrategy`)
  each build one backend, as one worker process does, and extract a batch of
  letters on a thread pool (HTTP backends wait on sockets, so threads overlap
  requests, as in the built-in ``multi`` executor).  A batch is as many
  letters as the actor has threads, and two run at once on the same pool, so
  the pool stays full and Ray Data's per-batch cost is paid rarely.
  Actors ask for a *fraction* of a CPU: with whole CPUs, two actors on a
  2-core machine leave none for Ray Data's read task and the run deadlocks.
- Results stream back to the driver (``iter_rows``), which stays the **only
  writer** of the SQLite store (:meth:`~.run.Run.commit`); letters that arrive
  together share one commit.  ``export``, ``stats`` and resume therefore do not
  know which engine ran.
- With ``--dataset DIR`` the actors also write the letters and items tables
  (the columns of ``export``) as Parquet part files, one per batch, named by the
  batch's keys: Ray re-runs the batch of an actor that died, and the re-run
  replaces the same file, so the dataset neither loses nor repeats a letter of
  a run.  (A letter redone after a killed *driver* lands in a second part
  file: de-duplicate the dataset on ``key``; the store never holds it twice.)

Fault tolerance is Ray Data's: an actor that dies (its node lost, a native
crash) is restarted and its unfinished batches are retried.  A letter's
problems never kill an actor: :func:`extract_path` turns them into data.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import itertools
import json
import logging
import math
import os
import pickle
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import api
from ..base import Backend, BackendIdentity
from ..config import Config
from ..errors import ConfigError, DiskFullError
from ..loop import LetterResult, check_backend
from . import faults
from .pool import check_worker_limits
from .progress import BatchProgress
from .run import BatchOptions, BatchSummary, Outcome, Run
from .store import Store
from .worker import Task, extract_path

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
# The batch's test hooks (see worker.py) reach actors on a running cluster too.
_TEST_HOOKS = (faults.TEST_DELAY_ENV, faults.TEST_CRASH_ENV, faults.TEST_FAULTS_ENV)


@dataclass(frozen=True)
class RayOptions:
    """What ``--engine ray`` adds to a batch."""

    address: str | None = None  # None: start Ray locally; "auto" or host:port joins
    dataset: Path | None = None  # also write letters/items Parquet parts here (workers)
    actors: int | None = None  # default: from -j and the cluster's CPUs


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
    ) -> None:
        self.config = config
        # Built once per actor and reused for every letter (its HTTP pool too).
        # Test hooks (inert in normal use) strike inside its extract().
        self.backend: Backend = faults.in_worker(api.get_backend(backend_name, config))
        self.pool = cf.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="extract")
        self.dataset = Path(dataset) if dataset else None

    def _one(self, task: Task) -> tuple[Task, LetterResult | ConfigError]:
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
    # processes Ray prestarts (a job-level runtime_env would start the actor's process
    # only with the run: its first letter ~18 s later on 2 cores).
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
        },
        num_cpus=ACTOR_CPUS,
        **remote,
    )
    return ds, actors, per_actor


def _stream(ds: Any, out: queue.Queue[Any], stop: threading.Event) -> None:
    """Feed (task, outcome) pairs to the driver's main thread (the only store writer)."""
    try:
        for row in ds.iter_rows():
            out.put(pickle.loads(row["result"]))
            if stop.is_set():
                break  # closing the iterator stops the dataset's execution
    except BaseException as exc:  # surfaced in the main thread
        if not stop.is_set():
            out.put(exc)
    finally:
        out.put(None)


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
    check_worker_limits("ray", opts.config)
    return opts.backend


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
    require_ray()
    if ray_opts.address:  # before the store: a wrong address leaves no trace in OUTDIR
        _check_reachable(ray_opts.address)
    concurrency = opts.concurrency or ((os.cpu_count() or 1) if name == "rules" else 4)
    # Before the store: a dead endpoint leaves no trace in OUTDIR.
    backend = api.get_backend(name, opts.config)
    check_backend(backend)
    with Store(opts.outdir) as store:
        run = Run.begin(
            opts,
            store,
            backend,
            on_result,
            executor="ray",
            concurrency=concurrency,
            started=t_start,
        )
        s = run.summary
        progress = BatchProgress(s.total, enabled=opts.progress)
        try:
            with progress:
                tasks = run.pending(progress)
                # The walk stays lazy: a dataset per CHUNK_LETTERS letters to do.
                while run.stopped is None and (
                    chunk := list(itertools.islice(tasks, CHUNK_LETTERS))
                ):
                    progress.started()
                    ray = start_ray(ray_opts.address)
                    ds, actors, per_actor = _dataset(ray, chunk, opts, ray_opts, concurrency)
                    s.executor = f"ray: {actors} actors x {per_actor}"
                    log.info("batch on ray: %s, %s", run.ident.describe(), s.executor)
                    _drain(run, ds, progress)
        except KeyboardInterrupt:
            s.interrupted = True
            log.warning("interrupted: letters in flight are not recorded and will be redone")
        except DiskFullError as exc:  # met outside a commit (a duplicate's path)
            run.stop(exc)
        finally:
            run.finish()
    return s


def _drain(run: Run, ds: Any, progress: BatchProgress) -> None:
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


def _commit_stream(run: Run, results: queue.Queue[Any], progress: BatchProgress) -> None:
    seen: set[str] = set()
    finished = False
    while not finished and run.stopped is None:
        got = _take_batch(results)
        if not got:
            continue
        outcomes: list[Outcome] = []
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
                outcomes.append(item)
        run.commit(outcomes, progress)
