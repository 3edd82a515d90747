"""Throughput of the rules backend over the corpus, on one core.

Prints letters/s for (1) loading: PDF/text -> Letter (PDFium text, ftfy,
checks), and (2) parsing: Letter -> validated Record by the rules parser,
from letters already in memory.  Target for (2): >= 500 letters/s.

The machine is shared, so besides wall-clock rates the script reports rates
per CPU-second of this process (``time.process_time``), which other
processes' load does not distort; the CPU rate is the one to compare.

Usage:  python benchmarks/bench_rules.py [--corpus ../shared/corpus] [--passes 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llm_extract.config import load_config  # noqa: E402
from llm_extract.loading import load_letter  # noqa: E402
from llm_extract.rules import RulesBackend, segment_letter  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument(
        "--passes", type=int, default=5, help="timed passes over the corpus (best counts)"
    )
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    paths = sorted((args.corpus / "seeds").glob("*.txt")) + sorted(
        (args.corpus / "letters").glob("*.pdf")
    )
    if not paths:
        sys.exit(f"no letters under {args.corpus}")
    pdfs = [p for p in paths if p.suffix == ".pdf"]

    # 1. loading (PDF text extraction dominates)
    load_wall, load_cpu = [], []
    for _ in range(max(1, args.passes // 2)):
        w0, c0 = time.perf_counter(), time.process_time()
        for p in pdfs:
            load_letter(p)
        load_wall.append(time.perf_counter() - w0)
        load_cpu.append(time.process_time() - c0)
    letters = [load_letter(p) for p in paths]
    chars = sum(len(letter.text) for letter in letters)
    lw, lc = min(load_wall), min(load_cpu)
    print(
        f"corpus: {len(letters)} letters ({len(pdfs)} PDFs), {chars / len(letters):.0f} chars/letter on average"
    )
    print(
        f"loading PDFs (load_letter):       {len(pdfs) / lc:8.1f} letters/CPU-s "
        f"({1000 * lc / len(pdfs):.2f} ms/letter); wall {len(pdfs) / lw:.1f} letters/s"
    )

    # 2. parsing pre-loaded text
    backend = RulesBackend(load_config())
    for letter in letters:  # warm-up: compile regexes, import lazily-loaded modules
        backend.extract(letter)
    seg_cpu, parse_cpu, parse_wall = [], [], []
    items = 0
    for _ in range(args.passes):
        c0 = time.process_time()
        for letter in letters:
            segment_letter(letter)
        seg_cpu.append(time.process_time() - c0)
        w0, c0 = time.perf_counter(), time.process_time()
        items = 0
        for letter in letters:
            items += len(backend.extract(letter).items)
        parse_cpu.append(time.process_time() - c0)
        parse_wall.append(time.perf_counter() - w0)
    sc, pc, pw = min(seg_cpu), min(parse_cpu), min(parse_wall)
    n = len(letters)
    print(f"segmenting only (segment_letter): {n / sc:8.1f} letters/CPU-s")
    print(
        f"parsing (RulesBackend.extract):   {n / pc:8.1f} letters/CPU-s "
        f"({1000 * pc / n:.2f} ms/letter, {items} items, best of {args.passes} passes); "
        f"wall {n / pw:.1f} letters/s"
    )
    print(f"target >= 500 letters/s (CPU): {'met' if n / pc >= 500 else 'NOT met'}")


if __name__ == "__main__":
    main()
