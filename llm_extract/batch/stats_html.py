"""``stats --html``: one self-contained HTML page (inline CSS and SVG, no
scripts, no external assets) that opens from disk, in an email or offline.

Each dimension gets a chart (one horizontal bar per group, length = items,
split upheld / overturned, labelled with the overturn rate and its 95 %
interval) and its table; a time dimension (year, quarter, month) gets a trend
chart instead (the overturn rate per period with its interval as an error bar;
hollow points for periods under 20 items); a two-way table is a table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from html import escape

from ..intervals import SMALL_GROUP
from .dimensions import DEFAULT_DIMENSIONS, TIME_DIMENSIONS, label
from .stats import cross_heading, heading, pct, pct_ci
from .stats_types import Group, Pair, Stats

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
        mark = "*" if g.small else ""
        parts.append(
            f'<text x="{x + 6:.1f}" y="{y + _BAR_H - 5}">{g.items}{mark} items, '
            f"{pct(g.overturn_rate)} overturned<title>95% CI {pct_ci(g.overturn)}</title></text>"
        )
    parts.append("</svg>")
    return "".join(parts)


_TREND_W = 760
_TREND_H = 240
_PAD = 40


def _trend(groups: list[Group], title: str) -> str:
    """Overturn rate per period, with its 95 % interval as an error bar."""
    points = [g for g in groups if g.overturn.n]
    if not points:
        return "<p>(no dated items)</p>"
    step = (_TREND_W - 2 * _PAD) / max(len(points) - 1, 1)
    top = max(g.overturn.high for g in points)
    scale = max(0.1, min(1.0, round(top + 0.05, 1)))  # the y axis: 0 to a round rate

    def y(rate: float) -> float:
        return _TREND_H - _PAD - (_TREND_H - 2 * _PAD) * rate / scale

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_TREND_W}" height="{_TREND_H}" '
        f'viewBox="0 0 {_TREND_W} {_TREND_H}" role="img" aria-label="{escape(title)}">',
        f'<line x1="{_PAD}" y1="{y(0):.1f}" x2="{_TREND_W - _PAD}" y2="{y(0):.1f}" stroke="#999"/>',
        f'<text x="4" y="{y(scale) + 4:.1f}">{100 * scale:.0f}%</text>'
        f'<text x="4" y="{y(0) + 4:.1f}">0%</text>',
    ]
    xs = [_PAD + i * step for i in range(len(points))]
    line = " ".join(
        f"{x:.1f},{y(g.overturn.k / g.overturn.n):.1f}" for x, g in zip(xs, points, strict=True)
    )
    parts.append(f'<polyline points="{line}" fill="none" stroke="{OVERTURNED_COLOUR}"/>')
    every = max(1, len(points) // 12)  # at most ~12 period labels
    for i, (x, g) in enumerate(zip(xs, points, strict=True)):
        r = g.overturn
        fill = "white" if g.small else OVERTURNED_COLOUR
        parts.append(
            f'<line x1="{x:.1f}" y1="{y(r.low):.1f}" x2="{x:.1f}" y2="{y(r.high):.1f}" '
            f'stroke="{OVERTURNED_COLOUR}"/>'
            f'<circle cx="{x:.1f}" cy="{y(r.k / r.n):.1f}" r="4" fill="{fill}" '
            f'stroke="{OVERTURNED_COLOUR}"><title>{escape(g.name)}: {r.k}/{r.n} overturned, '
            f"{pct(g.overturn_rate)} (95% CI {pct_ci(r)})</title></circle>"
        )
        if i % every == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{_TREND_H - _PAD + 16}" text-anchor="middle">'
                f"{escape(g.name)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _table(groups: list[Group], titles: Sequence[str]) -> str:
    head = (
        "".join(f"<th>{escape(t)}</th>" for t in titles)
        + "<th>letters</th><th>items</th><th>upheld</th><th>overturned</th>"
        "<th>uphold rate</th><th>95% CI</th><th>overturn rate</th><th>95% CI</th>"
    )
    rows = []
    for g in groups:
        names = [g.name] if len(titles) == 1 else [g.name, str(g.name2)]
        mark = "*" if g.small else ""
        rows.append(
            "<tr>"
            + "".join(f"<td>{escape(n)}</td>" for n in names)
            + f"<td class=n>{g.letters}</td><td class=n>{g.items}{mark}</td>"
            f"<td class=n>{g.upheld}</td><td class=n>{g.overturned}</td>"
            f"<td class=n>{pct(g.uphold_rate)}</td><td class=n>{pct_ci(g.uphold)}</td>"
            f"<td class=n>{pct(g.overturn_rate)}</td><td class=n>{pct_ci(g.overturn)}</td></tr>"
        )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


_NOTES = {
    "maximus_source": "An item counts once under each source its MAXIMUS guideline cites, "
    "so the rows overlap.",
    "specialty": "Each item counts under every specialty of its letter's reviewer.",
    "drug": "Medication items only; an item counts once under each of its ingredients, "
    "so the rows overlap.",
    "drug_class": "Medication items only.",
}


def render_html(
    stats: Stats,
    *,
    dims: Iterable[str] = DEFAULT_DIMENSIONS,
    pairs: Iterable[Pair] = (),
    title: str = "IMR decisions: uphold and overturn rates",
) -> str:
    o = stats.overall
    sections = []
    for dim in dims:
        groups = stats.rows(dim)
        note = f'<p class="meta">{escape(_NOTES[dim])}</p>' if dim in _NOTES else ""
        chart = _trend if dim in TIME_DIMENSIONS else _chart
        sections.append(
            f"<h2>{escape(heading(dim))}</h2>{note}{chart(groups, label(dim))}"
            f"{_table(groups, [label(dim)])}"
        )
    for pair in pairs:
        sections.append(
            f"<h2>{escape(cross_heading(pair))}</h2>"
            f"{_table(stats.cross_rows(pair), [label(pair[0]), label(pair[1])])}"
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
({pct(o.uphold_rate)}, 95% CI {pct_ci(o.uphold)}), <b>{o.overturned}</b> overturned
({pct(o.overturn_rate)}, 95% CI {pct_ci(o.overturn)}).
{stats.failed_letters} letter(s) could not be extracted and are not counted.</p>
<p class="meta">Review: {escape(stats.review.line())}.</p>
<p class="meta">Intervals: Wilson score, 95 %. * marks a group under {SMALL_GROUP} items:
its interval is wide.</p>
<p class="meta">Extracted by: {escape(backends)}. Generated {generated} by llm-extract stats.</p>
<p class="legend"><span style="background:{UPHELD_COLOUR}"></span>upheld
<span style="background:{OVERTURNED_COLOUR}"></span>overturned</p>
{"".join(sections)}
</body></html>
"""
