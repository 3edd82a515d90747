"""OCR on image-only versions of labelled corpus letters: accuracy and seconds per page.

    python benchmarks/bench_ocr.py --split holdout --letters 4 --engine tesseract rapidocr

For each chosen gold letter that is a PDF, the pages are rendered by PDFium
and written back as an image-only PDF (no text layer: a "scan",
``llm_extract.devtools.scanned``).  Each engine then reads it through the
loader (``ocr=auto``: every page lacks text, so every page is OCR'd), the
rules backend extracts it, and ``llm-extract eval --predictions`` scores the
records against gold, next to the PDFium text of the original PDF.

Seconds are per page: wall clock and CPU (this process plus its children,
i.e. tesseract's subprocesses); pages are read by ``ocr.page_workers`` threads,
as in the product.  Each engine's line ends with the load average (1 min)
before and after it: on a shared, loaded machine the CPU figure is the one to
compare, and engines are compared within one run (see README, "Speed").
Letters that settings were tuned on (dev split) are not in test or holdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llm_extract import extract  # noqa: E402
from llm_extract.devtools.scanned import image_only_pdf  # noqa: E402
from llm_extract.loading import load_letter  # noqa: E402
from llm_extract.ocr import engine_version, page_workers, resolve_engine  # noqa: E402

CORPUS = Path(os.environ.get("IMR_CORPUS", ROOT.parent / "shared" / "corpus"))


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _score(records: list[str], gold_dir: Path, letters: Path) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as fh:
        fh.write("\n".join(records) + "\n")
        preds = fh.name
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "llm_extract",
            "eval",
            "--predictions",
            preds,
            "--gold",
            str(gold_dir),
            "--letters",
            str(letters),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    os.unlink(preds)
    if out.returncode not in (0, 1):
        raise SystemExit(f"eval failed: {out.stderr.strip()[-400:]}")
    return json.loads(out.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    splits = sorted(p.name for p in (ROOT / "evals" / "fixtures").iterdir() if p.is_dir())
    ap.add_argument("--split", default="holdout", choices=splits)
    ap.add_argument("--letters", type=int, default=3, help="how many PDF letters of the split")
    ap.add_argument("--skip", type=int, default=0, help="skip the split's first N PDF letters")
    ap.add_argument("--engine", nargs="+", default=["tesseract", "rapidocr"])
    ap.add_argument(
        "--workers", type=int, default=None, help="pages read at once (default: one per core)"
    )
    ap.add_argument(
        "--rapid-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a rapidocr setting (ocr._RAPID_PARAMS), e.g. Det.limit_side_len=736",
    )
    ap.add_argument("--save", type=Path, default=None, help="write each engine's records here")
    args = ap.parse_args()
    if args.workers is not None:
        import llm_extract.ocr as ocr

        ocr._MAX_PAGE_WORKERS = args.workers
    for kv in args.rapid_param:
        import llm_extract.ocr as ocr

        key, _, value = kv.partition("=")
        ocr._RAPID_PARAMS[key] = int(value) if value.lstrip("-").isdigit() else value

    gold_files = sorted((ROOT / "evals" / "fixtures" / args.split).glob("*.json"))
    chosen = [g for g in gold_files if (CORPUS / "letters" / f"{g.stem}.pdf").exists()]
    chosen = chosen[args.skip : args.skip + args.letters]
    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as tmp:
        tmpdir = Path(tmp)
        gold_dir, scans = tmpdir / "gold", tmpdir / "scans"
        gold_dir.mkdir()
        scans.mkdir()
        pages = 0
        for g in chosen:
            shutil.copy(g, gold_dir / g.name)
            pages += image_only_pdf(CORPUS / "letters" / f"{g.stem}.pdf", scans / f"{g.stem}.pdf")
        print(
            f"{len(chosen)} letters of {args.split} ({pages} pages) as image-only PDFs (200 dpi); "
            f"{page_workers(4)} page worker(s) on {os.cpu_count()} core(s)"
        )

        base = [
            extract(load_letter(CORPUS / "letters" / f"{g.stem}.pdf"), backend="rules").to_json()
            for g in chosen
        ]
        ref = _score(base, gold_dir, CORPUS)
        print(
            f"{'pdfium (text layer)':24} mean field {ref['mean_field_score']:.4f}  "
            f"decision {ref['decision_accuracy']:.4f}"
        )
        for engine in args.engine:
            if resolve_engine(engine) is None:
                print(f"{engine:24} skipped: not installed")
                continue
            records, confs = [], []
            load0 = os.getloadavg()[0]
            wall0, cpu0 = time.perf_counter(), _cpu()
            for g in chosen:
                letter = load_letter(scans / f"{g.stem}.pdf", ocr="auto", ocr_engine=engine)
                assert letter.ocr is not None
                confs += [p.confidence for p in letter.ocr.pages]
                records.append(extract(letter, backend="rules").to_json())
            wall, cpu = time.perf_counter() - wall0, _cpu() - cpu0
            res = _score(records, gold_dir, CORPUS)
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                (args.save / f"{engine}-{args.split}.jsonl").write_text("\n".join(records) + "\n")
            worst = sorted(
                (k, v) for k, v in (res.get("fields") or {}).items() if v is not None and v < 1
            )
            label = f"{engine} {engine_version(engine)}"
            print(
                f"{label:24} mean field {res['mean_field_score']:.4f}  "
                f"decision {res['decision_accuracy']:.4f}  items F1 {res['items']['f1']:.4f}  "
                f"{wall / pages:.2f} s/page wall, {cpu / pages:.2f} s/page CPU  "
                f"confidence min {min(confs):.3f}  "
                f"load {load0:.1f}->{os.getloadavg()[0]:.1f}",
                flush=True,
            )
            print(f"{'':24} fields below 1: {dict(worst)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
