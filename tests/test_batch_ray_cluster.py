"""``--engine ray`` on a two-node cluster on this machine, and drivers killed with SIGKILL.

Marked ``cluster`` (slow: each test starts Ray processes of its own).  The
cluster is :class:`ray.cluster_utils.Cluster`: a head node with no CPUs (the
driver's) and two worker nodes of one CPU each, so every actor runs on a
worker node and killing one node kills the actors on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ray_support import count_rows, kill_when, options, require_ray, snapshot
from test_batch_kill import _alive

from llm_extract.batch.faults import TEST_DELAY_ENV
from llm_extract.batch.ray_engine import RayOptions, run_batch_ray
from llm_extract.batch.runner import BatchSummary, run_batch

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX"),
]


@pytest.fixture
def two_nodes() -> Iterator[tuple[Any, Any]]:
    ray = require_ray()
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False}
    )
    cluster.add_node(num_cpus=1)
    victim = cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, configure_logging=False, log_to_driver=False)
    try:
        yield cluster, victim
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_a_worker_node_killed_mid_run_loses_and_repeats_nothing(
    two_nodes: tuple[Any, Any],
    letter_paths: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster, victim = two_nodes
    letters = letter_paths[:24]
    monkeypatch.setenv(TEST_DELAY_ENV, "0.3")  # forwarded to the actors
    out, ds = tmp_path / "ray", tmp_path / "ds"
    result: dict[str, BatchSummary | BaseException] = {}

    def run() -> None:
        try:
            # Warm start on, but capped: the node must die while its actors extract.
            result["summary"] = run_batch_ray(
                options(letters, out, "rules"), RayOptions(dataset=ds)
            )
        except BaseException as exc:
            result["error"] = exc

    batch = threading.Thread(target=run)
    batch.start()
    deadline = time.monotonic() + 240
    while count_rows(out) < 4 and batch.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert batch.is_alive(), "the batch finished before a node could be killed"
    cluster.remove_node(victim, allow_graceful=False)  # its actors die mid-letter
    batch.join(timeout=600)
    assert "error" not in result, result.get("error")
    summary = result["summary"]
    assert isinstance(summary, BatchSummary)
    assert (summary.done, summary.failed) == (len(letters), 0)

    monkeypatch.delenv(TEST_DELAY_ENV)
    run_batch(options(letters, tmp_path / "builtin", "rules", executor="thread"))
    assert snapshot(out) == snapshot(tmp_path / "builtin")
    # The workers' dataset: every letter once, though a node died mid-batch.
    pq = pytest.importorskip("pyarrow.parquet")
    keys = pq.read_table(ds / "letters", columns=["key"]).column("key").to_pylist()
    assert sorted(keys) == sorted(snapshot(out))


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        found += map(int, children)
        todo += map(int, children)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    except OSError:
        return "?"


def test_a_driver_that_started_ray_killed_mid_run_resumes(
    letter_paths: list[Path], tmp_path: Path
) -> None:
    """The driver started Ray itself: SIGKILL it; Ray's processes go with it; rerun resumes."""
    require_ray()
    letters = letter_paths[:12]
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "llm_extract", "batch", *map(str, letters), "-b", "rules"]
    cmd += ["-o", str(out), "--engine", "ray", "-j", "2"]
    env = {**os.environ, TEST_DELAY_ENV: "0.5"}
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started: list[int] = []
    deadline = time.monotonic() + 240
    while count_rows(out) < 2 and driver.poll() is None and time.monotonic() < deadline:
        started = _descendants(driver.pid) or started
        time.sleep(0.1)
    started = _descendants(driver.pid) or started
    kill_when(driver, out, 2)
    assert started, "the driver started no Ray processes"
    names = {p: _cmdline(p) for p in started}
    # Ray's helpers notice their raylet is gone by polling: give a loaded machine time.
    deadline = time.monotonic() + 180
    while any(map(_alive, started)) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = [names[p] for p in started if _alive(p)]
    assert not left, f"Ray processes outlived their driver: {left}"

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    run_batch(options(letters, tmp_path / "builtin", "rules", executor="thread"))
    assert snapshot(out) == snapshot(tmp_path / "builtin")
