"""``--engine ray`` in local mode: the same records as the built-in engine, resume, dataset.

One local Ray instance serves the whole module (starting Ray costs seconds);
letters are a slice of the real corpus plus a corrupt file and a renamed copy,
so errors-as-data and duplicates are covered too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ray_support import count_rows, init_local, kill_when, options, require_ray, snapshot

from llm_extract.batch import ray_engine
from llm_extract.batch.export import export_store
from llm_extract.batch.faults import TEST_DELAY_ENV
from llm_extract.batch.ray_engine import RayOptions, ray_shape, run_batch_ray
from llm_extract.batch.runner import run_batch
from llm_extract.devtools.fake_openai import FakeOpenAI


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    ray = require_ray()
    init_local(ray)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(letter_paths: list[Path], seed_paths: list[Path], tmp_path_factory: Any) -> list[Path]:
    extra = tmp_path_factory.mktemp("extra")
    bad = extra / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 this is not a PDF")
    copy = extra / "renamed-copy.pdf"
    shutil.copy(letter_paths[0], copy)
    return [*letter_paths[:10], *seed_paths[:3], bad, copy, extra / "missing.pdf"]


def test_rules_on_ray_gives_the_builtin_records_and_resumes(
    ray_local: Any, inputs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ray_engine, "CHUNK_LETTERS", 8)  # two datasets: the walk is chunked
    builtin = run_batch(options(inputs, tmp_path / "builtin", "rules"))
    on_ray = run_batch_ray(
        options(inputs, tmp_path / "ray", "rules"), RayOptions(dataset=tmp_path / "ds")
    )
    assert (on_ray.done, on_ray.failed, on_ray.duplicates) == (
        builtin.done,
        builtin.failed,
        builtin.duplicates,
    )
    assert on_ray.failed == 2 and on_ray.duplicates == 1  # the broken and the missing file
    assert snapshot(tmp_path / "ray") == snapshot(tmp_path / "builtin")

    again = run_batch_ray(options(inputs, tmp_path / "ray", "rules"))
    assert (again.done, again.failed, again.skipped) == (0, 0, len(inputs))

    # The workers' Parquet dataset holds export's rows: same columns, same values.
    pq = pytest.importorskip("pyarrow.parquet")
    export_store(tmp_path / "ray", "parquet")
    for table in ("letters", "items"):
        exported = pq.read_table(tmp_path / "ray" / "export" / f"{table}.parquet")
        written = pq.read_table(tmp_path / "ds" / table)
        assert written.schema.names == exported.schema.names
        assert _rows(written) == _rows(exported)


def _rows(table: Any) -> list[str]:
    rows = [{k: v for k, v in r.items() if k != "seconds"} for r in table.to_pylist()]
    return sorted(repr(sorted(r.items())) for r in rows)


def test_an_llm_backend_on_ray_gives_the_builtin_records(
    ray_local: Any, inputs: list[Path], tmp_path: Path
) -> None:
    with FakeOpenAI() as fake:
        settings: dict[str, Any] = {
            "base_url": fake.base_url,
            "model": "fake-model",
            "timeout_s": 5.0,
        }
        builtin = run_batch(options(inputs[:6], tmp_path / "builtin", "hybrid", **settings))
        on_ray = run_batch_ray(options(inputs[:6], tmp_path / "ray", "hybrid", **settings))
    assert builtin.done == on_ray.done == 6
    assert on_ray.prompt_tokens == builtin.prompt_tokens > 0
    assert snapshot(tmp_path / "ray") == snapshot(tmp_path / "builtin")


def test_cli_engine_ray(ray_local: Any, inputs: list[Path], tmp_path: Path) -> None:
    # A second driver joins the module's Ray instance by address, as on a cluster.
    address = ray_local.get_runtime_context().gcs_address
    out = tmp_path / "out"
    args = [str(p) for p in inputs[:4]]
    cmd = [sys.executable, "-m", "llm_extract", "batch", *args, "-b", "rules", "-o", str(out)]
    done = subprocess.run(
        [*cmd, "--engine", "ray", "--ray-address", address, "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},  # the summary's workers line on one line
    )
    assert done.returncode == 0, done.stderr
    # Every letter goes to Ray's actors.
    assert "ray: " in done.stdout and "warm start: " not in done.stdout
    bad = subprocess.run([*cmd, "--dataset", str(tmp_path / "ds")], capture_output=True, text=True)
    assert bad.returncode == 2 and "--engine ray" in bad.stderr
    bad = subprocess.run([*cmd, "--ray-address", address], capture_output=True, text=True)
    assert bad.returncode == 2 and "--engine ray" in bad.stderr


def test_every_letter_goes_to_ray(ray_local: Any, inputs: list[Path], tmp_path: Path) -> None:
    builtin = run_batch(options(inputs[:6], tmp_path / "builtin", "rules"))
    cold = run_batch_ray(options(inputs[:6], tmp_path / "ray", "rules"))
    assert cold.executor.startswith("ray: ") and "warm start" not in cold.executor
    assert cold.done == builtin.done == 6
    assert snapshot(tmp_path / "ray") == snapshot(tmp_path / "builtin")


def test_ray_shape() -> None:
    assert ray_shape("rules", 2, 2) == (2, 1)
    assert ray_shape("hybrid", 8, 2) == (1, 8)
    assert ray_shape("hybrid", 32, 2) == (2, 16)
    assert ray_shape("hybrid", 64, 2) == (4, 16)


def test_a_driver_killed_mid_run_resumes_with_nothing_lost(
    ray_local: Any, letter_paths: list[Path], tmp_path: Path
) -> None:
    """SIGKILL the driver mid-run, run the command again: it does only what is left."""
    letters = letter_paths[:16]
    address = ray_local.get_runtime_context().gcs_address
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "llm_extract", "batch", *map(str, letters), "-b", "rules"]
    cmd += ["-o", str(out), "--engine", "ray", "--ray-address", address, "-j", "2"]
    env = {**os.environ, TEST_DELAY_ENV: "0.5"}
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(driver, out, 3)
    before = count_rows(out)
    assert 3 <= before < len(letters)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    builtin = run_batch(options(letters, tmp_path / "builtin", "rules"))
    assert builtin.done == len(letters)
    assert snapshot(out) == snapshot(tmp_path / "builtin")


def test_a_wrong_ray_address_fails_at_once_and_leaves_no_store(tmp_path: Path) -> None:
    from llm_extract.errors import ConfigError

    require_ray()
    with pytest.raises(ConfigError, match="no Ray cluster answers at"):
        run_batch_ray(options([], tmp_path / "out", "rules"), RayOptions(address="127.0.0.1:1"))
    assert not (tmp_path / "out").exists()
