"""Small inline SVG charts for the report: stacked bars, a histogram and a line chart. Each chart is an
<svg class="chart"> with an id, its marks classed for the browser test to find."""

from __future__ import annotations

import math

from service.workbench.html import INDICATOR_COLOURS, e

WIDTH = 640
LEFT = 190
RIGHT = 40
BAR = 22


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:,.1f}"


def stacked_bars(chart_id: str, rows: list[tuple[str, dict[str, float]]], title: str, unit: str) -> str:
    """One horizontal bar per row, segments by indicator."""
    height = 30 + BAR * 1.5 * max(1, len(rows)) + 30
    largest = _nice_max(max((sum(values.values()) for _, values in rows), default=0.0))
    scale = (WIDTH - LEFT - RIGHT) / largest
    parts = []
    for index, (label, values) in enumerate(rows):
        y = 20 + index * BAR * 1.5
        parts.append(f'<text x="{LEFT - 6}" y="{y + BAR * 0.7:.1f}" text-anchor="end">{e(label)}</text>')
        x = float(LEFT)
        for indicator, value in values.items():
            width = value * scale
            parts.append(
                f'<rect class="bar {e(indicator)}" x="{x:.1f}" y="{y:.1f}" width="{max(width, 0.5):.1f}" '
                f'height="{BAR}" fill="{INDICATOR_COLOURS.get(indicator, "#888")}">'
                f"<title>{e(label)}, {e(indicator)}: {_number(value)} {e(unit)}</title></rect>"
            )
            x += width
        parts.append(f'<text x="{x + 4:.1f}" y="{y + BAR * 0.7:.1f}">{_number(sum(values.values()))}</text>')
    axis_y = height - 24
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{axis_y}" y2="{axis_y}" stroke="#555"/>')
    for tick in range(5):
        value = largest * tick / 4
        x = LEFT + value * scale
        parts.append(f'<text x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle">{_number(value)}</text>')
    return _svg(chart_id, height, title, parts)


def histogram(chart_id: str, bins: list[tuple[str, int]], title: str, x_label: str) -> str:
    height = 240
    plot_top, plot_bottom = 20, height - 46
    largest = _nice_max(max((count for _, count in bins), default=0))
    slot = (WIDTH - 60 - RIGHT) / max(1, len(bins))
    parts = []
    for index, (label, count) in enumerate(bins):
        bar_height = (plot_bottom - plot_top) * count / largest
        x = 60 + index * slot
        parts.append(
            f'<rect class="bin" x="{x + 2:.1f}" y="{plot_bottom - bar_height:.1f}" width="{slot - 4:.1f}" '
            f'height="{bar_height:.1f}" fill="#5c6bc0"><title>{e(label)}: {count} patients</title></rect>'
            f'<text x="{x + slot / 2:.1f}" y="{plot_bottom + 14}" text-anchor="middle">{e(label)}</text>'
        )
        if count:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{plot_bottom - bar_height - 3:.1f}" '
                f'text-anchor="middle">{count}</text>'
            )
    parts.append(f'<line x1="60" x2="{WIDTH - RIGHT}" y1="{plot_bottom}" y2="{plot_bottom}" stroke="#555"/>')
    parts.append(f'<text x="{WIDTH / 2:.0f}" y="{height - 8}" text-anchor="middle">{e(x_label)}</text>')
    parts.append(f'<text x="10" y="{plot_top + 4}" >patients</text>')
    return _svg(chart_id, height, title, parts)


def lines(chart_id: str, labels: list[str], series: dict[str, list[int]], title: str) -> str:
    height = 240
    left, plot_top, plot_bottom = 60, 20, height - 46
    largest = _nice_max(max((max(values, default=0) for values in series.values()), default=0))
    span = max(1, len(labels) - 1)
    step = (WIDTH - left - RIGHT) / span
    parts = []
    for tick in range(5):
        value = largest * tick / 4
        y = plot_bottom - (plot_bottom - plot_top) * tick / 4
        parts.append(
            f'<line x1="{left}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_number(value)}</text>'
        )
    for indicator, values in series.items():
        if not any(values):
            continue
        points = " ".join(
            f"{left + index * step:.1f},{plot_bottom - (plot_bottom - plot_top) * value / largest:.1f}"
            for index, value in enumerate(values)
        )
        colour = INDICATOR_COLOURS.get(indicator, "#888")
        if len(values) == 1:
            cx, cy = points.split(",")
            parts.append(f'<circle class="series {e(indicator)}" cx="{cx}" cy="{cy}" r="4" fill="{colour}"/>')
        else:
            parts.append(
                f'<polyline class="series {e(indicator)}" points="{points}" fill="none" stroke="{colour}" '
                f'stroke-width="2"><title>{e(indicator)} cards per day</title></polyline>'
            )
    parts.append(
        f'<line x1="{left}" x2="{WIDTH - RIGHT}" y1="{plot_bottom}" y2="{plot_bottom}" stroke="#555"/>'
    )
    every = max(1, len(labels) // 6)
    for index in range(0, len(labels), every):
        parts.append(
            f'<text x="{left + index * step:.1f}" y="{plot_bottom + 14}" '
            f'text-anchor="middle">{e(labels[index])}</text>'
        )
    parts.append(f'<text x="10" y="{plot_top - 6}">cards per day</text>')
    return _svg(chart_id, height, title, parts)


def _svg(chart_id: str, height: float, title: str, parts: list[str]) -> str:
    return (
        f'<svg class="chart" id="{e(chart_id)}" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{height:.0f}" viewBox="0 0 {WIDTH} {height:.0f}" role="img" aria-label="{e(title)}">'
        + "".join(parts)
        + "</svg>"
    )
