"""Speed, tokens and accuracy of the rules, llm and hybrid backends on labelled letters.

For each backend, over the labelled dev letters (evals/fixtures/dev; never the
held-out test split unless asked): seconds per letter (median, p90), prompt
and completion tokens per letter, prompt tokens against the letter's own
token count (the model's tokenizer on the whole letter text), and accuracy
through the eval harness's scorer (mean field score, category, decision).

Targets (on the embedded local model, 2 shared cores; issue 10): hybrid median
<= 8 s and mean <= 12 s per letter with rules timed in the same run; prompt +
completion tokens per letter <= 60 % of hybrid 1.3's (~570 + ~130 mean on
holdout: <= 420); needs_review recall >= 80 % while flagging <= 30 % of
letters (evaluation/review_signal.py).  The
machine is shared: the load average before and after each backend is printed
with its figures, because other processes' load slows the model directly.

Usage:
  python benchmarks/bench_llm.py                      # rules,hybrid,llm on the embedded model
  python benchmarks/bench_llm.py --limit 5 --backends rules,hybrid
  python benchmarks/bench_llm.py --base-url http://127.0.0.1:8765/v1 --model qwen2.5-coder-1.5b-instruct-q4_k_m
  python benchmarks/bench_llm.py --json out.json      # also write every figure as JSON
  python benchmarks/bench_llm.py --split test,holdout,holdout2 --backends rules,hybrid
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llm_extract.api import close_backends, extract  # noqa: E402
from llm_extract.config import Config, load_config  # noqa: E402
from llm_extract.errors import ExtractionError  # noqa: E402
from llm_extract.evaluation import review_signal  # noqa: E402
from llm_extract.evaluation.gold import load_gold  # noqa: E402
from llm_extract.evaluation.runner import default_letters_dir, find_letter  # noqa: E402
from llm_extract.evaluation.scoring import score_letter, summarise  # noqa: E402
from llm_extract.loading import Letter, load_letter  # noqa: E402
from llm_extract.loop import LetterResult  # noqa: E402


def token_counter(config: Config) -> tuple[Callable[[str], int], str]:
    """The local model's tokenizer (vocab only, no weights loaded), else ~4 chars/token."""
    try:
        import llama_cpp

        from llm_extract.llm.model_files import ensure_model_file

        path = config.local_model_path or ensure_model_file(config)
        vocab = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
        return (
            lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False)),
            "model tokenizer",
        )
    except Exception as exc:  # no local extra: an estimate, and said so
        logging.warning("no local tokenizer (%s): estimating 4 characters per token", exc)
        return (lambda text: max(1, len(text) // 4)), "estimate: chars/4"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def run_backend(
    name: str, letters: list[tuple[Any, Letter]], config: Config, count: Callable[[str], int]
) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    preds: dict[str, LetterResult] = {}
    rows = []
    for gold, letter in letters:
        started = time.perf_counter()
        try:
            record = extract(letter, backend=name, config=config)
        except ExtractionError as exc:
            failed = time.perf_counter() - started
            preds[gold.letter_id] = LetterResult.failed(
                gold.letter_id, exc, letter_id=gold.letter_id, seconds=failed
            )
            print(f"  {name:7s} {gold.letter_id:22s} ERROR {exc}", flush=True)
            continue
        took = time.perf_counter() - started
        preds[gold.letter_id] = LetterResult.of_record(gold.letter_id, record, seconds=took)
        u = record.provenance.usage if record.provenance else None
        letter_tokens = count(letter.text)
        row = {
            "letter": gold.letter_id,
            "seconds": took,
            "prompt_tokens": u.prompt_tokens if u else 0,
            "completion_tokens": u.completion_tokens if u else 0,
            "letter_tokens": letter_tokens,
            "items": len(record.items),
            "fallback": bool(record.provenance and record.provenance.fallback),
            "needs_review": record.needs_review,
            "checks": len(record.checks),
            "unresolved": [
                f"{c.field}: llm {c.llm_value!r} vs rules {c.rules_value!r}"
                for c in record.checks
                if not c.resolved
            ],
        }
        rows.append(row)
        print(
            f"  {name:7s} {gold.letter_id:22s} {took:6.1f}s  prompt {row['prompt_tokens']:5d} "
            f"(letter {letter_tokens:5d})  completion {row['completion_tokens']:4d}  "
            f"items {row['items']:2d}  checks {row['checks']:2d}"
            f"{'  FALLBACK' if row['fallback'] else ''}{'  needs_review' if row['needs_review'] else ''}",
            flush=True,
        )
        for line in row["unresolved"]:
            print(f"      unresolved {line}")
    result = summarise([score_letter(g, preds[g.letter_id]) for g, _ in letters])
    secs = [r["seconds"] for r in rows] or [0.0]
    prompt = [r["prompt_tokens"] for r in rows] or [0]
    completion = [r["completion_tokens"] for r in rows] or [0]
    ratio = [r["prompt_tokens"] / r["letter_tokens"] for r in rows if r["letter_tokens"]] or [0.0]
    review = review_signal.of(result)
    return {
        "backend": name,
        "letters": len(letters),
        "errors": len(letters) - len(rows),
        "seconds_median": statistics.median(secs),
        "seconds_mean": statistics.fmean(secs),
        "tokens_mean": statistics.fmean(p + c for p, c in zip(prompt, completion, strict=True)),
        "prompt_tokens_mean": statistics.fmean(prompt),
        "completion_tokens_mean": statistics.fmean(completion),
        "letters_with_a_call": sum(r["prompt_tokens"] > 0 for r in rows),
        "review_flag_rate": review.flag_rate,
        "review_recall": review.recall,
        "review_precision": review.precision,
        "letters_wrong": review.wrong,
        "fields": {name: fs.score for name, fs in result.fields.items()},
        "items_precision": result.items.precision,
        "items_recall": result.items.recall,
        "readers": review.to_dict()["readers"],
        "seconds_p90": pct(secs, 0.9),
        "prompt_tokens_median": statistics.median(prompt),
        "completion_tokens_median": statistics.median(completion),
        "letter_tokens_median": statistics.median([r["letter_tokens"] for r in rows] or [0]),
        "prompt_over_letter_median": statistics.median(ratio),
        "prompt_over_letter_max": max(ratio),
        "letters_prompt_within_letter": sum(r["prompt_tokens"] <= r["letter_tokens"] for r in rows),
        "fallbacks": sum(r["fallback"] for r in rows),
        "needs_review": sum(r["needs_review"] for r in rows),
        "mean_field_score": result.mean_field_score,
        "category": result.fields["category"].score,
        "decision": result.decision_accuracy,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "rows": rows,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="rules,hybrid,llm")
    ap.add_argument("--limit", type=int, default=None, help="only the first N letters")
    ap.add_argument("--gold", type=Path, default=ROOT / "evals" / "fixtures")
    ap.add_argument(
        "--split",
        default="dev",
        help="dev, test, holdout, holdout2 or all; several comma-separated "
        "(e.g. test,holdout,holdout2: one run over the unseen splits)",
    )
    ap.add_argument("--letters", type=Path, default=None, help="corpus root (default: shared)")
    ap.add_argument(
        "--base-url", default=None, help="OpenAI-compatible endpoint (default: embedded)"
    )
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", type=Path, default=None, help="write all figures here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")

    config = load_config(base_url=args.base_url, model=args.model)
    gold = [g for split in args.split.split(",") for g in load_gold(args.gold, split=split)]
    gold = gold[: args.limit]
    letters_dir = args.letters or default_letters_dir()
    letters = []
    for g in gold:
        path = find_letter(letters_dir, g.letter_id)
        if path is None:
            print(f"skip {g.letter_id}: letter not found in {letters_dir}")
            continue
        letters.append((g, load_letter(path)))
    count, how = token_counter(config)
    print(
        f"{len(letters)} labelled {args.split} letters; letter tokens by {how}; "
        f"endpoint {args.base_url or 'embedded local llama.cpp'}",
        flush=True,
    )

    results = []
    try:
        for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
            results.append(run_backend(name, letters, config, count))
    finally:
        close_backends()

    print()
    head = (
        f"{'backend':8s} {'n':>3s} {'s med':>7s} {'s p90':>7s} {'prompt':>7s} {'compl':>6s} "
        f"{'letter':>7s} {'p/l med':>7s} {'p/l max':>7s} {'p<=l':>5s} {'field':>6s} "
        f"{'categ':>6s} {'decis':>6s} {'fallbk':>6s} {'review':>6s} {'load':>9s}"
    )
    print(head)
    for r in results:

        def f(x: float | None) -> str:
            return "   n/a" if x is None else f"{100 * x:5.1f}%"

        print(
            f"{r['backend']:8s} {r['letters']:3d} {r['seconds_median']:7.2f} {r['seconds_p90']:7.2f} "
            f"{r['prompt_tokens_median']:7.0f} {r['completion_tokens_median']:6.0f} "
            f"{r['letter_tokens_median']:7.0f} {r['prompt_over_letter_median']:7.2f} "
            f"{r['prompt_over_letter_max']:7.2f} {r['letters_prompt_within_letter']:5d} "
            f"{f(r['mean_field_score'])} {f(r['category'])} {f(r['decision'])} "
            f"{r['fallbacks']:6d} {r['needs_review']:6d} "
            f"{r['load_before']:4.1f}>{r['load_after']:<4.1f}"
        )
    print(
        "s = seconds per letter (load excluded, extract only); prompt/compl = median tokens "
        "per letter; p/l = prompt tokens / the letter's own tokens; p<=l = letters within "
        "the target; field = mean field score; load = 1-min load average before>after"
    )
    for r in results:
        print(
            f"{r['backend']:8s} mean {r['seconds_mean']:.2f} s/letter; tokens/letter mean "
            f"{r['prompt_tokens_mean']:.0f} prompt + {r['completion_tokens_mean']:.0f} completion "
            f"= {r['tokens_mean']:.0f}; letters with an LLM call {r['letters_with_a_call']}/"
            f"{r['letters']}; needs_review flagged {f(r['review_flag_rate'])} of letters, "
            f"recall {f(r['review_recall'])} (letters with a wrong field: {r['letters_wrong']}), "
            f"precision {f(r['review_precision'])}"
        )
    if len(results) > 1:  # every field against the first backend (rules, when listed first)
        base = results[0]
        for r in results[1:]:
            worse = {
                k: (base["fields"][k], v)
                for k, v in r["fields"].items()
                if v is not None and base["fields"].get(k) is not None and v < base["fields"][k]
            }
            print(
                f"{r['backend']} vs {base['backend']}: fields worse {len(worse)} "
                + " ".join(f"{k} {100 * a:.1f}->{100 * b:.1f}%" for k, (a, b) in worse.items())
                + f"; items P/R {100 * r['items_precision']:.1f}/{100 * r['items_recall']:.1f}%"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
