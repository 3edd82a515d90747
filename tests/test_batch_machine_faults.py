"""Faults of the machine under a batch: a full disk, and a store file that is not a store.

The full disk is real: a small tmpfs mounted for the test (root only; skipped
with the reason elsewhere, a failure when ``CI=true``), filled up while a batch
of corpus letters runs into it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_extract.batch.store import DB_NAME, Store, StoreError
from llm_extract.errors import DiskFullError

MOUNT_MB = 4


def _batch(paths: list[Path], out: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "llm_extract", "batch", *map(str, paths), "-b", "rules"]
    cmd += ["-o", str(out), "-j", "2", "--no-progress"]
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def _rows(db_file: Path) -> int:
    db = sqlite3.connect(db_file)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return int(db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
    finally:
        db.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a filesystem of MOUNT_MB megabytes."""
    where = tmp_path / "small"
    where.mkdir()
    mount = shutil.which("mount")
    done = (
        subprocess.run(
            [mount, "-t", "tmpfs", "-o", f"size={MOUNT_MB}m", "tmpfs", str(where)],
            capture_output=True,
            text=True,
        )
        if mount
        else None
    )
    if done is None or done.returncode != 0:
        reason = f"cannot mount a small tmpfs here: {done.stderr.strip() if done else 'no mount'}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(folder: Path, leave_kb: int) -> Path:
    """A file taking all the free space of ``folder``'s filesystem but ``leave_kb``."""
    free = shutil.disk_usage(folder).free
    filler = folder / "filler.bin"
    with filler.open("wb") as fh:
        fh.write(b"\0" * max(0, free - leave_kb * 1024))
    return filler


def test_a_full_disk_stops_the_batch_cleanly_and_the_store_resumes(
    small_disk: Path, letter_paths: list[Path]
) -> None:
    out = small_disk / "out"
    first = _batch(letter_paths[:4], out)
    assert first.returncode == 0, first.stderr
    assert _rows(out / DB_NAME) == 4

    filler = _fill(small_disk, leave_kb=48)
    letters = letter_paths[:30]
    full = _batch(letters, out)
    assert full.returncode == DiskFullError.exit_code, full.stdout + full.stderr
    assert "Traceback" not in full.stderr
    assert "is full" in full.stderr and "run the same command again" in full.stderr
    kept = _rows(out / DB_NAME)  # intact (integrity_check), nothing lost
    assert 4 <= kept < len(letters)

    filler.unlink()
    again = _batch(letters, out)
    assert again.returncode == 0, again.stderr
    assert _rows(out / DB_NAME) == len(letters)


@pytest.mark.parametrize("kind", ["random bytes", "text", "another sqlite schema"])
def test_a_file_that_is_not_a_store_is_refused_and_left_alone(tmp_path: Path, kind: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    path = out / DB_NAME
    if kind == "random bytes":
        path.write_bytes(os.urandom(8192))
    elif kind == "text":
        path.write_text("letter_id,decision\nCM16-1,upheld\n" * 50)
    else:
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO patients (name) VALUES ('someone')")
        db.commit()
        db.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()

    with pytest.raises(StoreError, match="not a batch store") as err:
        Store(out)
    assert "another OUTDIR" in str(err.value)
    with pytest.raises(StoreError, match="not a batch store"):
        Store(out, writer=False)  # export, stats, review

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "llm_extract",
            "batch",
            str(tmp_path),
            "-b",
            "rules",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == StoreError.exit_code, done.stderr
    assert "not a batch store" in done.stderr and "Traceback" not in done.stderr
    # Not a byte written to it: no store tables added, no WAL switched on.
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert not (out / f"{DB_NAME}-wal").exists()
