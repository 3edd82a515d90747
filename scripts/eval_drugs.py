"""The drug dimension against evals/drugs/gold.json, and its coverage over a batch store.

python scripts/eval_drugs.py                 # the resolver on the gold's names
python scripts/eval_drugs.py --store OUTDIR  # also: end to end on the store's
                                             # records, and the share of all its
                                             # medication items resolved
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from llm_extract.drugs import drug_of
from llm_extract.evaluation.drugs import load_drug_gold, score_records, score_resolver

ROOT = Path(__file__).resolve().parent.parent


def _records(outdir: Path) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(f"file:{outdir / 'batch.sqlite3'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT letter_id, record_json FROM results WHERE status = 'done'")
        return {str(lid): json.loads(rj) for lid, rj in rows}


def _line(label: str, s: dict[str, Any]) -> str:
    n = s["items"] or 1
    return (
        f"{label}: {s['items']} labelled items, resolved {s['resolved']} "
        f"({100 * s['resolved'] / n:.1f}%), correct {s['correct']} ({100 * s['correct'] / n:.1f}%;"
        f" ingredients {s['ingredients_correct']}, class {s['class_correct']})"
    )


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gold", type=Path, default=ROOT / "evals" / "drugs" / "gold.json")
    ap.add_argument("--store", type=Path, default=None, help="a batch OUTDIR")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    gold = load_drug_gold(args.gold)
    out: dict[str, Any] = {"resolver": score_resolver(gold).as_dict()}
    if args.store is not None:
        records = _records(args.store)
        out["end_to_end"] = score_records(gold, records).as_dict()
        how = Counter(
            d.resolution
            for r in records.values()
            for it in r.get("items") or []
            if (d := drug_of(it.get("medication"))) is not None
        )
        out["store"] = {"letters": len(records), "medication_items": sum(how.values()), **how}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for key, label in (("resolver", "resolver on the gold names"), ("end_to_end", "end to end")):
        if key in out:
            print(_line(label, out[key]))
            for miss in out[key]["misses"]:
                print(f"  miss: {miss}")
    if "store" in out:
        st = out["store"]
        n = st["medication_items"] or 1
        print(
            f"store: {st['letters']} letters, {st['medication_items']} medication items: "
            f"dictionary {st.get('dictionary', 0)}, table {st.get('table', 0)}, unresolved "
            f"{st.get('unresolved', 0)} (resolved {100 * (n - st.get('unresolved', 0)) / n:.1f}%)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
