"""The HTML report: one self-contained file for people (no server, no scripts).

Inline CSS only, no external assets and no JavaScript: the drill-down uses
``<details>`` elements, so the file opens from disk in any browser and can be
attached to an issue or mailed.  Every value from a letter or a record is
HTML-escaped.
"""

from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path
from typing import Any

from ..models import Item
from . import headline
from .report_text import percent
from .scoring import EXACT, EvalResult, FieldScore, InstanceScore, ScoredLetter

CONTEXT_BEFORE = 250
CONTEXT_AFTER = 700

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1200px;padding:0 1em;color:#1d232a;background:#fff}
h1{font-size:1.5em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}
.meta{color:#5a6570;font-size:.9em}
.cards{display:flex;gap:1em;flex-wrap:wrap;margin:1em 0}
.card{border:1px solid #dde;border-radius:6px;padding:.6em 1em;min-width:10em}
.card b{display:block;font-size:1.6em}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f5f6f8;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.bar{background:#eceff3;border-radius:3px;height:14px;width:100%;min-width:160px;position:relative}
.bar span{display:block;height:100%;border-radius:3px}
.good{background:#3c9a5f}.mid{background:#d9a521}.bad{background:#c8463d}
.level{color:#7a8590;font-size:.85em}
details{border:1px solid #e3e6ea;border-radius:5px;margin:.4em 0;padding:.2em .8em}
details[open]{background:#fcfcfd}
summary{cursor:pointer;padding:.3em 0}
summary .score{display:inline-block;width:4.5em;font-weight:600}
.err{color:#b3261e}
.null{color:#9aa3ad;font-style:italic}
.gold{background:#eef7f0}.pred{background:#fbeeee}
pre.ctx{white-space:pre-wrap;background:#f7f7f5;border:1px solid #e5e5e0;padding:.6em;
font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;max-height:22em;overflow:auto}
mark{background:#ffe48a}
.item h4{margin:.8em 0 .2em}
table.wrong{table-layout:fixed}table.wrong td{overflow-wrap:anywhere}
.tag{display:inline-block;font-size:.8em;padding:0 .4em;border-radius:3px;background:#eef;margin-left:.4em}
.tag.miss{background:#fde2e0}.tag.extra{background:#fff0c8}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _pct(x: float | None) -> str:
    return "–" if x is None else percent(x) + "%"


def _cls(x: float | None) -> str:
    if x is None:
        return "mid"
    return "good" if x >= 0.9 else ("mid" if x >= 0.7 else "bad")


def _value(v: Any) -> str:
    if v is None:
        return '<span class="null">null</span>'
    if isinstance(v, list):
        if not v:
            return '<span class="null">[]</span>'
        return "[" + ", ".join(_e(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    return _e(v)


def _bar(x: float | None) -> str:
    width = 0.0 if x is None else max(0.0, min(1.0, x)) * 100
    return f'<div class="bar"><span class="{_cls(x)}" style="width:{width:.1f}%"></span></div>'


def _field_row(fs: FieldScore) -> str:
    if fs.kind == EXACT:
        counts = f"{fs.correct}/{fs.n}"
        pr = ""
    else:
        counts = f"tp {fs.tp} · fp {fs.fp} · fn {fs.fn}"
        pr = f"{_pct(fs.precision)} / {_pct(fs.recall)}"
    metric = {"exact": "accuracy", "set_f1": "F1 (set)", "jaccard_f1": "F1 (Jaccard≥0.5)"}[fs.kind]
    return (
        f"<tr><td>{_e(fs.name)} <span class=level>{_e(fs.level)}</span></td>"
        f"<td class=level>{metric}</td><td>{_bar(fs.score)}</td>"
        f"<td class=num><b>{_pct(fs.score)}</b></td><td class=num>{counts}</td>"
        f"<td class=num>{pr}</td><td class=num>{_pct(fs.score_on_gold_values)} "
        f"<span class=level>({fs.n_gold_values})</span></td></tr>"
    )


# --- letter context -------------------------------------------------------------
def find_request(text: str, request: str) -> tuple[int, int] | None:
    """Where a request's words stand in the letter, whitespace-insensitively."""
    tokens = request.split()
    for n in (len(tokens), min(len(tokens), 6), min(len(tokens), 3)):
        if n == 0:
            break
        pattern = r"\s+".join(re.escape(t) for t in tokens[:n])
        m = re.search(pattern, text, re.IGNORECASE)
        if m:
            return m.start(), m.end()
    return None


def item_span(
    text: str, pred: Item | None, gold: Item | None, *, spans_valid: bool
) -> tuple[int, int] | None:
    """The prediction's span when it points into this text, else a text search."""
    if spans_valid and pred is not None and pred.span is not None:
        s, e = pred.span.start, pred.span.end
        if 0 <= s < e <= len(text):
            return s, e
    for it in (gold, pred):
        if it is not None:
            found = find_request(text, it.request)
            if found:
                return found
    return None


def context(text: str | None, span: tuple[int, int] | None) -> str:
    if text is None:
        return '<p class="null">letter text not available (pass --letters)</p>'
    if span is None:
        return '<p class="null">request not found in the letter text</p>'
    s, e = span
    lo, hi = max(0, s - CONTEXT_BEFORE), min(len(text), e + CONTEXT_AFTER)
    pre = ("…" if lo > 0 else "") + _e(text[lo:s])
    post = _e(text[e:hi]) + ("…" if hi < len(text) else "")
    return f'<pre class="ctx">{pre}<mark>{_e(text[s:e])}</mark>{post}</pre>'


def _wrong_table(outcomes: list[InstanceScore]) -> str:
    rows = "".join(
        f"<tr><td>{_e(o.field)}</td><td class=gold>{_value(o.gold)}</td>"
        f"<td class=pred>{_value(o.predicted)}</td><td class=num>{o.score:.2f}</td></tr>"
        for o in outcomes
    )
    return (
        "<table class=wrong><tr><th style='width:20%'>field</th><th style='width:37%'>gold</th>"
        f"<th style='width:37%'>predicted</th><th style='width:6%'>score</th></tr>{rows}</table>"
    )


def _item_div(title: str, tag: str, body: str) -> str:
    return f"<div class=item><h4>{title}{tag}</h4>{body}</div>"


def _letter_section(lr: ScoredLetter) -> str:
    text = lr.prediction.text
    prov = lr.predicted.provenance
    spans_valid = (
        text is not None
        and prov is not None
        and prov.text_sha256 == hashlib.sha256(text.encode("utf-8")).hexdigest()
    )
    wrong = lr.wrong()
    letter_wrong = [o for o in wrong if o.item is None]
    by_item: dict[int, list[InstanceScore]] = {}
    for o in wrong:
        if o.item is not None:
            by_item.setdefault(o.item, []).append(o)
    n_issues = len(wrong) + len(lr.alignment.missed) + len(lr.alignment.extra)
    parts = [
        f'<details id="{_e(lr.letter_id)}"><summary><span class=score>{_pct(lr.score)}</span>'
        f"<b>{_e(lr.letter_id)}</b> <span class=level>{_e(lr.split)}</span> · "
        f"{len(wrong)} wrong field value(s), {len(lr.alignment.missed)} missed / "
        f"{len(lr.alignment.extra)} extra item(s)"
    ]
    if lr.error:
        parts.append(f" · <span class=err>failed: {_e(lr.error)}</span>")
    parts.append("</summary>")
    if n_issues == 0:
        parts.append("<p>Every scored field matches gold.</p>")
    if letter_wrong:
        parts.append("<h3>Letter fields</h3>" + _wrong_table(letter_wrong))
    g_items, p_items = lr.gold.items, lr.predicted.items
    for gi in sorted(by_item):
        # only matched items have wrong fields (a missed item is listed below)
        pj, sim = next((p, s) for g, p, s in lr.alignment.pairs if g == gi)
        parts.append(
            _item_div(
                f"Gold item {gi + 1}: {_e(g_items[gi].request)}",
                f"<span class=tag>predicted item {pj + 1}, similarity {sim:.2f}</span>",
                _wrong_table(by_item[gi])
                + context(
                    text, item_span(text or "", p_items[pj], g_items[gi], spans_valid=spans_valid)
                ),
            )
        )
    for gi in lr.alignment.missed:
        parts.append(
            _item_div(
                f"Gold item {gi + 1}: {_e(g_items[gi].request)}",
                '<span class="tag miss">missed: no predicted item matches</span>',
                context(text, item_span(text or "", None, g_items[gi], spans_valid=False)),
            )
        )
    for pj in lr.alignment.extra:
        parts.append(
            _item_div(
                f"Predicted item {pj + 1}: {_e(p_items[pj].request)}",
                '<span class="tag extra">extra: no gold item matches</span>',
                context(text, item_span(text or "", p_items[pj], None, spans_valid=spans_valid)),
            )
        )
    parts.append("</details>")
    return "".join(parts)


def _split_table(result: EvalResult) -> str:
    splits = result.by_split()
    if not splits:
        return ""
    rows = "".join(
        f"<tr><td>{_e(name or '(root)')}</td><td class=num>{len(sub.letters)}</td>"
        + "".join(f"<td class=num>{_pct(fig.value(sub))}</td>" for fig in headline.HEADLINES)
        + "</tr>"
        for name, sub in splits.items()
    )
    heads = "".join(f"<th>{_e(fig.label)}</th>" for fig in headline.HEADLINES)
    return f"<table style='width:auto'><tr><th>split</th><th>letters</th>{heads}</tr>{rows}</table>"


def render_html(result: EvalResult) -> str:
    meta = result.meta
    cost = result.cost()
    it = result.items
    source = meta.get("backend") or meta.get("predictions_file") or "?"
    cards = [(fig.label, _pct(fig.value(result))) for fig in headline.HEADLINES]
    cards.append(("letters", f"{len(result.letters)} ({len(result.errors)} failed)"))
    if cost["seconds_per_letter"] is not None:
        cards.append(("seconds / letter", f"{cost['seconds_per_letter']:.2f}"))
    if cost["tokens_per_letter"]:
        cards.append(("tokens / letter", f"{cost['tokens_per_letter']:.0f}"))
    meta_line = " · ".join(
        f"{k}: {_e(v)}"
        for k, v in meta.items()
        if k
        in (
            "backend",
            "backend_version",
            "model",
            "prompt_version",
            "predictions_file",
            "gold_dir",
            "split",
            "llm_extract_version",
        )
        and v
    )
    out = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>llm-extract eval: {_e(source)}</title>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<style>{_CSS}</style></head><body>",
        f"<h1>llm-extract eval: {_e(source)}</h1><p class=meta>{meta_line}</p>",
        '<div class="cards">',
        *(f"<div class=card>{_e(k)}<b>{_e(v)}</b></div>" for k, v in cards),
        "</div>",
        _split_table(result),
        "<h2>Per field</h2>",
        "<p class=meta>Score: accuracy for exact fields, mean per-instance F1 for lists "
        "(diagnoses match on word-set Jaccard ≥ 0.5), over gold instances; null = null counts "
        "as correct; a missed gold item scores 0 on every item field. “On stated”: the "
        "score over instances where gold states a value (count in brackets).</p>",
        "<table><tr><th>field</th><th>metric</th><th style='width:30%'>score</th><th></th>"
        "<th>counts</th><th>P / R</th><th>on stated</th></tr>",
        *(_field_row(fs) for fs in result.fields.values()),
        "</table>",
        f"<p>Items: {it.matched} of {it.gold} gold items matched, {it.predicted} predicted "
        f"({it.gold - it.matched} missed, {it.predicted - it.matched} extra).</p>",
    ]
    if result.errors:
        out.append("<h2>Failed letters</h2><ul>")
        out.extend(
            f'<li><a href="#{_e(lr.letter_id)}">{_e(lr.letter_id)}</a>: '
            f"<span class=err>{_e(lr.error)}</span></li>"
            for lr in result.errors
        )
        out.append("</ul>")
    out.append(
        "<h2>Per letter</h2><p class=meta>Worst first. Open a letter to see each wrong "
        "field with gold and predicted values side by side, and the letter text around the "
        "item.</p>"
    )
    out.extend(_letter_section(lr) for lr in sorted(result.letters, key=lambda r: r.score))
    out.append("</body></html>")
    return "\n".join(out)


def write_html(result: EvalResult, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(render_html(result), encoding="utf-8")
    return p
