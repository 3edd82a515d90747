"""Review app response times over a store of 10,000 letters (target: < 300 ms each).

    python benchmarks/bench_review.py [--letters 10000] [--corpus ../shared/corpus]

Makes a real rules batch of the corpus, synthesises a store of N letters from
its records (every 10th flagged like an unsure hybrid result:
``llm_extract.devtools.review_fixtures``), starts ``llm-extract review`` as a
real server process on 127.0.0.1 and times real HTTP requests: the queue
(first request: every record parsed; then warm; filtered), a letter page
(first open: the PDF is read and its text cached; then warm), a correction
(POST + redirect), and the queue right after it (the review state is re-read).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def _timed(
    client: httpx.Client, method: str, url: str, **kw: object
) -> tuple[float, httpx.Response]:
    t = time.perf_counter()
    r = client.request(method, url, **kw)  # type: ignore[arg-type]
    return (time.perf_counter() - t) * 1000, r


def _report(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    p90 = ms[min(len(ms) - 1, int(0.9 * len(ms)))]
    print(
        f"{name:<44} n={len(ms):<3} median {statistics.median(ms):7.1f} ms"
        f"  p90 {p90:7.1f} ms  max {ms[-1]:7.1f} ms  {'ok' if ms[-1] < 300 else 'OVER 300 ms'}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--letters", type=int, default=10_000)
    ap.add_argument(
        "--corpus", default=os.environ.get("IMR_CORPUS") or str(ROOT.parent / "shared" / "corpus")
    )
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    from llm_extract.devtools.review_fixtures import synthesise

    exe = str(Path(sys.executable).with_name("llm-extract"))
    with tempfile.TemporaryDirectory() as tmp:
        real, big = Path(tmp) / "real", Path(tmp) / "big"
        t = time.perf_counter()
        subprocess.run(
            [exe, "batch", args.corpus, "--backend", "rules", "-o", str(real), "--no-progress"],
            check=True,
            capture_output=True,
        )
        synthesise(real, big, args.letters)
        print(
            f"store: {args.letters} letters ({(big / 'batch.sqlite3').stat().st_size / 2**20:.0f} MiB)"
            f" made in {time.perf_counter() - t:.1f} s"
        )
        proc = subprocess.Popen(
            [exe, "review", str(big), "--reviewer", "bench", "--sample", "200"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert proc.stdout is not None
            url = ""
            t_start = time.perf_counter()
            while not url:
                line = proc.stdout.readline()
                if not line:
                    raise SystemExit("the review server did not start")
                m = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=(\S+)", line)
                if m:
                    url, token = m.group(1), m.group(2)
            print(
                f"server started (queue of {args.letters} built) in {time.perf_counter() - t_start:.2f} s"
            )
            with httpx.Client(base_url=url, follow_redirects=False, timeout=60) as c:
                c.get(f"/?token={token}")  # sets the cookie
                ms, r = _timed(c, "GET", "/")
                print(f"{'queue, first request':<44} {ms:7.1f} ms")
                _report(
                    "queue (flagged first, 100 rows)",
                    [_timed(c, "GET", "/")[0] for _ in range(args.repeat)],
                )
                _report(
                    "queue filtered (reason=fallback)",
                    [_timed(c, "GET", "/?reason=fallback")[0] for _ in range(args.repeat)],
                )
                _report(
                    "queue, every letter, page 50",
                    [_timed(c, "GET", "/?scope=all&offset=5000")[0] for _ in range(args.repeat)],
                )
                keys = re.findall(
                    r'href="/letter/([0-9a-f]{64})', c.get("/?scope=all&offset=2000").text
                )
                cold = [_timed(c, "GET", f"/letter/{k}")[0] for k in keys[: args.repeat]]
                _report("letter page, first open (text from PDF)", cold)
                _report(
                    "letter page, warm",
                    [_timed(c, "GET", f"/letter/{k}")[0] for k in keys[: args.repeat]],
                )
                posts, after = [], []
                for i, k in enumerate(keys[: args.repeat]):
                    ms, r = _timed(
                        c,
                        "POST",
                        f"/letter/{k}/field",
                        data={"field": "patient.age", "value": str(30 + i)},
                    )
                    assert r.status_code == 303, r.text[:300]
                    posts.append(ms)
                    after.append(_timed(c, "GET", "/")[0])
                _report("correction (POST, validated, stored)", posts)
                _report("queue right after a correction", after)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
