"""``--engine ray`` against the built-in engine: figures for docs/distributed.md, printed.

    python benchmarks/bench_ray.py                 # -j 8 and -j 32, then a two-node cluster
    python benchmarks/bench_ray.py --per-slot 40   # more letters per letter in flight

Both engines run the real ``hybrid`` backend (the parser, then exactly one
structured LLM call per letter through LLMClient: openai + instructor +
tenacity, real HTTP) against the fake OpenAI-compatible endpoint with a fixed
200 ms latency, in its own process (benchmarks/bench_batch.py's ``fake_server``),
over synthetic text letters (corpus seeds + a varying line).  Ideal =
concurrency / latency.

* **built-in**: ``run_batch`` as ``llm-extract batch`` runs it (threads at -j 8,
  forked worker processes × threads at -j 32).
* **ray local**: ``run_batch_ray`` on a local Ray instance started once before
  the runs (as a running cluster would be; its start-up is printed apart).
  *Whole run* includes creating the actors (each a new Python process that
  imports the backend: seconds on 2 cores); *steady* is the rate from the end
  of the first round to the last letter, which is what a long run sees.
* **cluster**: a ``ray.cluster_utils.Cluster`` on this machine, a head node
  with no CPUs (the driver) and two worker nodes with one CPU each, at -j 32;
  letters/s per node = the run's rate / 2 (both nodes share these 2 cores, so
  this says what the engine costs per node, not what two machines would do).
"""

from __future__ import annotations

import argparse
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
    if engine == "builtin":
        s = run_batch(opts, on_result=on_result)
    else:
        s = run_batch_ray(opts, RayOptions(), on_result=on_result)
    ideal = j / LATENCY
    steady = steady_rate(committed, j)
    row = {
        "engine": engine,
        "j": j,
        "letters": s.done,
        "failed": s.failed + s.fallbacks,
        "seconds": round(s.seconds, 2),
        "letters_per_s": round(s.letters_per_s, 1),
        "steady_letters_per_s": round(steady, 1),
        "ideal": ideal,
        "workers": s.executor,
    }
    print(
        f"{engine:>9} -j {j:>2}: {s.done} letters ({row['failed']} failed/fallback) in "
        f"{s.seconds:6.2f} s = {s.letters_per_s:6.1f} letters/s whole run, "
        f"{steady:6.1f} steady (ideal {ideal:.0f}) [{s.executor}]",
        flush=True,
    )
    return row


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--per-slot", type=int, default=25, help="letters per letter in flight")
    ap.add_argument("--levels", default="8,32")
    ap.add_argument("--no-cluster", action="store_true")
    args = ap.parse_args()
    import ray

    levels = [int(x) for x in args.levels.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        work = Path(tmp)
        n_max = max(levels) * args.per_slot
        letters = synthetic_letters(work / "letters", n_max)
        paths = sorted(str(p) for p in letters.rglob("*.txt"))
        rows = []
        with fake_server(LATENCY) as server:
            url = server.base_url
            _run("builtin", paths[:8], work / "warm", url, 4)  # imports, first connections
            t = time.perf_counter()
            ray.init(
                num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False
            )
            print(f"ray local: ray.init took {time.perf_counter() - t:.1f} s (not counted)")
            for j in levels:
                n = j * args.per_slot
                for engine in ("builtin", "ray"):
                    rows.append(_run(engine, paths[:n], work / f"{engine}-{j}", url, j))
            ray.shutdown()
            for j in levels:
                b, r = (
                    next(x for x in rows if x["engine"] == e and x["j"] == j)
                    for e in ("builtin", "ray")
                )
                print(
                    f"-j {j:>2}: ray / built-in = {r['letters_per_s'] / b['letters_per_s']:.2f} "
                    f"whole run, {r['steady_letters_per_s'] / b['steady_letters_per_s']:.2f} steady "
                    "(target >= 0.80)"
                )
            if not args.no_cluster:
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
                        f"cluster (2 nodes x 1 CPU on this machine) -j {j}: "
                        f"{row['letters_per_s'] / 2:.1f} letters/s per node whole run, "
                        f"{row['steady_letters_per_s'] / 2:.1f} steady"
                    )
                finally:
                    ray.shutdown()
                    cluster.shutdown()


if __name__ == "__main__":
    main()
