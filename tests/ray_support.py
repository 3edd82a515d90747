"""Helpers shared by the Ray tests: the skip rule, store snapshots, batch options."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from llm_extract.batch.runner import BatchOptions
from llm_extract.config import load_config


def require_ray() -> Any:
    """``ray`` (with Ray Data), or skip; on CI (CI=true) a missing ray is a failure."""
    try:
        import ray
        import ray.data
    except ImportError:
        reason = 'ray is not installed: pip install -e ".[ray]"'
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true, so this is a failure)")
        pytest.skip(reason)
    return ray


def init_local(ray: Any) -> None:
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)


def snapshot(outdir: Path) -> dict[str, tuple[str, Any, Any]]:
    """key -> (status, record JSON without timings, error class) of a store."""
    db = sqlite3.connect(outdir / "batch.sqlite3")
    try:
        rows = db.execute("SELECT key, status, record_json, error_class FROM results").fetchall()
    finally:
        db.close()
    out = {}
    for key, status, record_json, error_class in rows:
        record = json.loads(record_json) if record_json else None
        if record is not None:
            record["provenance"]["usage"]["seconds"] = 0
        out[key] = (status, record, error_class)
    return out


def count_rows(outdir: Path, table: str = "results") -> int:
    db_file = outdir / "batch.sqlite3"
    if not db_file.exists():
        return 0
    db = sqlite3.connect(db_file, timeout=5)
    try:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:  # schema not created yet
        return 0
    finally:
        db.close()


def options(
    inputs: list[Path], outdir: Path, backend: str, executor: str = "auto", **config: Any
) -> BatchOptions:
    return BatchOptions(
        executor=executor,  # type: ignore[arg-type]
        inputs=[str(p) for p in inputs],
        outdir=outdir,
        backend=backend,
        config=load_config(env={}, backend=backend, **config),
        concurrency=4,
        progress=False,
    )


def kill_when(
    driver: subprocess.Popen[bytes], outdir: Path, rows: int, table: str = "results"
) -> None:
    """SIGKILL ``driver`` once ``table`` in its store has ``rows`` rows (it must not finish first)."""
    try:
        deadline = time.monotonic() + 240
        while count_rows(outdir, table) < rows and driver.poll() is None:
            assert time.monotonic() < deadline, "the batch never got that far"
            time.sleep(0.05)
        assert driver.poll() is None, "the batch finished before it could be killed"
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
