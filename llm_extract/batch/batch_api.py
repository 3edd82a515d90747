"""``llm-extract batch … --batch-api``: the LLM requests through the OpenAI Batch API.

The Batch API (``/v1/files`` + ``/v1/batches``) runs requests within 24 hours
at about half the price of the same requests sent one by one.  The batch is
the usual one — inputs, keys, skip-done, errors as data, ``--retry-failed``,
progress, summary, the same store — and the records are the usual ones: every
letter still goes through :func:`llm_extract.loop.process_one` and its
backend's own ``extract()``, so the answers are validated with the same models
and cross-checked as usual.  Only *where an answer comes from* changes, through
one seam at the client layer (:data:`llm_extract.llm.client.SEND_HOOK`, which
wraps the function a structured call sends its request body with):

1. **Collect.**  Each letter is extracted with a hook that, instead of sending
   the request, records its body and stops the letter (:class:`Deferred`).
   The ``custom_id`` is the letter's key (``key#n`` for its n-th call, when a
   backend makes several: the ``llm`` backend's calls follow each other, so
   its letters take one batch per call).
2. **Submit** the requests as one JSONL file; the batch id goes into the
   store (table ``api_batches``) before anything waits on it, so a killed
   command **resumes polling** the same batch instead of paying twice.
3. **Poll** until the batch is terminal (the progress bar shows its state),
   download its output and error files and keep every answer in the store
   (``api_requests``).
4. **Finish.**  Each letter is extracted again with a hook that answers its
   request from the stored response body: instructor parses and validates
   it as a live answer; an answer that fails validation is **re-asked
   synchronously** (the re-ask goes to the endpoint directly, with the usual
   transport retries), and so is a request the batch reported as failed (a
   ``partly failed`` batch).  Requests an **expired** batch never ran are
   submitted once more in the next batch, then run synchronously.

The same letters' requests are the same bytes each time (the backends are
deterministic), so a resumed run finds its answers by ``custom_id``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from .. import api
from ..base import Backend
from ..errors import ConfigError
from ..llm.batch_transport import BatchEndpoint, completion_from_body
from ..llm.client import SEND_HOOK, Send
from ..loop import LetterResult, check_backend, process_one
from ..models import Usage
from .pool import check_worker_limits
from .progress import BatchProgress
from .run import BatchOptions, BatchSummary, Run
from .store import Store
from .worker import Task

log = logging.getLogger(__name__)

POLL_ENV = "LLM_EXTRACT_BATCH_POLL_S"  # seconds between polls (default 30; tests: less)
DEFAULT_POLL_S = 30.0
MAX_SUBMISSIONS = 2  # an unanswered request (expired batch) is sent in one more batch
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
# Errors in the error file that mean "not run", not "failed": submit again.
NOT_RUN = frozenset({"batch_expired", "batch_cancelled", "batch_failed"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_batches (
    batch_id      TEXT PRIMARY KEY,
    input_file_id TEXT NOT NULL,
    status        TEXT NOT NULL,
    n_requests    INTEGER NOT NULL,
    created_at    REAL NOT NULL,
    collected     INTEGER NOT NULL DEFAULT 0   -- its result files are in api_requests
);
CREATE TABLE IF NOT EXISTS api_requests (
    custom_id     TEXT PRIMARY KEY,
    key           TEXT NOT NULL,
    batch_id      TEXT,
    submissions   INTEGER NOT NULL DEFAULT 0,
    response_json TEXT,                        -- the chat completion body (HTTP 200)
    error_json    TEXT                         -- what the batch said instead
);
"""


class Deferred(BaseException):
    """Raised through the backend when a request is recorded instead of sent.

    A BaseException so that no ``except Exception`` in a backend (a fallback
    path) mistakes it for an LLM failure."""


@dataclass
class _Letter:
    """One letter's requests in one pass: answer what is known, defer the rest."""

    key: str
    known: dict[str, sqlite3.Row]
    calls: int = 0
    deferred: dict[str, dict[str, Any]] = field(default_factory=dict)

    def hook(self, live: Send, usage: Usage) -> Send:
        n = self.calls
        self.calls += 1
        custom_id = self.key if n == 0 else f"{self.key}#{n}"
        row = self.known.get(custom_id)
        first = True

        def send(body: dict[str, Any]) -> Any:
            nonlocal first
            if not first:
                return live(body)  # a re-ask: synchronously, with the usual retries
            first = False
            if row is not None and row["response_json"]:
                answer = json.loads(row["response_json"])
                counted = answer.get("usage") or {}
                usage.attempts += 1
                usage.prompt_tokens += int(counted.get("prompt_tokens") or 0)
                usage.completion_tokens += int(counted.get("completion_tokens") or 0)
                return completion_from_body(answer)
            if row is not None and _run_live(row):
                return live(body)  # the batch failed it, or never ran it twice
            self.deferred[custom_id] = body
            raise Deferred(custom_id)

        return send


def _run_live(row: sqlite3.Row) -> bool:
    if row["submissions"] >= MAX_SUBMISSIONS:
        return True
    error = json.loads(row["error_json"]) if row["error_json"] else None
    return error is not None and error.get("code") not in NOT_RUN


class _Tables:
    """The Batch API's own tables, in the batch's SQLite store."""

    def __init__(self, store: Store) -> None:
        self.db = store.db
        self.db.executescript(_SCHEMA)

    def open_batches(self) -> list[sqlite3.Row]:
        return list(self.db.execute("SELECT * FROM api_batches WHERE collected = 0"))

    def known(self, key: str) -> dict[str, sqlite3.Row]:
        rows = self.db.execute(
            "SELECT * FROM api_requests WHERE key = ? OR custom_id LIKE ?", (key, key + "#%")
        )
        return {str(r["custom_id"]): r for r in rows}

    def submitted(
        self, batch: dict[str, Any], requests: dict[str, tuple[str, dict[str, Any]]]
    ) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "INSERT INTO api_batches (batch_id, input_file_id, status, n_requests, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (batch["id"], batch["input_file_id"], batch["status"], len(requests), time.time()),
            )
            self.db.executemany(
                "INSERT INTO api_requests (custom_id, key, batch_id, submissions) VALUES (?, ?, ?, 1)"
                " ON CONFLICT (custom_id) DO UPDATE SET batch_id = excluded.batch_id,"
                " submissions = api_requests.submissions + 1, error_json = NULL",
                [(cid, key, batch["id"]) for cid, (key, _) in requests.items()],
            )

    def collected(self, batch: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for line in lines:
                response = line.get("response") or {}
                values: tuple[str | None, str | None]
                if response.get("status_code") == 200:
                    values = (json.dumps(response.get("body")), None)
                else:
                    error = line.get("error") or {
                        "code": f"http_{response.get('status_code')}",
                        "message": json.dumps(response.get("body"))[:500],
                    }
                    values = (None, json.dumps(error))
                self.db.execute(
                    "UPDATE api_requests SET response_json = ?, error_json = ? WHERE custom_id = ?",
                    (*values, line.get("custom_id")),
                )
            self.db.execute(
                "UPDATE api_batches SET status = ?, collected = 1 WHERE batch_id = ?",
                (batch["status"], batch["id"]),
            )


def poll_interval() -> float:
    raw = os.environ.get(POLL_ENV)
    try:
        return float(raw) if raw else DEFAULT_POLL_S
    except ValueError as exc:
        raise ConfigError(
            f"{POLL_ENV}={raw!r} is not a number of seconds; fix or unset it"
        ) from exc


def run_batch_api(opts: BatchOptions) -> BatchSummary:
    """Run one batch into ``opts.outdir`` with the LLM requests on the Batch API."""
    t_start = time.perf_counter()
    if opts.backend not in ("llm", "hybrid") or opts.config.base_url is None:
        raise ConfigError(
            "--batch-api is for the llm and hybrid backends on a hosted endpoint "
            "(--base-url/--model, e.g. https://api.openai.com/v1)",
            field="batch_api",
        )
    check_worker_limits("the batch api", opts.config)
    backend = api.get_backend(opts.backend, opts.config)
    check_backend(backend)
    endpoint = BatchEndpoint(opts.config)
    with Store(opts.outdir) as store:
        tables = _Tables(store)
        run = Run.begin(opts, store, backend, executor="batch api", concurrency=1, started=t_start)
        s = run.summary
        progress = BatchProgress(s.total, enabled=opts.progress)
        try:
            with progress:
                pending = list(run.pending(progress))
                progress.started()
                while run.stopped is None:
                    for open_batch in tables.open_batches():  # a killed run's batch first
                        _wait_and_collect(endpoint, tables, str(open_batch["batch_id"]), progress)
                    requests: dict[str, tuple[str, dict[str, Any]]] = {}
                    pending = _pass(run, backend, tables, pending, requests, progress)
                    if not requests:
                        break
                    _submit(endpoint, tables, requests, progress)
        except KeyboardInterrupt:
            s.interrupted = True
            log.warning("interrupted: the batch goes on at the endpoint; run again to collect it")
        finally:
            endpoint.close()
            run.finish()
    return s


def _pass(
    run: Run,
    backend: Backend,
    tables: _Tables,
    pending: list[Task],
    requests: dict[str, tuple[str, dict[str, Any]]],
    progress: BatchProgress,
) -> list[Task]:
    """Extract every pending letter whose answers are known; collect the others' requests."""
    left = []
    progress.stage("batch: reading letters")
    for task in pending:
        letter = _Letter(task.key, tables.known(task.key))
        token = SEND_HOOK.set(letter.hook)
        try:
            result: LetterResult | BaseException = process_one(task.path, backend, run.opts.config)
        except Deferred:
            for cid, body in letter.deferred.items():
                requests[cid] = (task.key, body)
            left.append(task)
            continue
        except ConfigError as exc:
            result = exc
        finally:
            SEND_HOOK.reset(token)
        run.commit([(task, result)], progress)
        if run.stopped is not None:
            break
    return left


def _submit(
    endpoint: Any,
    tables: _Tables,
    requests: dict[str, tuple[str, dict[str, Any]]],
    progress: BatchProgress,
) -> None:
    lines = [
        {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions", "body": body}
        for cid, (_, body) in requests.items()
    ]
    content = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    progress.stage(f"batch api: uploading {len(lines)} requests")
    file_id = endpoint.upload("llm-extract-requests.jsonl", content)
    batch = endpoint.create(file_id, metadata={"tool": "llm-extract"})
    tables.submitted(batch, requests)  # before waiting: a killed run polls this batch again
    log.info("batch api: submitted %s (%d requests)", batch["id"], len(lines))
    _wait_and_collect(endpoint, tables, str(batch["id"]), progress)


def _wait_and_collect(
    endpoint: Any, tables: _Tables, batch_id: str, progress: BatchProgress
) -> None:
    interval = poll_interval()
    while True:
        batch = endpoint.retrieve(batch_id)
        counts = batch.get("request_counts") or {}
        progress.stage(
            f"batch api {batch['status']} {counts.get('completed', 0)}/{counts.get('total', '?')}"
        )
        if batch["status"] in TERMINAL:
            break
        time.sleep(interval)
    lines: list[dict[str, Any]] = []
    for file_key in ("output_file_id", "error_file_id"):
        if batch.get(file_key):
            text = endpoint.content(batch[file_key]).decode("utf-8")
            lines += [json.loads(line) for line in text.splitlines() if line.strip()]
    tables.collected(batch, lines)
    if batch["status"] != "completed":
        log.warning(
            "batch api: %s ended %s; what it did not run goes again", batch_id, batch["status"]
        )
        return
    with contextlib.suppress(KeyError, TypeError, ValueError):
        failed = int(batch["request_counts"]["failed"])
        if failed:
            log.warning(
                "batch api: %d request(s) of %s failed; they run synchronously", failed, batch_id
            )
