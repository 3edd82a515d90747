"""Crash isolation: letters that kill, hang or balloon their worker process fail alone.

Real corpus letters run through the ``rules`` backend in the batch's worker
processes; the test hooks of :mod:`llm_extract.batch.faults` make chosen
letters abort (as a C library's assertion would), segfault (a read of address
0 through ctypes), die of SIGKILL (as the kernel's OOM killer ends a process),
hang in native code (past the per-letter time budget) or
allocate until the worker's memory cap stops them.  Each of those letters is
recorded with its class, its worker is replaced, and every other letter is done.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from llm_extract.batch import isolation
from llm_extract.batch.faults import TEST_FAULTS_ENV, planned
from llm_extract.batch.runner import BatchOptions, run_batch
from llm_extract.config import load_config
from llm_extract.errors import ConfigError


def _rows(outdir: Path) -> dict[str, tuple[str, str | None, str | None]]:
    db = sqlite3.connect(outdir / "batch.sqlite3")
    try:
        return {
            str(r[0]): (str(r[1]), r[2], r[3])
            for r in db.execute("SELECT letter_id, status, error_class, error_message FROM results")
        }
    finally:
        db.close()


def test_the_hooks_are_inert_unless_a_test_plans_a_fault() -> None:
    assert planned("CM16-0228949", {}) is None
    env = {TEST_FAULTS_ENV: "segv:a,hang:b,nonsense:c"}
    assert (planned("a", env), planned("b", env), planned("c", env)) == ("segv", "hang", None)


def test_crashing_hanging_and_ballooning_letters_fail_alone(
    letter_paths: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = letter_paths[:9]
    culprits = {
        paths[1].stem: "abort",
        paths[3].stem: "segv",
        paths[4].stem: "hang",
        paths[6].stem: "balloon",
        paths[7].stem: "sigkill",
    }
    monkeypatch.setenv(TEST_FAULTS_ENV, ",".join(f"{kind}:{lid}" for lid, kind in culprits.items()))
    monkeypatch.setattr(isolation, "GRACE_S", 0.5)  # the supervisor runs in this process
    # A budget a loaded machine's sound letters (and the balloon) stay well within.
    config = load_config(env={}, backend="rules", letter_seconds=8.0, worker_memory_mb=512)
    s = run_batch(
        BatchOptions(
            inputs=[str(p) for p in paths],
            outdir=tmp_path / "out",
            backend="rules",
            config=config,
            executor="process",
            concurrency=2,
            progress=False,
        )
    )
    assert s.stopped is None and not s.interrupted
    assert (s.done, s.failed) == (4, 5)
    rows = _rows(tmp_path / "out")
    assert len(rows) == 9
    got = {lid: rows.pop(lid)[1:] for lid in culprits}
    assert {status for status, _, _ in rows.values()} == {"done"}
    classes = {culprits[lid]: error_class for lid, (error_class, _) in got.items()}
    assert classes == {
        "abort": "WorkerCrashed",
        "segv": "WorkerCrashed",
        "hang": "LetterTimeoutError",
        "balloon": "MemoryLimitExceeded",
        "sigkill": "WorkerCrashed",
    }
    messages = {culprits[lid]: str(message) for lid, (_, message) in got.items()}
    assert "SIGABRT" in messages["abort"] and "SIGSEGV" in messages["segv"]
    assert "time budget of 8 s" in messages["hang"]
    assert "--worker-memory-mb" in messages["balloon"]
    assert "SIGKILL" in messages["sigkill"] and "OOM killer" in messages["sigkill"]


def test_cli_worker_memory_cap_records_the_balloon_and_goes_on(
    letter_paths: list[Path], tmp_path: Path
) -> None:
    paths = letter_paths[:3]
    out = tmp_path / "out"
    env = {**os.environ, TEST_FAULTS_ENV: f"balloon:{paths[1].stem}", "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "llm_extract", "batch", *map(str, paths), "-b", "rules"]
    cmd += ["-o", str(out), "-j", "2", "--worker-memory-mb", "512", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 1, done.stderr  # some letter failed
    assert "Traceback" not in done.stderr
    assert "MemoryLimitExceeded" in done.stdout
    rows = _rows(out)
    assert rows.pop(paths[1].stem)[1] == "MemoryLimitExceeded"
    assert {status for status, _, _ in rows.values()} == {"done"} and len(rows) == 2


def test_a_memory_cap_is_refused_for_a_batch_in_threads(tmp_path: Path) -> None:
    config = load_config(env={}, backend="rules", worker_memory_mb=512)
    opts = BatchOptions(
        inputs=[], outdir=tmp_path / "out", backend="rules", config=config, executor="thread"
    )
    with pytest.raises(ConfigError, match="--executor process"):
        run_batch(opts)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="at least 256"):
        load_config(env={"LLM_EXTRACT_WORKER_MEMORY_MB": "16"})
