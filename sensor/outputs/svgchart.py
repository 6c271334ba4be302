"""Inline SVG charts for the report: horizontal bars and a column timeline.

The report must open offline on a regulator's laptop without fetching anything, so charts are
drawn here as SVG text rather than by a JavaScript library. Labels come from captures (host names
are attacker-controlled): every one is escaped and shortened before it reaches the markup.
"""

from __future__ import annotations

from html import escape

MAX_LABEL_CHARS = 30
BAR_HEIGHT = 22
BAR_GAP = 6
LABEL_WIDTH = 250
CHART_WIDTH = 600
COLOURS = ("#1f5f8b", "#2e86ab", "#57a773", "#e0a458", "#c8553d", "#6c4f77")


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def _fmt(value: int) -> str:
    return f"{value:,}"


def hbar_chart(rows: list[tuple[str, int]], title: str, unit: str = "") -> str:
    """Horizontal bars, one per (label, value), in the order given."""
    if not rows:
        return ""
    top = max(value for _, value in rows) or 1
    bar_space = CHART_WIDTH - LABEL_WIDTH - 80
    height = len(rows) * (BAR_HEIGHT + BAR_GAP) + BAR_GAP
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(rows):
        y = BAR_GAP + i * (BAR_HEIGHT + BAR_GAP)
        width = max(1, round(bar_space * value / top)) if value else 0
        colour = COLOURS[i % len(COLOURS)]
        text_y = y + BAR_HEIGHT * 0.7
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{text_y:.1f}" text-anchor="end" font-size="13">'
            f"<title>{escape(label)}</title>{escape(_short(label))}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{width}" height="{BAR_HEIGHT}" '
            f'fill="{colour}" rx="3"/>'
            f'<text x="{LABEL_WIDTH + width + 6}" y="{text_y:.1f}" font-size="13">'
            f"{_fmt(value)}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def column_chart(rows: list[tuple[str, int]], title: str) -> str:
    """Vertical columns over time (label, count); the first and last labels are written out."""
    if not rows:
        return ""
    top = max(value for _, value in rows) or 1
    plot_h, pad_l, pad_b = 160, 40, 40
    height = plot_h + pad_b + 10
    step = (CHART_WIDTH - pad_l - 10) / len(rows)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<line x1="{pad_l}" y1="{plot_h + 10}" x2="{CHART_WIDTH - 10}" y2="{plot_h + 10}" '
        'stroke="#888"/>'
        f'<text x="{pad_l - 6}" y="18" text-anchor="end" font-size="12">{_fmt(top)}</text>'
        f'<text x="{pad_l - 6}" y="{plot_h + 10}" text-anchor="end" font-size="12">0</text>'
    ]
    for i, (label, value) in enumerate(rows):
        h = round(plot_h * value / top)
        x = pad_l + i * step + step * 0.1
        parts.append(
            f'<rect x="{x:.1f}" y="{plot_h + 10 - h}" width="{max(step * 0.8, 1):.1f}" '
            f'height="{h}" fill="{COLOURS[0]}"><title>{escape(label)}: {_fmt(value)}</title></rect>'
        )
    last = rows[-1][0]
    parts.append(
        f'<text x="{pad_l}" y="{plot_h + 30}" font-size="12">{escape(rows[0][0])}</text>'
        + (
            f'<text x="{CHART_WIDTH - 10}" y="{plot_h + 30}" text-anchor="end" font-size="12">'
            f"{escape(last)}</text>"
            if len(rows) > 1
            else ""
        )
    )
    parts.append("</svg>")
    return "".join(parts)
