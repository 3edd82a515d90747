"""``stats --html``: one self-contained HTML page (inline CSS and SVG, no
scripts, no external assets) that opens from disk, in an email or offline.

Each dimension gets a chart (one horizontal bar per group, length = items,
split upheld / overturned, labelled with the overturn rate) and its table.
"""

from __future__ import annotations

import datetime as dt
from html import escape

from .stats import DIMENSIONS, Group, Stats, heading, pct

UPHELD_COLOUR = "#4c72b0"
OVERTURNED_COLOUR = "#dd8452"
_BAR_H = 18
_GAP = 6
_LABEL_W = 260
_BAR_W = 420
_RATE_W = 200

_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto;
       max-width: 960px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { padding: 3px 10px; border-bottom: 1px solid #ddd; }
th { text-align: left; background: #f4f4f4; } td.n { text-align: right;
     font-variant-numeric: tabular-nums; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px;
               vertical-align: middle; }
.meta { color: #666; font-size: 0.85em; }
svg text { font-size: 12px; fill: #222; }
"""


def _chart(groups: list[Group], title: str) -> str:
    if not groups:
        return "<p>(no items)</p>"
    most = max(g.items for g in groups) or 1
    height = len(groups) * (_BAR_H + _GAP) + _GAP
    width = _LABEL_W + _BAR_W + _RATE_W
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
    ]
    for i, g in enumerate(groups):
        y = _GAP + i * (_BAR_H + _GAP)
        up_w = _BAR_W * g.upheld / most
        ov_w = _BAR_W * g.overturned / most
        other_w = _BAR_W * (g.items - g.upheld - g.overturned) / most
        label = g.name if len(g.name) <= 38 else g.name[:37] + "…"
        parts.append(
            f'<text x="{_LABEL_W - 8}" y="{y + _BAR_H - 5}" text-anchor="end">'
            f"<title>{escape(g.name)}</title>{escape(label)}</text>"
        )
        x = float(_LABEL_W)
        for w, colour, what, n in (
            (up_w, UPHELD_COLOUR, "upheld", g.upheld),
            (ov_w, OVERTURNED_COLOUR, "overturned", g.overturned),
            (other_w, "#bbbbbb", "no decision", g.items - g.upheld - g.overturned),
        ):
            if w > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{_BAR_H}" fill="{colour}">'
                    f"<title>{escape(g.name)}: {n} {what}</title></rect>"
                )
                x += w
        parts.append(
            f'<text x="{x + 6:.1f}" y="{y + _BAR_H - 5}">{g.items} items, '
            f"{pct(g.overturn_rate)} overturned</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(groups: list[Group], title: str) -> str:
    head = (
        f"<tr><th>{escape(title)}</th><th>letters</th><th>items</th><th>upheld</th>"
        "<th>overturned</th><th>uphold rate</th><th>overturn rate</th></tr>"
    )
    rows = [
        f"<tr><td>{escape(g.name)}</td><td class=n>{g.letters}</td><td class=n>{g.items}</td>"
        f"<td class=n>{g.upheld}</td><td class=n>{g.overturned}</td>"
        f"<td class=n>{pct(g.uphold_rate)}</td><td class=n>{pct(g.overturn_rate)}</td></tr>"
        for g in groups
    ]
    return f"<table>{head}{''.join(rows)}</table>"


def render_html(stats: Stats, *, title: str = "IMR decisions: uphold and overturn rates") -> str:
    o = stats.overall
    sections = []
    notes = {
        "maximus_source": "An item counts once under each source its MAXIMUS guideline cites, "
        "so the rows overlap.",
        "specialty": "Each item counts under every specialty of its letter's reviewer.",
    }
    for dim, label in DIMENSIONS.items():
        groups = stats.rows(dim)
        note = f'<p class="meta">{escape(notes[dim])}</p>' if dim in notes else ""
        sections.append(
            f"<h2>{escape(heading(dim))}</h2>{note}{_chart(groups, label)}{_table(groups, label)}"
        )
    backends = ", ".join(stats.backends) or "-"
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{escape(title)}</h1>
<p><b>{o.letters}</b> letters, <b>{o.items}</b> disputed items: <b>{o.upheld}</b> upheld
({pct(o.uphold_rate)}), <b>{o.overturned}</b> overturned ({pct(o.overturn_rate)}).
{stats.failed_letters} letter(s) could not be extracted and are not counted.</p>
<p class="meta">Review: {escape(stats.review.line())}.</p>
<p class="meta">Extracted by: {escape(backends)}. Generated {generated} by llm-extract stats.</p>
<p class="legend"><span style="background:{UPHELD_COLOUR}"></span>upheld
<span style="background:{OVERTURNED_COLOUR}"></span>overturned</p>
{"".join(sections)}
</body></html>
"""
