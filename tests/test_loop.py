"""The one loop for many letters (llm_extract.loop) and "when the LLM is not there, stop".

Real HTTP against the fake OpenAI-compatible server (llm_extract.devtools.fake_openai)
or against a loopback port nothing listens on; the real hybrid backend on synthetic
letters; the real batch store.
"""

from __future__ import annotations

import json
import pickle
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SYNTHETIC

from llm_extract import api
from llm_extract.batch import runner
from llm_extract.batch.runner import BatchOptions, BatchSummary, run_batch
from llm_extract.breaker import FallbackBreaker, transport_reason
from llm_extract.cli import main
from llm_extract.config import Config, load_config
from llm_extract.devtools.fake_openai import FakeOpenAI, Reply
from llm_extract.errors import (
    BackendUnavailableError,
    ConfigError,
    EndpointDownError,
    ExtractionError,
    LLMError,
    MemoryLimitExceeded,
    NotIMRLetterError,
)
from llm_extract.loading import Letter
from llm_extract.loop import LetterResult, process_one, run_letters
from llm_extract.models import Provenance, Record
from llm_extract.rules.backend import RulesBackend

LETTER = SYNTHETIC / "rules_pdf_layout.txt"  # a letter the hybrid asks the LLM about


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _letters(folder: Path, n: int) -> list[Path]:
    """``n`` copies of one real synthetic letter with distinct bytes (distinct batch keys)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = LETTER.read_text(encoding="utf-8")
    out = []
    for i in range(n):
        p = folder / f"L{i:02d}.txt"
        p.write_text(text + "\n" * (i + 1), encoding="utf-8")
        out.append(p)
    return out


def _hybrid_config(base_url: str) -> Config:
    return load_config(
        env={},
        backend="hybrid",
        base_url=base_url,
        model="fake-model",
        instructor_mode="tools",
        timeout_s=2.0,
        max_retries=0,  # one attempt per letter: the breaker, not the retries, is tested
        max_reasks=0,
    )


def run_cli(*args: str | Path) -> int:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    code = exc.value.code
    return int(code) if code is not None else 0


def rows(outdir: Path) -> dict[str, sqlite3.Row]:
    db = sqlite3.connect(outdir / "batch.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        return {r["letter_id"]: r for r in db.execute("SELECT * FROM results")}
    finally:
        db.close()


@pytest.fixture(autouse=True)
def _fresh_backends() -> Iterator[None]:
    yield
    api.close_backends()


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


# --- the one rule for failures -----------------------------------------------------------
class Scripted:
    """The rules backend, raising a given exception on some letters."""

    name = "rules"
    version = RulesBackend.version

    def __init__(self, raises: dict[str, BaseException]) -> None:
        self.inner = RulesBackend(load_config(env={}))
        self.raises = raises
        self.calls: list[str] = []
        self.checks = 0

    def check(self) -> None:
        self.checks += 1

    def extract(self, letter: Letter) -> Record:
        self.calls.append(letter.letter_id)
        exc = self.raises.get(letter.letter_id)
        if exc is not None:
            raise exc
        return self.inner.extract(letter)

    def close(self) -> None:
        pass


def test_process_one_turns_a_letters_problem_into_data(tmp_path: Path) -> None:
    paths = _letters(tmp_path, 3)
    be = Scripted(
        {
            "L01": NotIMRLetterError("not an IMR letter", letter="L01"),
            "L02": ZeroDivisionError("boom in the backend"),
        }
    )
    ok, typed, bug = (process_one(p, be) for p in paths)
    assert ok.ok and ok.error is None and ok.record is not None and ok.seconds > 0
    assert ok.text_sha256 == ok.record.provenance.text_sha256  # type: ignore[union-attr]
    assert not typed.ok and typed.error_class == "NotIMRLetterError"
    assert typed.error is not None and typed.error["exit_code"] == 2
    assert typed.error_message == "L01: not an IMR letter"
    assert bug.error is not None and bug.error["unexpected"] is True
    assert "ZeroDivisionError" in bug.error["traceback"]  # kept with the data
    assert bug.error_message == "L02: unexpected ZeroDivisionError: boom in the backend"
    missing = process_one(tmp_path / "nope.pdf", be)
    assert missing.error_class == "LetterNotFoundError" and missing.letter_id == "nope"


def test_extract_goes_through_the_one_loop_and_raises_the_letters_typed_error(
    tmp_path: Path,
) -> None:
    paths = _letters(tmp_path, 3)
    be = Scripted(
        {
            "L01": NotIMRLetterError("not an IMR letter", letter="L01"),
            "L02": MemoryError(),
        }
    )
    record = api.extract(paths[0], backend=be)
    assert record.letter_id == process_one(paths[0], be).record.letter_id  # type: ignore[union-attr]
    with pytest.raises(NotIMRLetterError, match="not an IMR letter") as typed:
        api.extract(paths[1], backend=be)
    assert typed.value is be.raises["L01"]  # the very exception, its traceback kept
    # Running out of memory is the letter's typed failure, in extract() and as data.
    with pytest.raises(MemoryLimitExceeded, match="worker-memory-mb") as limit:
        api.extract(paths[2], backend=be)
    assert limit.value.exit_code == 2
    as_data = process_one(paths[2], be)
    assert as_data.error_class == "MemoryLimitExceeded" and as_data.exception is not None
    # A result from another process carries no exception, only its data.
    shipped = pickle.loads(pickle.dumps(as_data))
    assert shipped.exception is None and shipped.error == as_data.error
    with pytest.raises(ExtractionError, match="needs more memory"):
        shipped.raise_for_error()


def test_a_config_error_stops_the_loop_instead_of_becoming_data(tmp_path: Path) -> None:
    paths = _letters(tmp_path, 3)
    be = Scripted({"L01": BackendUnavailableError("the key was rejected")})
    seen: list[LetterResult] = []
    with pytest.raises(BackendUnavailableError, match="rejected"):
        seen.extend(run_letters(paths, be))
    assert [r.letter_id for r in seen] == ["L00"] and be.calls == ["L00", "L01"]


def test_extract_many_checks_the_backend_once_before_the_first_letter(tmp_path: Path) -> None:
    paths = _letters(tmp_path, 3)

    class Dead(Scripted):
        def check(self) -> None:
            raise BackendUnavailableError("cannot reach http://127.0.0.1:1/v1")

    dead = Dead({})
    with pytest.raises(BackendUnavailableError):
        next(api.extract_many(paths, backend=dead))
    assert dead.calls == []  # not reported once per letter: not even tried
    alive = Scripted({})
    results = list(api.extract_many(paths, backend=alive))
    assert [r.ok for r in results] == [True] * 3 and alive.checks == 1


# --- the circuit breaker (unit) ----------------------------------------------------------
def _fallback(reason: str) -> LetterResult:
    record = Record(letter_id="x")
    record.provenance = Provenance(
        text_sha256="0" * 64,
        backend="hybrid",
        backend_version="t",
        fallback=True,
        fallback_reason=reason,
    )
    return LetterResult(source="x", letter_id="x", record=record)


def test_breaker_counts_consecutive_fallbacks_of_one_transport_reason() -> None:
    refused = "x: cannot reach http://h/v1 (1 attempt(s)): ConnectError: refused"
    http500 = "x: http://h/v1 kept failing with HTTP 503 (5 attempt(s))"
    assert transport_reason(refused) == "cannot reach the endpoint"
    assert transport_reason("x: fake gave no valid HybridAnswer in 3 attempt(s)") is None
    ok = LetterResult(source="y", letter_id="y", record=Record(letter_id="y"))
    bad_pdf = LetterResult.failed("z.pdf", NotIMRLetterError("not IMR"))
    b = FallbackBreaker(3)
    for r in (_fallback(refused), _fallback(refused), ok, _fallback(refused), bad_pdf):
        b.observe(r)  # a served letter resets; a bad PDF does neither
    b.observe(_fallback(http500))  # another reason: a new streak
    b.observe(_fallback(http500))
    with pytest.raises(EndpointDownError, match=r"3 letters in a row.*HTTP 5xx") as err:
        b.observe(_fallback(http500))
    assert err.value.exit_code == 4
    off = FallbackBreaker(0)
    for _ in range(10):
        off.observe(_fallback(refused))


def test_breaker_also_stops_the_llm_backend_failing_on_transport(tmp_path: Path) -> None:
    paths = _letters(tmp_path, 6)
    refused = "cannot reach http://h/v1 (5 attempt(s)): ConnectError: [Errno 111]"
    be = Scripted({f"L{i:02d}": LLMError(refused) for i in range(1, 6)})
    seen: list[LetterResult] = []
    with pytest.raises(EndpointDownError):
        seen.extend(run_letters(paths, be, load_config(env={}, max_consecutive_fallbacks=2)))
    assert [r.ok for r in seen] == [True, False, False]  # bounded: stopped at the 2nd


# --- a dead endpoint fails before the first letter ---------------------------------------
def test_extract_against_a_dead_endpoint_fails_before_the_first_letter(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    code = run_cli("extract", LETTER, "-b", "hybrid", "--base-url", url, "--model", "m")
    out, err = capsys.readouterr()
    assert code == 3 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "cannot reach" in lines[0]
    assert "Traceback" not in err


def test_batch_against_a_dead_endpoint_fails_before_the_first_letter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _letters(tmp_path / "in", 3)
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    out = tmp_path / "out"
    code = run_cli(
        "batch", *paths, "-o", out, "-b", "hybrid", "--base-url", url, "--model", "m",
        "--no-progress",
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 3 and "cannot reach" in err and "Traceback" not in err
    assert not (out / "batch.sqlite3").exists()  # no letter started, nothing stored


def test_eval_against_a_dead_endpoint_stops_before_the_first_letter(tmp_path: Path) -> None:
    from llm_extract.evaluation.gold import GoldRecord
    from llm_extract.evaluation.runner import run_backend

    config = _hybrid_config(f"http://127.0.0.1:{_closed_port()}/v1")
    _letters(tmp_path, 1)
    gold = [GoldRecord("L00", Record(letter_id="L00"), tmp_path / "g.json", "dev")]
    with pytest.raises(BackendUnavailableError, match="cannot reach"):
        run_backend(gold, tmp_path, backend="hybrid", config=config)


# --- an endpoint that dies mid-run -------------------------------------------------------
def _batch(paths: list[Path], out: Path, config: Config, **kw: object) -> BatchSummary:
    opts = BatchOptions(
        inputs=[str(p) for p in paths],
        outdir=out,
        backend="hybrid",
        config=config,
        concurrency=1,
        progress=False,
        **kw,  # type: ignore[arg-type]
    )
    return run_batch(opts)


@pytest.fixture
def one_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    """One letter in flight at a time: which letter meets the dead endpoint is fixed."""
    monkeypatch.setattr(runner, "INFLIGHT_PER_WORKER", 1)


def test_an_endpoint_dying_mid_run_stops_the_batch_and_the_fallbacks_are_retried(
    tmp_path: Path, one_in_flight: None
) -> None:
    paths = _letters(tmp_path / "in", 10)
    out = tmp_path / "out"
    server = FakeOpenAI().start()
    config = _hybrid_config(server.base_url)
    killed: list[bool] = []

    def kill_after_two(result: LetterResult, s: BatchSummary) -> None:
        if s.done == 2 and not killed:
            killed.append(True)
            server.stop()  # the endpoint goes away: connections are refused from now on

    try:
        s = runner.run_batch(
            BatchOptions(
                inputs=[str(p) for p in paths],
                outdir=out,
                backend="hybrid",
                config=config,
                concurrency=1,
                progress=False,
            ),
            on_result=kill_after_two,
        )
    finally:
        if not killed:
            server.stop()
    # Stopped by the breaker after 3 fallbacks (the default), not 8.
    assert isinstance(s.stopped, EndpointDownError) and "cannot reach" in str(s.stopped)
    assert (s.done, s.fallbacks, s.failed) == (2, 3, 0)
    stored = rows(out)
    assert sorted(stored) == ["L00", "L01", "L02", "L03", "L04"]  # what was done is kept
    fell_back = {k for k, r in stored.items() if r["fallback"]}
    assert fell_back == {"L02", "L03", "L04"}
    for k in fell_back:
        assert stored[k]["status"] == "done"  # a record, the parser's
        record = json.loads(stored[k]["record_json"])
        assert record["provenance"]["fallback"] is True
        assert record["needs_review"] is True and record["review_reasons"]
    run = sqlite3.connect(out / "batch.sqlite3").execute(
        "SELECT done, fallbacks FROM runs ORDER BY run_id DESC LIMIT 1"
    )
    assert tuple(run.fetchone()) == (2, 3)

    # The endpoint is back (same model name: the same keys).  A plain re-run does the
    # letters never started and skips the fallbacks, but counts them apart.
    with FakeOpenAI() as alive:
        again = _batch(paths, out, _hybrid_config(alive.base_url))
        assert again.stopped is None
        assert (again.done, again.fallbacks, again.previously_fallback) == (5, 0, 3)
        assert again.any_fallback and not again.any_failed
        # --retry-failed extracts the fallbacks again, now with the LLM.
        retried = _batch(paths, out, _hybrid_config(alive.base_url), retry_failed=True)
    assert (retried.done, retried.fallbacks, retried.skipped) == (3, 0, 7)
    stored = rows(out)
    assert len(stored) == 10 and not any(r["fallback"] for r in stored.values())
    assert {stored[k]["attempts"] for k in fell_back} == {2}


def test_batch_cli_exit_codes_for_a_run_stopped_and_for_stored_fallbacks(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    one_in_flight: None,
) -> None:
    paths = _letters(tmp_path / "in", 6)
    out = tmp_path / "out"
    monkeypatch.setenv("LLM_EXTRACT_MAX_RETRIES", "0")
    monkeypatch.setenv("LLM_EXTRACT_MAX_REASKS", "0")
    monkeypatch.setenv("LLM_EXTRACT_INSTRUCTOR_MODE", "tools")
    # Two letters served, then HTTP 500 on every request.
    with FakeOpenAI([Reply.schema(), Reply.schema()], default=Reply.error(500)) as fake:
        args = ("-o", out, "-b", "hybrid", "--base-url", fake.base_url, "--model", "fake-model",
                "-j", "1")  # fmt: skip
        code = run_cli("batch", *paths, *args, "--no-progress")
        captured = capsys.readouterr()
        assert code == 4, captured.err
        assert "fallbacks (now" in captured.out
        assert captured.err.strip().splitlines()[-1].startswith("error: stopped after 3 letters")
        assert "Traceback" not in captured.err
        assert len(fake.completions) == 5  # bounded: 2 served + 3 fallbacks, then stop
        # The breaker off: the rest run, the fallbacks are stored, exit 5 (not 0).
        monkeypatch.setenv("LLM_EXTRACT_MAX_CONSECUTIVE_FALLBACKS", "0")
        code = run_cli("batch", *paths, *args, "--no-progress")
        assert code == 5, capsys.readouterr().err
    stored = rows(out)
    assert len(stored) == 6 and sum(r["fallback"] for r in stored.values()) == 4


def test_a_rejected_config_mid_run_stops_the_batch_and_keeps_what_was_done(
    tmp_path: Path, one_in_flight: None
) -> None:
    paths = _letters(tmp_path / "in", 5)
    be = Scripted({"L02": ConfigError("the endpoint now rejects the key")})
    s = run_batch(
        BatchOptions(
            inputs=[str(p) for p in paths],
            outdir=tmp_path / "out",
            backend=be,
            config=load_config(env={}, backend="rules"),
            concurrency=1,
            progress=False,
        )
    )
    assert isinstance(s.stopped, ConfigError) and s.done == 2
    assert sorted(rows(tmp_path / "out")) == ["L00", "L01"]  # L02 not recorded: redone


@pytest.fixture
def rejecting_server() -> Iterator[str]:
    """An OpenAI-compatible endpoint that answers every request 401 (a wrong key)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Reject(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _reject(self) -> None:
            body = (
                b'{"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}'
            )
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _reject

    server = ThreadingHTTPServer(("127.0.0.1", 0), Reject)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_a_rejected_key_fails_extract_and_batch_before_the_first_letter(
    rejecting_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("-b", "hybrid", "--base-url", rejecting_server, "--model", "m")
    assert run_cli("extract", LETTER, *args) == 3
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "rejected the API key" in err
    paths = _letters(tmp_path / "in", 2)
    assert run_cli("batch", *paths, "-o", tmp_path / "out", *args, "--no-progress") == 3
    assert "rejected the API key" in capsys.readouterr().err
    assert not (tmp_path / "out" / "batch.sqlite3").exists()


def test_extract_stops_when_the_endpoint_fails_mid_run_keeping_the_records_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _letters(tmp_path / "in", 6)
    monkeypatch.setenv("LLM_EXTRACT_MAX_RETRIES", "0")
    monkeypatch.setenv("LLM_EXTRACT_INSTRUCTOR_MODE", "tools")
    out = tmp_path / "out.jsonl"
    with FakeOpenAI([Reply.schema()], default=Reply.error(503)) as fake:
        code = run_cli(
            "extract", *paths, "-o", out, "-b", "hybrid",
            "--base-url", fake.base_url, "--model", "fake-model",
        )  # fmt: skip
        assert len(fake.completions) == 4  # 1 served + 3 fallbacks, then stop
    err = capsys.readouterr().err
    assert code == 4 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: stopped after 3 letters")
    assert err.count("warning: ") == 3  # each fallback said so on stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["provenance"]["fallback"] for r in records] == [False, True, True, True]
    assert all(r["needs_review"] for r in records[1:])
