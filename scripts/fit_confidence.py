"""Fit the packaged per-value confidence (llm_extract/calibration.json) on the gold splits.

    python scripts/fit_confidence.py            # rules records over every gold split
    python scripts/fit_confidence.py --check    # exit 1 when the packaged file is stale

The table counts, per description of a value (its field, reading rule and
certainty, reader, shape, ...), how often such values were wrong against gold,
and the flag threshold is chosen on leave-one-split-out estimates (see
llm_extract/evaluation/calibration.py). Records are made without the packaged
calibration so that the fit never sees its own flags.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from llm_extract.confidence import CALIBRATION_FILE, Calibration
from llm_extract.config import load_config
from llm_extract.evaluation.calibration import examples, fit_all
from llm_extract.evaluation.gold import gold_digest, load_gold
from llm_extract.evaluation.runner import default_letters_dir, run_backend
from llm_extract.evaluation.scoring import evaluate

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "llm_extract" / CALIBRATION_FILE


def fitted(backend: str) -> str:
    gold = load_gold(ROOT / "evals" / "fixtures")
    preds = run_backend(
        gold, default_letters_dir(), backend=backend, config=load_config(backend=backend)
    )
    rows = examples(evaluate(gold, preds))
    model, threshold = fit_all(rows)
    cal = Calibration(
        model=model,
        threshold=threshold,
        fitted_on={
            "backend": backend,
            "splits": sorted({g.split for g in gold}),
            "letters": len(gold),
            "values": len(rows),
            "gold_sha256": gold_digest(gold),
        },
    )
    return json.dumps(cal.to_json(), indent=1, sort_keys=True) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backend", default="rules")
    ap.add_argument("--check", action="store_true", help="exit 1 when the packaged file differs")
    args = ap.parse_args()
    text = fitted(args.backend)
    if args.check:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET.name} is stale: run python scripts/fit_confidence.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET} (threshold {json.loads(text)['threshold']:.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
