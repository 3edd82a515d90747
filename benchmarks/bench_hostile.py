"""Hostile files: time and peak memory of ``llm-extract extract`` on each.

The three files of an archive that used to take a machine down or give a
silently wrong record:

- a PDF of 20,000 blank pages (made here with PDFium),
- one PDF holding two determinations (two corpus letters merged with pypdf),
- a 50 MB text of concatenated letters (the corpus seeds over and over),

plus the blank PDF again with the page limit off (the OCR page limit stops
it) and with every limit off but a short time budget (OCR reads a window of
pages at a time until the budget runs out).  Each runs in its own
subprocess under an address-space cap (``--cap-mb``), so a regression shows
as a failure here instead of exhausting the machine.  Prints, per file: exit
code, wall seconds, peak RSS (MB) and the first line of what it said.

Usage:  python benchmarks/bench_hostile.py [--corpus ../shared/corpus] [--cap-mb 2048]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llm_extract.devtools.hostile import (  # noqa: E402
    blank_pdf,
    concatenated_text,
    merged_pdf,
    run_capped,
)

PAIR = ("CM16-0228949", "CM17-0010885")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_corpus = os.environ.get("IMR_CORPUS") or str(ROOT.parent / "shared" / "corpus")
    ap.add_argument("--corpus", type=Path, default=Path(default_corpus))
    ap.add_argument("--cap-mb", type=int, default=2048, help="address-space cap per run")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds before a run is killed")
    args = ap.parse_args()
    letters = args.corpus / "letters"
    seeds = sorted((args.corpus / "seeds").glob("*.txt"))
    if not letters.is_dir() or not seeds:
        print(f"no corpus at {args.corpus} (letters/ and seeds/); pass --corpus", file=sys.stderr)
        return 2
    cli = [sys.executable, "-m", "llm_extract", "extract", "-b", "rules"]
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
        work = Path(tmp)
        blank = blank_pdf(work / "blank-20000.pdf")
        two = merged_pdf([letters / f"{lid}.pdf" for lid in PAIR], work / "two-letters.pdf")
        texts = [p.read_text(encoding="utf-8") for p in seeds]
        archive = concatenated_text(texts, work / "archive-50mb.txt", megabytes=50)
        runs = [
            ("20,000 blank pages", [str(blank)]),
            ("two determinations, one PDF", [str(two), "-o", str(work / "two.jsonl")]),
            ("50 MB of concatenated letters", [str(archive)]),
            ("20,000 blank pages, --max-pages 0", [str(blank), "--max-pages", "0"]),
            (
                "20,000 blank pages, no page limits, --letter-seconds 10",
                [str(blank), "--max-pages", "0", "--max-ocr-pages", "0", "--letter-seconds", "10"],
            ),
        ]
        print(f"{'file':<58} {'size MB':>8} {'exit':>4} {'s':>7} {'peak MB':>8}  said")
        for name, argv in runs:
            size = Path(argv[0]).stat().st_size / 1e6
            got = run_capped([*cli, *argv], memory_mb=args.cap_mb, timeout_s=args.timeout)
            said = (got.stderr.strip().splitlines() or [""])[-1][:150]
            print(
                f"{name:<58} {size:>8.1f} {got.returncode:>4} {got.seconds:>7.2f} "
                f"{got.peak_rss_mb:>8.0f}  {said}"
            )
            if name.startswith("two"):
                lines = (work / "two.jsonl").read_text().splitlines()
                print(f"{'':<58} {len(lines)} records: {[ln[14:26] for ln in lines]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
