"""PDF text extraction: pypdf vs pypdfium2 on the 129 corpus PDFs.

Prints, per library: letters per CPU-second of this process and per wall
second on one core (best of ``--repeat`` passes; the machine is shared, so the
CPU figure is the comparable one),
whether it can open the corpus at all (the letters are AES-128 encrypted with
an empty user password), and how faithful the text is:

- sections in reading order (header, credentials, summary, items headings),
- items the rules parser finds in that text (278 expected: one per
  "Claims Administrator guideline"),
- header fields the rules parser reads (7 per letter expected),
- word joins: tokens of one library's text that are two tokens of the other's
  glued together ("injuredworker"), counted both ways.

Usage:  python benchmarks/bench_pdf.py [--corpus ../shared/corpus] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llm_extract.errors import ExtractionError  # noqa: E402
from llm_extract.loading import letter_from_text  # noqa: E402
from llm_extract.rules.backend import parse_letter  # noqa: E402

_HEADINGS = [
    re.compile(r"Case\s+Number", re.I),
    re.compile(r"HOW\s+THE\s+IMR\s+FINAL\s+DETERMINATION", re.I),
    re.compile(r"CLINICAL\s+CASE\s+SUMMARY", re.I),
    re.compile(r"IMR\s+ISSUES,?\s+DECISIONS", re.I),
]
_TOKEN = re.compile(r"[A-Za-z]{2,}")


def pdfium_text(path: Path) -> str:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))
    try:
        pages = []
        for page in doc:
            tp = page.get_textpage()
            pages.append(tp.get_text_range())
            tp.close()
            page.close()
        return "\n".join(pages)
    finally:
        doc.close()


def pypdf_text(path: Path) -> str:
    import pypdf

    reader = pypdf.PdfReader(str(path))
    if reader.is_encrypted:
        reader.decrypt("")
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def crypto_provider() -> str:
    try:
        from pypdf._crypt_providers import crypt_provider

        return f"{crypt_provider[0]} {crypt_provider[1]}"
    except Exception as exc:  # private API; only informative
        return f"unknown ({exc})"


def encryption_summary(paths: list[Path]) -> str:
    import pypdf

    kinds: dict[str, int] = {}
    for p in paths:
        r = pypdf.PdfReader(str(p))
        if r.is_encrypted:
            e: Any = r.trailer["/Encrypt"].get_object()
            kind = f"V{e.get('/V')} R{e.get('/R')} {e.get('/Length', 40)}-bit"
        else:
            kind = "not encrypted"
        kinds[kind] = kinds.get(kind, 0) + 1
    return ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items()))


def timed(
    fn: Callable[[Path], str], paths: list[Path], repeat: int
) -> tuple[float, float, dict[str, str], int]:
    """Best wall and CPU seconds per pass, the texts, and how many files failed."""
    best = best_cpu = float("inf")
    texts: dict[str, str] = {}
    failures = 0
    for _ in range(repeat):
        failures = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for p in paths:
            try:
                texts[p.stem] = fn(p)
            except Exception as exc:  # a library failing on a file is a finding, not a crash
                failures += 1
                texts.pop(p.stem, None)
                if failures == 1:
                    print(f"    first failure ({p.name}): {type(exc).__name__}: {exc}")
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best, best_cpu, texts, failures


def in_order(text: str) -> bool:
    positions = []
    for rx in _HEADINGS:
        m = rx.search(text)
        if not m:
            return False
        positions.append(m.start())
    return positions == sorted(positions)


def glued(tokens_a: set[str], tokens_b: set[str]) -> set[str]:
    """Tokens of A that are two tokens of B concatenated (word joins in A)."""
    out = set()
    for tok in tokens_a - tokens_b:
        if len(tok) < 6:
            continue
        for i in range(3, len(tok) - 2):
            if tok[:i] in tokens_b and tok[i:] in tokens_b:
                out.add(tok)
                break
    return out


def faithfulness(texts: dict[str, str]) -> dict[str, int]:
    ordered = items = header_fields = errors = 0
    for lid, raw in texts.items():
        ordered += in_order(raw)
        try:
            rec = parse_letter(letter_from_text(raw, lid)).record
        except ExtractionError:
            errors += 1
            continue
        items += len(rec.items)
        header_fields += sum(
            getattr(rec, f) is not None
            for f in (
                "case_number",
                "date_assigned",
                "date_of_injury",
                "decision_date",
                "ur_denial_date",
                "application_received",
                "priority",
            )
        )
    return {
        "ordered": ordered,
        "items": items,
        "header_fields": header_fields,
        "parse_errors": errors,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    paths = sorted((args.corpus / "letters").glob("*.pdf"))
    if not paths:
        sys.exit(f"no PDFs under {args.corpus / 'letters'}")
    print(f"{len(paths)} PDFs; encryption: {encryption_summary(paths)}")
    print(f"pypdf AES provider: {crypto_provider()}")

    results = {}
    for name, fn in (("pypdfium2", pdfium_text), ("pypdf", pypdf_text)):
        print(f"\n{name}:")
        secs, cpu, texts, failures = timed(fn, paths, args.repeat)
        results[name] = texts
        ok = len(paths) - failures
        print(
            f"  opened {ok}/{len(paths)}; {ok / cpu:.1f} letters/CPU-s ({1000 * cpu / max(ok, 1):.1f} ms/letter); "
            f"wall {ok / secs:.1f} letters/s (one core, best of {args.repeat})"
        )
        if not texts:
            continue
        f = faithfulness(texts)
        print(
            f"  headings in reading order: {f['ordered']}/{len(texts)}; "
            f"rules items found: {f['items']} (expected 278); "
            f"header fields: {f['header_fields']}/{7 * len(texts)}; parse errors: {f['parse_errors']}"
        )

    a, b = results.get("pypdfium2", {}), results.get("pypdf", {})
    common = sorted(set(a) & set(b))
    if common:
        joins_a = joins_b = 0
        examples_a: set[str] = set()
        examples_b: set[str] = set()
        for lid in common:
            ta = {t.lower() for t in _TOKEN.findall(a[lid])}
            tb = {t.lower() for t in _TOKEN.findall(b[lid])}
            ga, gb = glued(ta, tb), glued(tb, ta)
            joins_a += len(ga)
            joins_b += len(gb)
            examples_a |= ga
            examples_b |= gb
        print(
            f"\nword joins over {len(common)} letters (tokens that are two words of the other text glued):"
        )
        print(f"  pypdfium2: {joins_a}  e.g. {sorted(examples_a)[:8]}")
        print(f"  pypdf:     {joins_b}  e.g. {sorted(examples_b)[:8]}")
        same = 0
        for lid in common:
            try:
                ra = parse_letter(letter_from_text(a[lid], lid)).record.model_dump()
                rb = parse_letter(letter_from_text(b[lid], lid)).record.model_dump()
            except ExtractionError:
                continue
            for r in (ra, rb):
                for it in r["items"]:
                    it.pop("span")
            same += ra == rb
        print(f"  identical rules records from both texts: {same}/{len(common)}")


if __name__ == "__main__":
    main()
