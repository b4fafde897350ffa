"""Server-side SVG bar charts: no JavaScript, no CDN, no inline style (CSP). Colours come from the
.chart-* classes of static/css/app.css; every label is escaped; numbers are printed on the bars."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from markupsafe import Markup, escape

_ids = itertools.count(1)


@dataclass
class Bar:
    label: str
    value: int
    css: str = "chart-bar"
    href: str | None = None


def _nice_max(value: int) -> int:
    """A round axis maximum ≥ value (1, 2, 5 × 10^n)."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _text_width(text: str, size: float = 12) -> float:
    """Rough rendered width: CJK characters are about one em wide, others about 0.6 em."""
    return sum(size if ord(ch) > 0x2E80 else size * 0.6 for ch in text)


def column_chart(bars: list[Bar], *, title: str, width: int = 960, height: int = 240, label_every: int = 1,
                 empty_text: str = "") -> Markup:
    """Vertical bars (e.g. one per day) with a y axis from 0 to a round maximum, the x labels of every
    `label_every`-th bar, and the value above each non-zero bar when there is room for it."""
    uid = f"chart{next(_ids)}"
    top, bottom, left, right = 18, 26, 34, 8
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((b.value for b in bars), default=0)
    vmax = _nice_max(peak)
    n = max(len(bars), 1)
    slot = plot_w / n
    bar_w = max(slot * 0.72, 1.0)
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="{uid}" class="chart-svg chart-columns">',
             f'<title id="{uid}">{escape(title)}</title>']
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        parts.append(f'<line class="chart-gridline" x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}"/>')
        parts.append(f'<text class="chart-label chart-tick" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{int(vmax * frac) if vmax * frac == int(vmax * frac) else round(vmax * frac, 1)}</text>')
    parts.append(f'<line class="chart-axis" x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}"/>')
    show_values = slot >= 14
    for i, bar in enumerate(bars):
        h = plot_h * bar.value / vmax if vmax else 0
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h - h
        tip = f"{bar.label}: {bar.value}"
        parts.append(f'<rect class="{escape(bar.css)}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
                     f'<title>{escape(tip)}</title></rect>')
        if bar.value and show_values:
            parts.append(f'<text class="chart-label chart-value" x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" '
                         f'text-anchor="middle">{bar.value}</text>')
        if label_every and (i % label_every == 0 or i == len(bars) - 1):
            parts.append(f'<text class="chart-label" x="{x + bar_w / 2:.1f}" y="{height - 8}" '
                         f'text-anchor="middle">{escape(bar.label)}</text>')
    if not peak and empty_text:
        parts.append(f'<text class="chart-label chart-empty" x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" '
                     f'text-anchor="middle">{escape(empty_text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # safe: every text and attribute above went through escape(); numbers are formatted


def grouped_column_chart(labels: list[str], series: list[tuple[str, str, list[int]]], *, title: str,
                         width: int = 960, height: int = 250, label_every: int = 5, empty_text: str = "") -> Markup:
    """Several series side by side per slot (e.g. checkouts and visits per day), with a legend.
    `series` is a list of (name, css class, values), each as long as `labels`."""
    uid = f"chart{next(_ids)}"
    top, bottom, left, right = 30, 26, 34, 8
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((v for _n, _c, values in series for v in values), default=0)
    vmax = _nice_max(peak)
    n = max(len(labels), 1)
    slot = plot_w / n
    group_w = slot * 0.8
    bar_w = max(group_w / max(len(series), 1), 1.0)
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="{uid}" class="chart-svg chart-columns">',
             f'<title id="{uid}">{escape(title)}</title>']
    x = left
    for name, css, values in series:  # legend
        parts.append(f'<rect class="{escape(css)}" x="{x}" y="6" width="12" height="12"/>'
                     f'<text class="chart-label" x="{x + 16}" y="16">{escape(name)} ({sum(values)})</text>')
        x += 16 + _text_width(f"{name} ({sum(values)})") + 24
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        value = vmax * frac
        parts.append(f'<line class="chart-gridline" x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}"/>')
        parts.append(f'<text class="chart-label chart-tick" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{int(value) if value == int(value) else round(value, 1)}</text>')
    parts.append(f'<line class="chart-axis" x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}"/>')
    for i, label in enumerate(labels):
        gx = left + i * slot + (slot - group_w) / 2
        for j, (name, css, values) in enumerate(series):
            value = values[i] if i < len(values) else 0
            h = plot_h * value / vmax
            bx = gx + j * bar_w
            y = top + plot_h - h
            parts.append(f'<rect class="{escape(css)}" x="{bx:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
                         f'<title>{escape(label)} · {escape(name)}: {value}</title></rect>')
            if value and bar_w >= 9:
                parts.append(f'<text class="chart-label chart-value chart-small" x="{bx + bar_w / 2:.1f}" y="{y - 3:.1f}" '
                             f'text-anchor="middle">{value}</text>')
        if label_every and (i % label_every == 0 or i == len(labels) - 1):
            parts.append(f'<text class="chart-label" x="{gx + group_w / 2:.1f}" y="{height - 8}" '
                         f'text-anchor="middle">{escape(label)}</text>')
    if not peak and empty_text:
        parts.append(f'<text class="chart-label chart-empty" x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" '
                     f'text-anchor="middle">{escape(empty_text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # safe: every text and attribute above went through escape(); numbers are formatted


def bar_chart(bars: list[Bar], *, title: str, width: int = 360, row: int = 26, empty_text: str = "") -> Markup:
    """Horizontal bars, one row per category: the label on the left, the bar, its value at its end.
    Bars with an href are links (e.g. to the filtered list)."""
    uid = f"chart{next(_ids)}"
    label_w = min(max((_text_width(b.label) for b in bars), default=40) + 10, width * 0.45)
    value_w = 40
    plot_w = width - label_w - value_w
    height = max(len(bars), 1) * row + 6
    vmax = max((b.value for b in bars), default=0) or 1
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="{uid}" class="chart-svg chart-hbar">',
             f'<title id="{uid}">{escape(title)}</title>']
    for i, bar in enumerate(bars):
        y = 3 + i * row
        w = plot_w * bar.value / vmax
        body = (f'<text class="chart-label" x="{label_w - 8:.1f}" y="{y + row / 2 + 4:.1f}" text-anchor="end">'
                f'{escape(bar.label)}</text>'
                f'<rect class="{escape(bar.css)}" x="{label_w:.1f}" y="{y + 4}" width="{max(w, 1 if bar.value else 0):.1f}" '
                f'height="{row - 8}"><title>{escape(bar.label)}: {bar.value}</title></rect>'
                f'<text class="chart-label chart-value" x="{label_w + w + 5:.1f}" y="{y + row / 2 + 4:.1f}">'
                f'{bar.value}</text>')
        parts.append(f'<a href="{escape(bar.href)}">{body}</a>' if bar.href else body)
    if not bars and empty_text:
        parts.append(f'<text class="chart-label chart-empty" x="{width / 2:.1f}" y="{row / 2 + 6}" '
                     f'text-anchor="middle">{escape(empty_text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # safe: every text and attribute above went through escape(); numbers are formatted
