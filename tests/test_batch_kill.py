"""SIGKILL a batch in mid-run (twice), resume it, and compare with an uninterrupted run."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from llm_extract.batch.export import export_store
from llm_extract.batch.faults import TEST_DELAY_ENV

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


def _count(db_file: Path) -> int:
    if not db_file.exists():
        return 0
    db = sqlite3.connect(db_file, timeout=5)
    try:
        return int(db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not created yet
        return 0
    finally:
        db.close()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _batch_cmd(corpus: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "llm_extract",
        "batch",
        str(corpus),
        "-b",
        "rules",
        "-o",
        str(out),
        "--no-progress",
    ]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row.pop("seconds", None)  # timing
    return rows


def _records(out: Path) -> dict[str, dict[str, Any]]:
    """key -> stored row with the record, minus what legitimately varies between runs."""
    db = sqlite3.connect(out / "batch.sqlite3")
    db.row_factory = sqlite3.Row
    rows = db.execute("SELECT * FROM results").fetchall()
    db.close()
    got: dict[str, dict[str, Any]] = {}
    for r in rows:
        assert r["key"] not in got  # no duplicates
        rec = json.loads(r["record_json"])
        rec["provenance"]["usage"]["seconds"] = None  # timing
        got[r["key"]] = {
            "status": r["status"],
            "letter_id": r["letter_id"],
            "source_path": r["source_path"],
            "file_sha256": r["file_sha256"],
            "text_sha256": r["text_sha256"],
            "record": rec,
        }
    return got


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_sigkill_mid_run_and_resume_equals_an_uninterrupted_run(
    corpus: Path, tmp_path: Path
) -> None:
    ref, killed = tmp_path / "uninterrupted", tmp_path / "killed"
    subprocess.run(_batch_cmd(corpus, ref), check=True, capture_output=True, timeout=300)

    # The test hook slows each letter a little so that the kill lands mid-run.
    env = {**os.environ, TEST_DELAY_ENV: "0.02"}
    seen_at_kill = []
    for kill_at in (20, 70):
        proc = subprocess.Popen(
            _batch_cmd(corpus, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 120
        while _count(killed / "batch.sqlite3") < kill_at:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the batch made no progress"
            time.sleep(0.005)
        workers = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        n = _count(killed / "batch.sqlite3")
        seen_at_kill.append(n)
        assert kill_at <= n < 134, "the kill must land in mid-run"
        # Worker processes die with the batch (PR_SET_PDEATHSIG), none are left behind.
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert workers and not any(_alive(w) for w in workers)
    assert seen_at_kill[0] < seen_at_kill[1]

    resumed = subprocess.run(
        _batch_cmd(corpus, killed), capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    db = sqlite3.connect(killed / "batch.sqlite3")
    done, skipped = db.execute(
        "SELECT done, skipped FROM runs ORDER BY run_id DESC LIMIT 1"
    ).fetchone()
    runs = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    db.close()
    assert runs == 3
    assert skipped == seen_at_kill[1] and done == 134 - seen_at_kill[1]

    want, got = _records(ref), _records(killed)
    assert len(want) == 134
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == want[key], key

    # And what analysts see is the same, row for row (timing columns aside).
    for out in (ref, killed):
        export_store(out, "csv")
    for table in ("letters", "items"):
        a, b = (_csv_rows(out / "export" / f"{table}.csv") for out in (ref, killed))
        assert len(a) == len(b) == (134 if table == "letters" else len(a))
        assert a == b


def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, TEST_DELAY_ENV: "0.02"}
    proc = subprocess.Popen(
        _batch_cmd(corpus, out),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal would make it
    )
    deadline = time.monotonic() + 120
    while _count(out / "batch.sqlite3") < 10:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the batch and its workers
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert "run the same command again to resume" in stdout
    n = _count(out / "batch.sqlite3")
    assert 10 <= n < 134
    again = subprocess.run(_batch_cmd(corpus, out), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert _count(out / "batch.sqlite3") == 134


def test_a_worker_process_that_dies_fails_its_letter_only(
    letter_paths: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm_extract.batch.faults import TEST_CRASH_ENV
    from llm_extract.batch.runner import BatchOptions, run_batch
    from llm_extract.config import load_config

    paths = letter_paths[:6]
    victim = paths[2].stem
    monkeypatch.setenv(TEST_CRASH_ENV, victim)  # inherited by the spawned workers
    s = run_batch(
        BatchOptions(
            inputs=[str(p) for p in paths],
            outdir=tmp_path / "out",
            backend="rules",
            config=load_config(backend="rules"),
            executor="process",
            concurrency=2,
            progress=False,
        )
    )
    # The letters in flight with it were retried in a fresh pool and succeeded;
    # the one that kills its worker every time is recorded, and the run went on.
    assert (s.done, s.failed) == (5, 1)
    db = sqlite3.connect(tmp_path / "out" / "batch.sqlite3")
    rows = dict(db.execute("SELECT letter_id, COALESCE(error_class, status) FROM results"))
    db.close()
    assert rows.pop(victim) == "WorkerCrashed"
    assert set(rows.values()) == {"done"} and len(rows) == 5
