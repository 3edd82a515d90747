"""A batch over real HTTP survives 429s, 500s, timeouts and garbage, losing nothing.

The server is the fake OpenAI-compatible endpoint (llm_extract.devtools.fake_openai)
with scripted faults.  The backend under the batch makes one structured call
per letter through the project's LLMClient (openai + instructor + tenacity, the
same stack as the llm backend) and then returns the rules record of the letter,
so the final store can be compared with a plain rules run, letter by letter.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from llm_extract.batch.runner import BatchOptions, BatchSummary, run_batch
from llm_extract.config import Config, load_config
from llm_extract.devtools.fake_openai import FakeOpenAI, Reply
from llm_extract.llm.client import LLMClient
from llm_extract.llm.transport import Backoff
from llm_extract.loading import Letter
from llm_extract.models import Record
from llm_extract.rules.backend import RulesBackend

FAST = Backoff(initial=0.01, maximum=0.05, jitter=0.01, max_retry_after=2.0)


class _Check(BaseModel):
    case_number: str | None
    items_count: int | None


class OneCallThenRules:
    """extract() = one real structured LLM call, then the rules record (deterministic)."""

    name = "one-call-rules"
    version = "test-1"

    def __init__(self, config: Config) -> None:
        self.client = LLMClient(config, backoff=FAST)
        self.model = self.client.model
        self.prompt_version = "test"
        self.rules = RulesBackend(config)

    def extract(self, letter: Letter) -> Record:
        self.client.complete(
            _Check, [{"role": "user", "content": letter.text[:2000]}], letter_id=letter.letter_id
        )
        return self.rules.extract(letter)

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _config(fake: FakeOpenAI, **kw: object) -> Config:
    settings: dict[str, object] = {
        "base_url": fake.base_url,
        "model": "fake-model",
        "instructor_mode": "tools",
        "timeout_s": 1.0,
        "max_retries": 3,
        "max_reasks": 1,
        **kw,
    }
    return load_config(env={}, **settings)


def _batch(
    paths: list[Path], out: Path, backend: object, config: Config, **kw: object
) -> BatchSummary:
    return run_batch(
        BatchOptions(
            inputs=[str(p) for p in paths],
            outdir=out,
            backend=backend,  # type: ignore[arg-type]
            config=config,
            progress=False,
            **kw,  # type: ignore[arg-type]
        )
    )


def _rows(out: Path) -> dict[str, sqlite3.Row]:
    db = sqlite3.connect(out / "batch.sqlite3")
    db.row_factory = sqlite3.Row
    rows = db.execute("SELECT * FROM results").fetchall()
    db.close()
    by_letter = {r["letter_id"]: r for r in rows}
    assert len(by_letter) == len(rows)  # one row per letter, never two
    return by_letter


def _rules_records(paths: list[Path]) -> dict[str, dict[str, object]]:
    from llm_extract import extract

    out = {}
    for p in paths:
        rec = extract(p, backend="rules").to_dict()
        rec["provenance"]["usage"]["seconds"] = None
        out[p.stem] = rec
    return out


def _stored(row: sqlite3.Row) -> dict[str, object]:
    rec = json.loads(row["record_json"])
    rec["provenance"]["usage"]["seconds"] = None
    return rec


def test_a_batch_survives_429_500_timeouts_and_garbage(
    fake: FakeOpenAI, letter_paths: list[Path], tmp_path: Path
) -> None:
    paths = letter_paths[:10]
    fake.push(
        Reply.rate_limited(retry_after=0.2),
        Reply.error(500),
        Reply.hang(3.0),  # past the 1 s client timeout
        Reply.malformed_body(),
        Reply.error(503),
        Reply.text("this is not JSON at all"),  # instructor re-asks
        Reply.rate_limited(retry_after=None),
        Reply.json({"case_number": 17}),  # schema violation: re-asked
    )
    # Whichever letters draw the faults, none runs out of retries: even all six
    # transport faults on one request, and both bad answers on one letter.
    config = _config(fake, max_retries=7, max_reasks=2)
    backend = OneCallThenRules(config)
    try:
        s = _batch(paths, tmp_path / "out", backend, config, concurrency=4)
    finally:
        backend.close()
    assert (s.done, s.failed) == (10, 0)
    # Every fault cost a request, and every letter still got exactly one record.
    assert len(fake.completions) >= 10 + 8
    rows = _rows(tmp_path / "out")
    want = _rules_records(paths)
    assert set(rows) == set(want)
    for lid, row in rows.items():
        assert row["status"] == "done"
        assert _stored(row) == want[lid]


def test_letters_whose_retries_run_out_are_failures_then_retried(
    fake: FakeOpenAI, letter_paths: list[Path], tmp_path: Path
) -> None:
    paths = letter_paths[10:16]
    out = tmp_path / "out"
    config = _config(fake, max_retries=1)
    fake.default = Reply.error(500)  # the endpoint is down
    backend = OneCallThenRules(config)
    try:
        s = _batch(paths, out, backend, config, concurrency=3)
        assert (s.done, s.failed, s.any_failed) == (0, 6, True)
        rows = _rows(out)
        assert {r["error_class"] for r in rows.values()} == {"LLMError"}
        assert all("500" in r["error_message"] for r in rows.values())
        # The endpoint recovers: --retry-failed redoes exactly those six.
        fake.default = Reply.schema()
        before = len(fake.completions)
        s = _batch(paths, out, backend, config, concurrency=3, retry_failed=True)
    finally:
        backend.close()
    assert (s.done, s.failed, s.skipped) == (6, 0, 0)
    assert len(fake.completions) - before == 6
    rows = _rows(out)
    want = _rules_records(paths)
    assert {lid: _stored(r) for lid, r in rows.items()} == want
    assert {r["attempts"] for r in rows.values()} == {2}


def test_garbage_after_every_reask_is_recorded_as_a_response_error(
    fake: FakeOpenAI, letter_paths: list[Path], tmp_path: Path
) -> None:
    config = _config(fake, max_reasks=1)
    fake.default = Reply.text("{not json")
    backend = OneCallThenRules(config)
    try:
        s = _batch(letter_paths[:2], tmp_path / "out", backend, config, concurrency=2)
    finally:
        backend.close()
    assert (s.done, s.failed) == (0, 2)
    rows = _rows(tmp_path / "out")
    assert {r["error_class"] for r in rows.values()} == {"LLMResponseError"}
    # Tokens spent on failed letters are still counted.
    assert s.prompt_tokens > 0


@pytest.mark.skipif(
    importlib.util.find_spec("llm_extract.llm.backend") is None,
    reason="the llm backend is not installed",
)
def _llm_batch_args(paths: list[Path], out: Path, fake: FakeOpenAI, *, jobs: int) -> list[str]:
    """`llm-extract batch` with the llm backend against the fake endpoint."""
    return [
        "batch",
        *[str(p) for p in paths],
        "-o",
        str(out),
        "--backend",
        "llm",
        "--base-url",
        fake.base_url,
        "--model",
        "fake-model",
        "-j",
        str(jobs),
    ]


def test_cli_batch_with_the_llm_backend_against_a_faulty_endpoint(
    fake: FakeOpenAI,
    letter_paths: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llm_extract.cli import main

    monkeypatch.setenv("LLM_EXTRACT_TIMEOUT", "1")  # so that the hang below times out
    fake.push(
        Reply.rate_limited(retry_after=0.1),
        Reply.error(500),
        Reply.hang(2.5),
        Reply.malformed_body(),
        Reply.text("garbage, not JSON"),
    )
    out = tmp_path / "out"
    args = [*_llm_batch_args(letter_paths[:4], out, fake, jobs=4), "--no-progress"]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 0, capsys.readouterr()
    rows = _rows(out)
    assert len(rows) == 4 and {r["status"] for r in rows.values()} == {"done"}
    assert len(fake.completions) >= 5 + 4  # every fault was met, and survived
    assert {r["model"] for r in rows.values()} == {"fake-model"}
    assert all(r["prompt_version"] for r in rows.values())
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 0
    db = sqlite3.connect(out / "batch.sqlite3")
    assert db.execute("SELECT skipped FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()[0] == 4
    db.close()


# -- worker processes with threads (--executor multi) --------------------------------
needs_fork = pytest.mark.skipif(
    not __import__("llm_extract.batch.multipool", fromlist=["x"]).fork_available(),
    reason="--executor multi forks its workers; this platform has no fork()",
)


@needs_fork
def test_multi_executor_survives_faults_and_matches_a_rules_run(
    fake: FakeOpenAI, letter_paths: list[Path], tmp_path: Path
) -> None:
    paths = letter_paths[:12]
    fake.push(
        Reply.rate_limited(retry_after=0.2),
        Reply.error(500),
        Reply.malformed_body(),
        Reply.text("this is not JSON at all"),
        Reply.json({"case_number": 17}),
    )
    config = _config(fake, max_retries=7, max_reasks=2)
    backend = OneCallThenRules(config)
    # The parent's client has an open connection when the workers fork: each
    # worker must build its own instead of writing to the parent's socket.
    backend.client.complete(_Check, [{"role": "user", "content": "warm-up"}])
    try:
        s = _batch(paths, tmp_path / "out", backend, config, concurrency=16, executor="multi")
    finally:
        backend.close()
    assert s.executor == "multi"
    assert (s.done, s.failed) == (12, 0)
    assert len(fake.completions) >= 1 + 12 + 5
    rows = _rows(tmp_path / "out")
    want = _rules_records(paths)
    assert set(rows) == set(want)
    for lid, row in rows.items():
        assert row["status"] == "done"
        assert _stored(row) == want[lid]


@needs_fork
def test_multi_executor_worker_death_fails_only_the_culprit(
    fake: FakeOpenAI, letter_paths: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm_extract.batch.faults import TEST_CRASH_ENV

    paths = letter_paths[:8]
    victim = paths[3].stem
    monkeypatch.setenv(TEST_CRASH_ENV, victim)  # inherited by the forked workers
    config = _config(fake)
    backend = OneCallThenRules(config)
    try:
        s = _batch(paths, tmp_path / "out", backend, config, concurrency=4, executor="multi")
    finally:
        backend.close()
    # Its pool's letters in flight were retried alone and succeeded; the one
    # that kills its worker every time is recorded, and the run went on.
    assert (s.done, s.failed) == (7, 1)
    rows = _rows(tmp_path / "out")
    assert rows.pop(victim)["error_class"] == "WorkerCrashed"
    assert {r["status"] for r in rows.values()} == {"done"} and len(rows) == 7


def test_multi_is_chosen_for_high_concurrency_on_an_own_endpoint() -> None:
    import os

    from llm_extract.batch.multipool import fork_available
    from llm_extract.batch.pool import choose_executor, multi_shape
    from llm_extract.errors import ConfigError

    embedded = load_config(env={})
    remote = load_config(env={}, base_url="http://127.0.0.1:9/v1", model="m")
    many = (os.cpu_count() or 1) > 1 and fork_available()
    assert choose_executor("llm", "auto", 32, remote) == ("multi" if many else "thread")
    assert choose_executor("llm", "auto", 8, remote) == "thread"
    # Never with the embedded server: a worker process must not own or stop it.
    assert choose_executor("hybrid", "auto", 32, embedded) == "thread"
    with pytest.raises(ConfigError, match="base-url"):
        choose_executor("hybrid", "multi", 32, embedded)
    processes, threads = multi_shape(32)
    assert processes * threads >= 32 and processes <= (os.cpu_count() or 1)


@needs_fork
def test_a_forked_child_drops_the_parents_http_client(fake: FakeOpenAI) -> None:
    import multiprocessing

    client = LLMClient(_config(fake), backoff=FAST)
    client.complete(_Check, [{"role": "user", "content": "x"}])
    assert client._endpoint._client is not None
    ctx = multiprocessing.get_context("fork")
    parent_end, child_end = ctx.Pipe()

    def child() -> None:
        dropped = client._endpoint._client is None
        client.complete(_Check, [{"role": "user", "content": "y"}])
        child_end.send((dropped, client._endpoint._client is not None))

    proc = ctx.Process(target=child)
    proc.start()
    assert parent_end.poll(20)
    assert parent_end.recv() == (True, True)
    proc.join(10)
    assert proc.exitcode == 0
    # The parent's own client is untouched and still works.
    client.complete(_Check, [{"role": "user", "content": "z"}])
    client.close()


@needs_fork
def test_cli_batch_at_high_concurrency_runs_worker_processes(
    fake: FakeOpenAI,
    letter_paths: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # -j 16 on a --base-url endpoint: forked workers with threads, progress bar on.
    import os

    from llm_extract.cli import main

    fake.push(Reply.error(500), Reply.text("garbage, not JSON"))
    out = tmp_path / "out"
    args = _llm_batch_args(letter_paths[:6], out, fake, jobs=16)
    with pytest.raises(SystemExit) as exc:
        main(args)
    printed = capsys.readouterr()
    assert exc.value.code == 0, printed
    if (os.cpu_count() or 1) > 1:
        assert "2 processes x 8 threads" in printed.out
    rows = _rows(out)
    assert len(rows) == 6 and {r["status"] for r in rows.values()} == {"done"}
    assert {r["model"] for r in rows.values()} == {"fake-model"}
