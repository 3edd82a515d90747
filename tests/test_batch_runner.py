"""`llm-extract batch`: resumable, lossless, errors as data (rules backend, real letters)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from llm_extract.batch.runner import BatchOptions, BatchSummary, RateLimiter, run_batch
from llm_extract.batch.store import Store, StoreError
from llm_extract.cli import main
from llm_extract.config import load_config
from llm_extract.errors import LLMError
from llm_extract.loading import Letter
from llm_extract.models import Record
from llm_extract.rules.backend import RulesBackend


def run_cli(*args: str | Path) -> int:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    code = exc.value.code
    return int(code) if code is not None else 0


def results(outdir: Path) -> list[sqlite3.Row]:
    db = sqlite3.connect(outdir / "batch.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM results ORDER BY key").fetchall()
    finally:
        db.close()


def last_run(outdir: Path) -> sqlite3.Row:
    db = sqlite3.connect(outdir / "batch.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()
    finally:
        db.close()


def batch(
    inputs: list[str | Path], outdir: Path, backend: object = "rules", **kw: object
) -> BatchSummary:
    opts = BatchOptions(
        inputs=[str(i) for i in inputs],
        outdir=outdir,
        backend=backend,  # type: ignore[arg-type]
        config=load_config(backend="rules"),
        progress=False,
        **kw,  # type: ignore[arg-type]
    )
    return run_batch(opts)


class CountingRules:
    """The real rules backend, counting calls and concurrency; optionally failing."""

    name = "rules"
    version = RulesBackend.version

    def __init__(
        self,
        *,
        fail: set[str] | None = None,
        exc: type[Exception] = LLMError,
        sleep: float = 0.0,
        overlap: int = 0,
    ) -> None:
        self.inner = RulesBackend(load_config())
        self.fail = fail or set()
        self.exc = exc
        self.sleep = sleep
        self.calls: list[str] = []
        self.starts: list[float] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        # overlap=N: the first N letters wait (bounded) until N run at once, so a
        # test of concurrency does not depend on a sleep outlasting thread start-up
        # on a loaded machine.
        self._overlap = threading.Barrier(overlap) if overlap else None

    def extract(self, letter: Letter) -> Record:
        with self._lock:
            self.calls.append(letter.letter_id)
            self.starts.append(time.monotonic())
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self._overlap is not None and not self._overlap.broken:
                try:
                    self._overlap.wait(timeout=30)
                    self._overlap.abort()  # met once: the rest need not wait
                except threading.BrokenBarrierError:
                    pass  # later letters (or a timeout) pass through
            if self.sleep:
                time.sleep(self.sleep)
            if letter.letter_id in self.fail:
                if self.exc is LLMError:
                    raise LLMError(
                        "endpoint failed after 4 attempts (HTTP 500)", letter=letter.letter_id
                    )
                raise self.exc("boom in the backend")
            return self.inner.extract(letter)
        finally:
            with self._lock:
                self.active -= 1

    def close(self) -> None:
        pass


@pytest.fixture
def some_letters(letter_paths: list[Path], tmp_path: Path) -> list[Path]:
    """Five real letters copied under a folder whose path has spaces and unicode."""
    folder = tmp_path / "IMR lëtters (copy)"
    folder.mkdir()
    out = []
    for p in letter_paths[:5]:
        dest = folder / f"{p.stem} — décision.pdf"
        shutil.copyfile(p, dest)
        out.append(dest)
    return out


# --- the corpus end to end through the CLI -------------------------------------------
def test_corpus_batch_completes_and_a_rerun_skips_all_134(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_cli("batch", corpus, "--backend", "rules", "-o", out, "--no-progress") == 0
    rows = results(out)
    assert len(rows) == 134
    assert {r["status"] for r in rows} == {"done"}
    assert len({r["key"] for r in rows}) == 134
    first = last_run(out)
    assert (first["done"], first["skipped"], first["failed"]) == (134, 0, 0)
    for r in rows:
        rec = Record.model_validate_json(r["record_json"])  # every stored record validates
        assert rec.provenance is not None and rec.provenance.backend == "rules"
    assert run_cli("batch", corpus, "--backend", "rules", "-o", out, "--no-progress") == 0
    second = last_run(out)
    assert (second["done"], second["skipped"], second["failed"]) == (0, 134, 0)
    assert len(results(out)) == 134


# --- duplicates, keys, identity ------------------------------------------------------
def test_renamed_duplicates_are_extracted_once(some_letters: list[Path], tmp_path: Path) -> None:
    copy = some_letters[0].with_name("renamed copy ✓.pdf")
    shutil.copyfile(some_letters[0], copy)
    be = CountingRules()
    s = batch([*some_letters, copy], tmp_path / "out", backend=be)
    assert (s.done, s.duplicates, s.skipped) == (5, 1, 1)
    assert len(be.calls) == 5
    db = sqlite3.connect(tmp_path / "out" / "batch.sqlite3")
    paths = {p for (p,) in db.execute("SELECT path FROM sources")}
    db.close()
    assert str(copy) in paths and str(some_letters[0]) in paths
    # Renaming after the fact is also a duplicate, not new work.
    again = copy.with_name("yet another name.pdf")
    copy.rename(again)
    s2 = batch([again], tmp_path / "out", backend=be)
    assert (s2.done, s2.skipped, s2.duplicates) == (0, 1, 1)
    assert len(be.calls) == 5


def test_a_changed_backend_version_is_a_new_key(some_letters: list[Path], tmp_path: Path) -> None:
    be = CountingRules()
    batch(some_letters[:2], tmp_path / "out", backend=be)
    be2 = CountingRules()
    be2.version = "rules-test-next"
    s = batch(some_letters[:2], tmp_path / "out", backend=be2)
    assert s.done == 2 and len(be2.calls) == 2
    rows = results(tmp_path / "out")
    assert len(rows) == 4
    assert {r["backend_version"] for r in rows} == {RulesBackend.version, "rules-test-next"}


def test_model_and_prompt_version_are_part_of_the_key(
    some_letters: list[Path], tmp_path: Path
) -> None:
    be = CountingRules()
    be.model = "m-1"  # type: ignore[attr-defined]
    be.prompt_version = "p-1"  # type: ignore[attr-defined]
    batch(some_letters[:1], tmp_path / "out", backend=be)
    be.prompt_version = "p-2"  # type: ignore[attr-defined]
    assert batch(some_letters[:1], tmp_path / "out", backend=be).done == 1
    be.model = "m-2"  # type: ignore[attr-defined]
    assert batch(some_letters[:1], tmp_path / "out", backend=be).done == 1
    assert batch(some_letters[:1], tmp_path / "out", backend=be).skipped == 1
    rows = results(tmp_path / "out")
    assert {(r["model"], r["prompt_version"]) for r in rows} == {
        ("m-1", "p-1"),
        ("m-1", "p-2"),
        ("m-2", "p-2"),
    }


# --- errors are data -------------------------------------------------------------------
def _bad_inputs(folder: Path) -> dict[str, str]:
    """Bad files of every kind -> the error class each must be recorded with."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "shopping list.txt").write_text("eggs\nmilk\nbread\n", encoding="utf-8")
    blank = pdfium.PdfDocument.new()  # a page without a text layer, as a scan has
    blank.new_page(612, 792)
    blank.save(str(folder / "scanned.pdf"))
    blank.close()
    (folder / "letter.docx").write_bytes(b"PK\x03\x04 not a letter")
    return {
        "corrupt": "CorruptPdfError",
        "empty": "EmptyLetterError",
        "shopping list": "NotIMRLetterError",
        "scanned": "ScannedPdfError",
        "letter": "UnsupportedFormatError",
        "missing létter": "LetterNotFoundError",
    }


def test_bad_inputs_are_recorded_as_failures_and_the_run_goes_on(
    some_letters: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad ones"
    expected = _bad_inputs(bad)
    out = tmp_path / "out"
    code = run_cli(
        "batch",
        some_letters[0].parent,
        bad / "corrupt.pdf",
        bad / "empty.txt",
        bad / "shopping list.txt",
        bad / "scanned.pdf",
        bad / "letter.docx",
        bad / "missing létter.pdf",
        "--backend",
        "rules",
        "-o",
        out,
        "--no-progress",
    )
    assert code == 1  # some letters failed
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    rows = results(out)
    done = [r for r in rows if r["status"] == "done"]
    failed = {r["letter_id"]: r for r in rows if r["status"] == "failed"}
    assert len(done) == 5
    assert {k: r["error_class"] for k, r in failed.items()} == expected
    for r in failed.values():
        assert r["error_message"]
        err = json.loads(r["error_json"])
        assert err["error"] == r["error_class"] and err["letter"] == r["letter_id"]
    # A re-run skips them (still failed: exit 1) and says so.
    assert (
        run_cli("batch", some_letters[0].parent, bad, "-b", "rules", "-o", out, "--no-progress")
        == 1
    )
    run = last_run(out)
    assert (run["done"], run["failed"]) == (0, 0)
    assert "--retry-failed" in capsys.readouterr().out


def test_retry_failed_retries_only_the_failed(some_letters: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    flaky = {some_letters[1].stem, some_letters[3].stem}
    be = CountingRules(fail=set(flaky))
    s = batch(some_letters, out, backend=be)
    assert (s.done, s.failed, s.any_failed) == (3, 2, True)
    failed = {r["letter_id"]: r for r in results(out) if r["status"] == "failed"}
    assert set(failed) == flaky
    assert {r["error_class"] for r in failed.values()} == {"LLMError"}
    # Without the flag a re-run touches nothing and still reports the failures.
    s = batch(some_letters, out, backend=be)
    assert (s.done, s.skipped, s.previously_failed, len(be.calls)) == (0, 5, 2, 5)
    # With it, exactly the two failed letters run again, and now succeed.
    be.fail.clear()
    s = batch(some_letters, out, backend=be, retry_failed=True)
    assert (s.done, s.failed, s.skipped, s.any_failed) == (2, 0, 3, False)
    assert sorted(be.calls[5:]) == sorted(flaky)
    rows = results(out)
    assert len(rows) == 5 and {r["status"] for r in rows} == {"done"}
    assert {r["attempts"] for r in rows if r["letter_id"] in flaky} == {2}


def test_retry_failed_without_inputs_uses_the_stored_paths(
    some_letters: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    be = CountingRules(fail={some_letters[2].stem})
    batch(some_letters, out, backend=be)
    be.fail.clear()
    s = batch([], out, backend=be, retry_failed=True)
    assert (s.total, s.done, s.failed) == (1, 1, 0)
    assert be.calls[-1] == some_letters[2].stem


def test_an_unexpected_exception_in_a_backend_is_recorded_not_raised(
    some_letters: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    be = CountingRules(fail={some_letters[0].stem}, exc=ZeroDivisionError)
    s = batch(some_letters, tmp_path / "out", backend=be)
    assert (s.done, s.failed) == (4, 1)
    (row,) = [r for r in results(tmp_path / "out") if r["status"] == "failed"]
    assert row["error_class"] == "ZeroDivisionError"
    assert row["error_message"] == "boom in the backend"
    assert json.loads(row["error_json"])["unexpected"] is True
    assert "unexpected error extracting" in caplog.text  # logged with its traceback


# --- concurrency and rate --------------------------------------------------------------
def test_concurrency_is_bounded(some_letters: list[Path], tmp_path: Path) -> None:
    be = CountingRules(sleep=0.05, overlap=3)
    s = batch(some_letters, tmp_path / "out", backend=be, concurrency=3)
    assert s.done == 5
    assert be.max_active == 3  # overlapped, and never more than asked


def test_rpm_spaces_letter_starts(some_letters: list[Path], tmp_path: Path) -> None:
    be = CountingRules()
    batch(some_letters[:4], tmp_path / "out", backend=be, concurrency=4, rpm=600)  # one per 0.1 s
    # The limiter schedules slot i at t0 + i * 0.1 s; a thread may start late but
    # never early, so each start is at least i slots after the first one's slot.
    # (Cumulative, not gap by gap: one late start makes the next gap look short.)
    assert len(be.starts) == 4
    for i, start in enumerate(be.starts):
        assert start - be.starts[0] >= i * 0.1 - 0.02, be.starts


def test_rate_limiter_without_limit_never_waits() -> None:
    rl = RateLimiter(None)
    rl.take()
    assert rl.delay() == 0.0
    rl = RateLimiter(60)
    rl.take()
    assert 0.9 < rl.delay() <= 1.0


# --- the store -------------------------------------------------------------------------
def test_one_writer_per_outdir(tmp_path: Path) -> None:
    with Store(tmp_path / "out"), pytest.raises(StoreError, match="another batch"):
        Store(tmp_path / "out")
    Store(tmp_path / "out").close()  # released on close


def test_export_of_a_folder_without_a_store_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli("export", tmp_path) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "run `llm-extract batch" in err and "Traceback" not in err


def test_batch_without_inputs_is_a_usage_error(tmp_path: Path) -> None:
    assert run_cli("batch", "-o", tmp_path / "out", "-b", "rules") == 2


def test_a_path_named_twice_is_extracted_once(some_letters: list[Path], tmp_path: Path) -> None:
    be = CountingRules()
    s = batch([some_letters[0], some_letters[0].parent], tmp_path / "out", backend=be)
    assert (s.total, s.done, s.skipped, s.duplicates) == (6, 5, 1, 0)
    assert sorted(be.calls) == sorted(p.stem for p in some_letters)


def test_cost_estimate_uses_prices_per_million_tokens() -> None:
    from llm_extract.batch.run import Prices

    assert Prices().cost(1000, 1000) is None  # no price given: no estimate
    assert Prices(0.15, 0.60).cost(2_000_000, 500_000) == pytest.approx(0.60)
    assert Prices(prompt=1.0).cost(250_000, 10**9) == pytest.approx(0.25)


def test_summary_reports_tokens_and_cost(
    some_letters: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["batch", some_letters[0], "-b", "rules", "-o", tmp_path / "out", "--no-progress"]
    assert run_cli(*args, "--price-prompt", "0.15", "--price-completion", "0.6") == 0
    out = capsys.readouterr().out
    assert "done (extracted now)" in out and "estimated cost" in out and "$0.0000" in out
    assert "tokens" in out and "0 prompt + 0 completion" in out


def test_progress_bar_shows_rate_eta_failures_and_tokens() -> None:
    import io

    from rich.console import Console

    from llm_extract.batch.progress import BatchProgress

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=160, color_system=None)
    with BatchProgress(10, enabled=True, console=console) as progress:
        progress.skipped(2)  # skips do not count towards the rate
        progress.started()
        time.sleep(0.05)
        progress.finished(ok=True, tokens=1200)
        progress.finished(ok=False, tokens=300)
        assert progress.extracted == 2 and progress.completed == 4
        assert 0 < progress.rate() < 2 / 0.05 + 1
    text = buf.getvalue()
    assert "4/10" in text and "letters/s" in text and "ETA 0:00:" in text
    assert "1 failed" in text and "1,500 tok" in text


def test_paths_are_stored_absolute_so_retry_works_from_anywhere(
    some_letters: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(some_letters[0].parent)
    be = CountingRules(fail={some_letters[0].stem})
    batch([some_letters[0].name, some_letters[1].name], tmp_path / "out", backend=be)
    assert {r["source_path"] for r in results(tmp_path / "out")} == {
        str(some_letters[0]),
        str(some_letters[1]),
    }
    monkeypatch.chdir(tmp_path)  # elsewhere: the stored path still finds the letter
    be.fail.clear()
    s = batch([], tmp_path / "out", backend=be, retry_failed=True)
    assert (s.done, s.failed) == (1, 0)


def test_default_concurrency_and_executor_per_backend() -> None:
    import os

    from llm_extract.batch.pool import choose_executor, default_concurrency

    embedded = load_config(env={})
    remote = load_config(env={}, base_url="http://127.0.0.1:9/v1", model="m")
    assert choose_executor("rules", "auto") == "process"
    assert choose_executor("llm", "auto") == choose_executor("hybrid", "auto") == "thread"
    assert default_concurrency("process", "rules", embedded) == (os.cpu_count() or 1)
    # The embedded server answers one request at a time; a remote endpoint takes more.
    assert default_concurrency("thread", "hybrid", embedded) == 1
    assert default_concurrency("thread", "llm", remote) == 4


def test_llm_backend_identity_is_what_its_records_name() -> None:
    # The key must use the model the records will name: without --base-url the
    # embedded model is used whatever --model says, so a stray --model must not
    # change the key (it did when the batch derived the model from the config).
    from llm_extract.batch.identity import BackendIdentity
    from llm_extract.config import load_config
    from llm_extract.llm.hybrid import HybridBackend
    from llm_extract.llm.model_files import local_model_name
    from llm_extract.llm.prompting import prompt_version

    config = load_config(env={}, model="stray-model")
    ident = BackendIdentity.of(HybridBackend(config))
    assert ident.model == local_model_name(config) != "stray-model"
    assert ident.prompt_version == prompt_version()
    assert ident.name == "hybrid"
