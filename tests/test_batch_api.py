"""``batch --batch-api`` against the fake endpoint's /v1/files and /v1/batches.

Records must be exactly those of the built-in engine against the same fake
(whose answers are deterministic), through completed, expired, partly failed
and invalid batches, and a command killed while it polls must resume polling
the same batch instead of submitting (paying for) a second one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ray_support import kill_when, options, snapshot

from llm_extract.batch.batch_api import POLL_ENV, run_batch_api
from llm_extract.batch.runner import BatchSummary, run_batch
from llm_extract.devtools.fake_openai import FakeOpenAI
from llm_extract.llm.hybrid import diagnosis_questions, uncertain_fields
from llm_extract.loading import load_letter
from llm_extract.rules.backend import parse_letter


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv(POLL_ENV, "0.01")
    with FakeOpenAI() as server:
        yield server


def _asks_the_model(path: Path) -> bool:
    """Does hybrid ask this letter anything (a letter decided with certainty makes no call)?"""
    parsed = parse_letter(load_letter(path))
    return any(uncertain_fields(parsed.record)) or bool(diagnosis_questions(parsed))


@pytest.fixture(scope="module")
def letters(letter_paths: list[Path]) -> list[Path]:
    # Letters the Batch API has a request for: one custom id per letter.
    chosen = [p for p in letter_paths if _asks_the_model(p)][:6]
    assert len(chosen) == 6
    return chosen


def _settings(fake: FakeOpenAI) -> dict[str, object]:
    return {"base_url": fake.base_url, "model": "fake-model", "timeout_s": 5.0, "max_retries": 1}


def _both(
    fake: FakeOpenAI,
    letters: list[Path],
    tmp_path: Path,
    backend: str = "hybrid",
    *,
    same_usage: bool = True,
) -> tuple[BatchSummary, int]:
    """The Batch API run, and how many live requests it made; then the built-in run."""
    summary = run_batch_api(options(letters, tmp_path / "api", backend, **_settings(fake)))
    live = len(fake.completions)
    run_batch(options(letters, tmp_path / "builtin", backend, executor="thread", **_settings(fake)))
    api, builtin = snapshot(tmp_path / "api"), snapshot(tmp_path / "builtin")
    if not same_usage:  # a re-ask costs a second attempt and its tokens
        for _, record, _ in [*api.values(), *builtin.values()]:
            record["provenance"]["usage"] = None
    assert api == builtin
    return summary, live


def test_a_completed_batch_gives_the_builtin_records(
    fake: FakeOpenAI, letters: list[Path], tmp_path: Path
) -> None:
    summary, live = _both(fake, letters, tmp_path)
    assert (summary.done, summary.failed, summary.fallbacks) == (len(letters), 0, 0)
    assert live == 0 and len(fake.batch.batches) == 1
    # One custom_id per letter key that needs a call (hybrid 2.2: a letter the
    # parser decides with certainty is done without one).
    api = snapshot(tmp_path / "api")
    calling = sorted(
        k for k, (_, rec, _) in api.items() if rec["provenance"]["usage"]["prompt_tokens"]
    )
    assert calling and sorted(r["custom_id"] for r in fake.batch.requests) == calling
    again = run_batch_api(options(letters, tmp_path / "api", "hybrid", **_settings(fake)))
    assert (again.done, again.skipped, len(fake.batch.batches)) == (0, len(letters), 1)


def test_an_expired_batch_sends_what_it_never_ran_again(
    fake: FakeOpenAI, letters: list[Path], tmp_path: Path
) -> None:
    fake.batch.plan.append("expired")
    summary, live = _both(fake, letters, tmp_path)
    assert summary.done == len(letters) and live == 0
    first, second = fake.batch.batches.values()
    assert (first["status"], second["status"]) == ("expired", "completed")
    assert second["request_counts"]["total"] == len(letters) // 2  # the unanswered half


def test_a_partly_failed_batch_runs_its_failed_requests_synchronously(
    fake: FakeOpenAI, letters: list[Path], tmp_path: Path
) -> None:
    fake.batch.plan.append("partial")
    summary, live = _both(fake, letters, tmp_path)
    assert summary.done == len(letters)
    assert len(fake.batch.batches) == 1 and live == len(letters) // 3  # every third failed


def test_answers_that_fail_validation_are_reasked_synchronously(
    fake: FakeOpenAI, letters: list[Path], tmp_path: Path
) -> None:
    fake.batch.plan.append("invalid")
    summary, live = _both(fake, letters[:3], tmp_path, same_usage=False)
    assert summary.done == 3 and live == 3  # one live re-ask per letter
    sent = min(len(r["body"]["messages"]) for r in fake.batch.requests)
    assert all(len(r.messages) > sent for r in fake.completions[:live])  # re-asks only


def test_the_llm_backend_takes_one_batch_per_call(
    fake: FakeOpenAI, letters: list[Path], tmp_path: Path
) -> None:
    summary, live = _both(fake, letters[:2], tmp_path, backend="llm")
    assert summary.done == 2 and live == 0 and len(fake.batch.batches) >= 3


def test_a_killed_command_resumes_polling_instead_of_paying_twice(
    fake: FakeOpenAI, letters: list[Path], tmp_path: Path
) -> None:
    fake.batch.polls = 10_000  # "in progress" until the test lets it finish
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "llm_extract", "batch", *map(str, letters), "-o", str(out)]
    cmd += ["-b", "hybrid", "--base-url", fake.base_url, "--model", "fake-model", "--batch-api"]
    env = {**os.environ, POLL_ENV: "0.05"}
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(first, out, 1, table="api_batches")
    fake.batch.polls = 1
    for batch in fake.batch.batches.values():
        batch["_polls"] = 0
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert len(fake.batch.batches) == 1  # polled the same batch: paid once
    assert "batch api" in again.stdout
    run_batch(
        options(letters, tmp_path / "builtin", "hybrid", executor="thread", **_settings(fake))
    )
    assert snapshot(out) == snapshot(tmp_path / "builtin")


def test_batch_api_needs_a_hosted_llm_backend(tmp_path: Path) -> None:
    from llm_extract.errors import ConfigError

    with pytest.raises(ConfigError, match="--batch-api"):
        run_batch_api(options([], tmp_path, "rules"))
