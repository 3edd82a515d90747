"""The fuzzing campaign: mutated corpus letters through ``llm_extract.extract``, in a fenced worker.

Each input is a real letter changed by the mutators of
:mod:`llm_extract.devtools.mutate` (text, encoding, byte and PDF mutations),
run by :class:`llm_extract.devtools.fuzz_harness.Worker` (address space capped,
killed past the time budget) with the ``rules`` backend, and a share with the
``hybrid`` one against the fake OpenAI-compatible endpoint.  Printed: inputs
per mutator, typed errors by class, untyped exceptions, hangs, crashes,
invariant violations, peak memory and the slowest input.  Inputs that broke an
invariant are kept under ``--keep`` to be replayed.  Exits 1 when any did.

Usage:  nice -n 10 python benchmarks/fuzz.py [--n 10000] [--seed 19] [--hybrid-share 0.05]
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llm_extract.devtools.fuzz_harness import (  # noqa: E402
    DEFAULT_MEMORY_BYTES,
    Outcome,
    Worker,
    letter_budget_s,
)
from llm_extract.devtools.mutate import MUTATORS, corpus_seeds, mutants  # noqa: E402


def _report(outcomes: list[tuple[tuple[str, ...], str, Outcome]], seconds: float) -> None:
    per_mutator: dict[str, collections.Counter[str]] = {m: collections.Counter() for m in MUTATORS}
    typed: collections.Counter[str] = collections.Counter()
    untyped: collections.Counter[str] = collections.Counter()
    statuses: collections.Counter[str] = collections.Counter()
    backends: collections.Counter[str] = collections.Counter()
    violated = 0
    for applied, backend, out in outcomes:
        backends[backend] += 1
        statuses[out.status] += 1
        violated += bool(out.violations)
        for name in applied:
            per_mutator[name]["inputs"] += 1
            per_mutator[name][out.status] += 1
            per_mutator[name]["violations"] += bool(out.violations)
        if out.status == "typed":
            typed[out.error or "?"] += 1
        elif out.status == "untyped":
            untyped[out.error or "?"] += 1
    done = [o for _, _, o in outcomes]
    slowest = max(done, key=lambda o: o.seconds)
    print(
        f"\ninputs: {len(done)} in {seconds:.0f} s ({len(done) / seconds:.1f}/s); by backend {dict(backends)}"
    )
    print(f"outcomes: {dict(statuses)}")
    print(f"untyped exceptions: {sum(untyped.values())} {dict(untyped)}")
    print(
        f"hangs: {statuses['hang']}  crashes: {statuses['crash']}  invariant violations: {violated}"
    )
    print(f"peak memory (worker max RSS): {max(o.max_rss_mb for o in done):.0f} MB")
    print(f"slowest input: {slowest.seconds:.2f} s  {slowest.label}")
    print("typed errors by class:")
    for name, count in typed.most_common():
        print(f"  {name:28} {count}")
    print(
        f"{'mutator':28} {'inputs':>7} {'record':>7} {'typed':>7} {'untyped':>7} {'hang':>5} {'crash':>5} {'viol.':>5}"
    )
    for name in MUTATORS:
        c = per_mutator[name]
        print(
            f"{name:28} {c['inputs']:7} {c['record']:7} {c['typed']:7} {c['untyped']:7} "
            f"{c['hang']:5} {c['crash']:5} {c['violations']:5}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="mutated inputs to run")
    ap.add_argument(
        "--seed", type=int, default=19, help="random seed (the campaign is reproducible)"
    )
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument(
        "--hybrid-share", type=float, default=0.05, help="share run by the hybrid backend"
    )
    ap.add_argument(
        "--budget", type=float, default=None, help="seconds per letter (default: Config)"
    )
    ap.add_argument(
        "--text-share", type=float, default=0.15, help="share of texts passed as a string"
    )
    ap.add_argument("--memory-gb", type=float, default=DEFAULT_MEMORY_BYTES / 1024**3)
    ap.add_argument(
        "--keep", type=Path, default=Path("fuzz-failures"), help="where failing inputs go"
    )
    args = ap.parse_args()
    texts, pdfs = corpus_seeds(args.corpus, sorted((ROOT / "tests" / "letters").rglob("*.txt")))
    if not texts:
        sys.exit(f"no corpus letters under {args.corpus}: give --corpus")
    rng = random.Random(args.seed)
    stream = mutants(rng, texts, pdfs)
    budget = args.budget or letter_budget_s()
    print(
        f"fuzz: {args.n} inputs from {len(texts)} texts and {len(pdfs)} PDFs, seed {args.seed}, "
        f"budget {budget:g} s/letter, memory cap {args.memory_gb:g} GiB"
    )
    outcomes: list[tuple[tuple[str, ...], str, Outcome]] = []
    t0 = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="fuzz-") as tmp,
        Worker(budget_s=budget, memory_bytes=int(args.memory_gb * 1024**3)) as worker,
    ):
        try:
            for i in range(args.n):
                mutant = next(stream)
                backend = "hybrid" if rng.random() < args.hybrid_share else "rules"
                # Some texts go to extract() as a string (the API's text mode), not a file.
                as_text = mutant.suffix == ".txt" and rng.random() < args.text_share
                path = Path(tmp) / f"{mutant.seed}{mutant.suffix}"
                path.write_bytes(mutant.data)
                how = f"{backend}{' as text' if as_text else ''}"
                out = worker.run(path, f"#{i} {how} {mutant.label}", backend, as_text=as_text)
                outcomes.append((mutant.mutators, backend, out))
                if not out.ok:
                    args.keep.mkdir(parents=True, exist_ok=True)
                    kept = args.keep / f"{i:05d}-{out.status}-{mutant.seed}{mutant.suffix}"
                    kept.write_bytes(mutant.data)
                    print(
                        f"FAIL {out.label}: {out.status} {out.error or ''} {out.violations or out.message[-300:]}"
                    )
                    print(f"     kept as {kept}")
                path.unlink()
                if (i + 1) % 500 == 0:
                    print(f"... {i + 1} inputs, {time.perf_counter() - t0:.0f} s", flush=True)
        except KeyboardInterrupt:  # Ctrl-C: report what was run so far
            print(f"interrupted after {len(outcomes)} inputs")
    _report(outcomes, time.perf_counter() - t0)
    return 0 if all(o.ok for _, _, o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
