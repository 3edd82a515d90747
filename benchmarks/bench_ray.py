"""``--engine ray`` against the built-in engine: figures for docs/distributed.md, printed.

    python benchmarks/bench_ray.py                  # everything below, ~5 min on 2 cores
    python benchmarks/bench_ray.py --no-cli --no-cluster --big 0   # only part 1

Both engines run the real ``hybrid`` backend (the parser, then exactly one
structured LLM call per letter through LLMClient: openai + instructor +
tenacity, real HTTP) against the fake OpenAI-compatible endpoint with a fixed
200 ms latency, in its own process (benchmarks/bench_batch.py's ``fake_server``),
over synthetic text letters (corpus seeds + a varying line).  Ideal =
concurrency / latency.  Every figure is printed with the 1-minute load average.

1. **Ray already running** (as for a user who joins a cluster with
   ``--ray-address``): Ray is started once, before the runs (its start-up is
   printed apart, not counted).  Each engine runs ``-j N`` over ``25 × N``
   letters in this process: ``run_batch`` (threads at -j 8, forked worker
   processes × threads at -j 32) and ``run_batch_ray``.  *Whole run* is the
   summary's seconds: everything the batch does, the actors' start-up
   included; *steady* is the rate from the end of the first round to the last
   letter; *fixed* = whole-run seconds − letters / steady rate, the start-up a
   run pays whatever its length; *first* = seconds to the first stored letter.
   Then (2b, unless ``--no-cli``) each engine as a command, ``--engine ray``
   joining the same Ray with ``--ray-address``.
2. **A longer run** (``--big``, default 2,000 letters at the largest -j), the
   same way: the fixed cost amortised.
3. **As a command, Ray started by the command** (``--no-cli`` skips): each
   engine as ``python -m llm_extract batch …`` in a fresh process, timed from
   the command's start to its exit.  ``--engine ray`` without an address starts
   Ray on this machine, Ray Data's own actors included, and stops it.
4. **Cluster** (``--no-cluster`` skips): a ``ray.cluster_utils.Cluster`` on this
   machine, a head node with no CPUs (the driver) and two worker nodes with one
   CPU each, at the largest -j; letters/s per node = the run's rate / 2 (both
   nodes share these 2 cores, so this says what the engine costs per node, not
   what two machines would do).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_batch import fake_server, llm_config, steady_rate, synthetic_letters

from llm_extract.batch.ray_engine import RayOptions, run_batch_ray
from llm_extract.batch.runner import BatchOptions, BatchSummary, run_batch
from llm_extract.loop import LetterResult

LATENCY = 0.2


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def _opts(paths: list[str], out: Path, base_url: str, j: int) -> BatchOptions:
    return BatchOptions(
        inputs=paths,
        outdir=out,
        backend="hybrid",
        config=llm_config(base_url),
        concurrency=j,
        progress=False,
    )


def _run(engine: str, paths: list[str], out: Path, base_url: str, j: int) -> dict[str, Any]:
    committed: list[float] = []

    def on_result(result: LetterResult, s: BatchSummary) -> None:
        committed.append(time.perf_counter())

    opts = _opts(paths, out, base_url, j)
    t0 = time.perf_counter()
    if engine == "builtin":
        s = run_batch(opts, on_result=on_result)
    else:
        s = run_batch_ray(opts, RayOptions(), on_result=on_result)
    steady = steady_rate(committed, j)
    fixed = s.seconds - s.done / steady if steady == steady else float("nan")
    row = {
        "engine": engine,
        "j": j,
        "letters": s.done,
        "seconds": s.seconds,
        "whole": s.letters_per_s,
        "steady": steady,
        "fixed": fixed,
        "first": committed[0] - t0 if committed else float("nan"),
        "load": _load(),
    }
    print(
        f"  {engine:>8} -j {j:>2}: {s.done:>5} letters ({s.failed + s.fallbacks} failed/fallback) "
        f"in {s.seconds:6.2f} s = {s.letters_per_s:6.1f} letters/s whole run, {steady:6.1f} "
        f"steady (ideal {j / LATENCY:.0f}); fixed {fixed:4.1f} s, first letter after "
        f"{row['first']:4.1f} s [{s.executor}] ({row['load']})",
        flush=True,
    )
    return row


def _cli(
    engine: str,
    letters_dir: Path,
    out: Path,
    base_url: str,
    j: int,
    n: int,
    address: str | None = None,
) -> float:
    cmd = [
        sys.executable,
        "-m",
        "llm_extract",
        "batch",
        str(letters_dir),
        "-o",
        str(out),
        "-b",
        "hybrid",
        "--base-url",
        base_url,
        "--model",
        "fake-model",
        "-j",
        str(j),
        "--no-progress",
    ]
    if engine.startswith("ray"):
        cmd += ["--engine", "ray"]
    if address and engine.startswith("ray"):
        cmd += ["--ray-address", address]
    t = time.perf_counter()
    env = {**os.environ, "COLUMNS": "200"}  # the summary's workers line on one line
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{engine} command failed:\n{proc.stderr[-2000:]}")
    print(
        f"  {engine:>8} -j {j:>2}: {n:>5} letters in {seconds:6.2f} s = {n / seconds:6.1f} "
        f"letters/s, command start to exit ({_load()})",
        flush=True,
    )
    return n / seconds


def _ratios(rows: list[dict[str, Any]], label: str) -> None:
    for j in sorted({r["j"] for r in rows}):
        b = next(x for x in rows if x["engine"] == "builtin" and x["j"] == j)
        for r in (x for x in rows if x["engine"] != "builtin" and x["j"] == j):
            # Letters at which the whole-run ratio would reach 0.8 with these fixed costs
            # and steady rates: fixed_b + n/steady_b >= 0.8 (fixed_r + n/steady_r).
            gain = 1 / b["steady"] - 0.8 / r["steady"]
            need = (0.8 * r["fixed"] - b["fixed"]) / gain if gain > 0 else math.inf
            print(
                f"  {label} -j {j:>2}, {r['letters']} letters: {r['engine']} / built-in = "
                f"{r['whole'] / b['whole']:.2f} whole run, {r['steady'] / b['steady']:.2f} "
                f"steady (target >= 0.80); 0.80 whole run from ~{need:,.0f} letters at "
                "these rates",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--per-slot", type=int, default=25, help="letters per letter in flight")
    ap.add_argument("--levels", default="8,32")
    ap.add_argument("--big", type=int, default=2000, help="letters of the longer run (0: none)")
    ap.add_argument("--no-cli", action="store_true", help="skip the runs as commands")
    ap.add_argument("--no-cluster", action="store_true")
    args = ap.parse_args()
    engines = ("builtin", "ray")
    import ray

    levels = [int(x) for x in args.levels.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        work = Path(tmp)
        n_max = max(max(levels) * args.per_slot, args.big)
        letters = synthetic_letters(work / "letters", n_max)
        paths = sorted(str(p) for p in letters.rglob("*.txt"))
        with fake_server(LATENCY) as server:
            url = server.base_url
            _run("builtin", paths[:8], work / "warm", url, 4)  # imports, first connections
            print("1. Ray already running (whole run includes the actors' start-up)")
            t = time.perf_counter()
            ray.init(
                num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False
            )
            print(f"  ray.init took {time.perf_counter() - t:.1f} s (not counted) ({_load()})")
            rows = []
            for j in levels:
                n = j * args.per_slot
                for engine in engines:
                    rows.append(_run(engine, paths[:n], work / f"{engine}-{j}", url, j))
            _ratios(rows, "already running")
            if args.big:
                print(f"2. A longer run: {args.big} letters")
                j = max(levels)
                big = [
                    _run(engine, paths[: args.big], work / f"{engine}-big", url, j)
                    for engine in engines
                ]
                _ratios(big, "longer run")
            if not args.no_cli:
                print("2b. As a command joining the running Ray (--ray-address), start to exit")
                address = ray.get_runtime_context().gcs_address
                for j in levels:
                    n = j * args.per_slot
                    sub = synthetic_letters(work / f"join-{j}", n)
                    rate = {
                        e: _cli(e, sub, work / f"join-{e}-{j}", url, j, n, address) for e in engines
                    }
                    for e in engines[1:]:
                        print(
                            f"  joining, as a command -j {j:>2}, {n} letters: {e} / built-in = "
                            f"{rate[e] / rate['builtin']:.2f} (target >= 0.80)",
                            flush=True,
                        )
            ray.shutdown()
            if not args.no_cli:
                print("3. As a command, from its start to its exit; Ray started by the command")
                for j in levels:
                    n = j * args.per_slot
                    sub = synthetic_letters(work / f"cli-{j}", n)  # the same first n letters
                    rate = {e: _cli(e, sub, work / f"cli-{e}-{j}", url, j, n) for e in engines}
                    for e in engines[1:]:
                        print(
                            f"  as a command -j {j:>2}, {n} letters: {e} / built-in = "
                            f"{rate[e] / rate['builtin']:.2f} (target >= 0.80)",
                            flush=True,
                        )
            if not args.no_cluster:
                print("4. Two-node cluster on this machine")
                from ray.cluster_utils import Cluster

                cluster = Cluster(
                    initialize_head=True,
                    head_node_args={"num_cpus": 0, "include_dashboard": False},
                )
                for _ in range(2):
                    cluster.add_node(num_cpus=1)
                ray.init(address=cluster.address, configure_logging=False, log_to_driver=False)
                try:
                    j = max(levels)
                    row = _run("cluster", paths[: j * args.per_slot], work / "cluster", url, j)
                    print(
                        f"  cluster (2 nodes x 1 CPU on this machine) -j {j}: "
                        f"{row['whole'] / 2:.1f} letters/s per node whole run, "
                        f"{row['steady'] / 2:.1f} steady ({row['load']})",
                        flush=True,
                    )
                finally:
                    ray.shutdown()
                    cluster.shutdown()


if __name__ == "__main__":
    main()
