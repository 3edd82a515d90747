"""`stats` and `query` over a synthetic store of 100,000 letters: time and peak memory.

    python benchmarks/bench_stats.py [--letters 100000] [--corpus ../shared/corpus] [--keep DIR]

Makes a real rules batch of the corpus, then a store of N letters from its
records (``llm_extract.devtools.review_fixtures.synthesise``: each a copy of a
real record under its own key; decision dates spread over 2015-2019 so the
period dimensions have 60 months), in a temporary folder removed at the end
(about 13 KB per letter with its analysis rows: 1.3 GB at 100,000).  Each
measurement runs in a fresh process under a 4 GiB address-space limit and
reports its wall time and peak resident memory (ru_maxrss); the same at a
tenth of N shows whether memory grows with the archive.

The synthetic letters are written into the store directly, not committed by a
batch, so their analysis rows (``llm_extract.batch.flat``) are derived by the
first step, as for a store written before they existed; a batch writes them
as it commits each letter.  What that costs a commit is measured last: the
same letters committed in groups of 8 (``Store.commit_many``, fsync per
group) with and without their analysis rows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 4 << 30

# Each measured step, as code run in a fresh interpreter (argv[1] = OUTDIR).
STEPS = {
    "analysis rows derived (once: an older store)": (
        "from llm_extract.batch.flat import prepare\nRESULT = prepare(OUT)\n"
    ),
    "stats (3 default dimensions)": (
        "from llm_extract.batch.stats import stats_from_store\n"
        "s = stats_from_store(OUT)\n"
        "RESULT = s.overall.items\n"
    ),
    "stats --by drug_class --by quarter (two-way)": (
        "from llm_extract.batch.stats import stats_from_store\n"
        "s = stats_from_store(OUT, pairs=[('drug_class', 'quarter')])\n"
        "RESULT = len(s.cross[('drug_class', 'quarter')])\n"
    ),
    "query, first (writes the Parquet views)": (
        "from llm_extract.batch.sql import connect, run_query\n"
        "con = connect(OUT)\n"
        "RESULT = list(run_query(con, QUERY)[1])\n"
    ),
    "query, again (views cached)": (
        "from llm_extract.batch.sql import connect, run_query\n"
        "con = connect(OUT)\n"
        "RESULT = list(run_query(con, QUERY)[1])\n"
    ),
}
QUERY = (
    "SELECT category, year(decision_date) AS year, COUNT(*) AS items, "
    "ROUND(100 * AVG((decision = 'upheld')::INT), 1) AS uphold_pct "
    "FROM items GROUP BY ALL ORDER BY items DESC LIMIT 5"
)
_RUNNER = """
import json, resource, sys, time
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
OUT = Path(sys.argv[1]); QUERY = {query!r}
t = time.perf_counter()
{code}
print(json.dumps({{"seconds": time.perf_counter() - t,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "result": str(RESULT)[:200]}}))
"""


def measure(outdir: Path, code: str) -> dict[str, object]:
    src = _RUNNER.format(limit=LIMIT, query=QUERY, code=code)
    out = subprocess.run(
        [sys.executable, "-c", src, str(outdir)], capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise SystemExit(f"step failed:\n{out.stderr}")
    result: dict[str, object] = json.loads(out.stdout.splitlines()[-1])
    return result


def spread_dates(outdir: Path) -> None:
    """Decision dates over 60 months (2015-01 .. 2019-12), by row."""
    db = sqlite3.connect(outdir / "batch.sqlite3", isolation_level=None)
    db.execute("BEGIN")
    rows = db.execute("SELECT rowid, record_json FROM results WHERE status = 'done'").fetchall()
    for rowid, rj in rows:
        rec = json.loads(rj)
        month = rowid % 60
        rec["decision_date"] = f"{2015 + month // 12}-{month % 12 + 1:02d}-15"
        db.execute("UPDATE results SET record_json = ? WHERE rowid = ?", (json.dumps(rec), rowid))
    db.execute("COMMIT")
    db.close()


def build(corpus: Path, work: Path, n: int) -> Path:
    from llm_extract.batch.runner import BatchOptions, run_batch
    from llm_extract.config import load_config
    from llm_extract.devtools.review_fixtures import synthesise

    real = work / "real"
    if not (real / "batch.sqlite3").exists():
        run_batch(
            BatchOptions(
                inputs=[str(corpus)],
                outdir=real,
                backend="rules",
                config=load_config(backend="rules"),
                progress=False,
            )
        )
        spread_dates(real)
    dest = work / f"store-{n}"
    synthesise(real, dest, n)
    return dest


def commit_cost(real: Path, work: Path, n: int, group: int = 8) -> dict[str, float]:
    """Milliseconds per letter to commit ``n`` letters (copies of the real records),
    ``group`` per transaction, with and without their analysis rows."""
    import hashlib

    from llm_extract.base import BackendIdentity
    from llm_extract.batch import flat
    from llm_extract.batch.store import Store
    from llm_extract.batch.worker import Task
    from llm_extract.loop import LetterResult
    from llm_extract.models import Record

    db = sqlite3.connect(real / "batch.sqlite3")
    records = [r for (r,) in db.execute("SELECT record_json FROM results WHERE status = 'done'")]
    db.close()
    ident = BackendIdentity(name="rules", version="bench", model=None, prompt_version=None)
    finished = []
    for i in range(n):
        rec = Record.model_validate_json(records[i % len(records)])
        key = hashlib.sha256(f"commit-cost:{i}".encode()).hexdigest()
        task = Task(path=f"/bench/{i}.pdf", key=key, file_sha256=key)
        finished.append((task, LetterResult(source=task.path, letter_id=f"b{i}", record=rec)))
    out = {}
    for name, also in (("without", None), ("with", flat.derive_committed)):
        dest = work / f"commit-{name}"
        with Store(dest) as store:
            if also is not None:
                flat.ensure(store.db)
            t = time.perf_counter()
            for start in range(0, n, group):
                store.commit_many(finished[start : start + group], ident, None, also=also)
            out[name] = 1000 * (time.perf_counter() - t) / n
        shutil.rmtree(dest)
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--letters", type=int, default=100_000)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--keep", type=Path, default=None, help="build the stores here, keep them")
    args = ap.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-stats-"))
    try:
        for n in (args.letters // 10, args.letters):
            t = time.perf_counter()
            store = build(args.corpus, work, n)
            size = (store / "batch.sqlite3").stat().st_size / 2**20
            print(
                f"\n{n:,} letters: store built in {time.perf_counter() - t:.1f} s ({size:,.0f} MiB)"
            )
            for name, code in STEPS.items():
                r = measure(store, code)
                print(f"  {name:<46} {r['seconds']:7.2f} s   peak {r['peak_mb']:7.0f} MB")
            if args.keep is None:
                shutil.rmtree(store)
        cost = commit_cost(work / "real", work, 2000)
        print(
            f"\ncommit, 2,000 letters in groups of 8: {cost['without']:.2f} ms/letter without the"
            f" analysis rows, {cost['with']:.2f} ms/letter with them"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
