"""Small inline SVG charts for the report: stacked bars, a histogram and a line chart. Each chart is an
<svg class="chart"> with an id, its marks classed for the browser test to find."""

from __future__ import annotations

import math

from timeline_view.html import INDICATOR_COLOURS, e

WIDTH = 640
LEFT = 190
RIGHT = 40
BAR = 22


def nice_ticks(value: float, target: int = 4) -> list[float]:
    """Round tick values from 0 to at least `value`: a step of 1, 2 or 5 times a power of ten, about
    `target` steps."""
    if value <= 0:
        return [0.0, 1.0]
    raw = value / target
    exponent = 10.0 ** math.floor(math.log10(raw))
    step = next((m * exponent for m in (1, 2, 5, 10) if raw <= m * exponent), 10 * exponent)
    count = math.ceil(value / step - 1e-9)
    return [round(step * index, 10) for index in range(count + 1)]


def _nice_max(value: float) -> float:
    return nice_ticks(value)[-1]


def _number(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value < 1 else f"{value:,.1f}"


def stacked_bars(chart_id: str, rows: list[tuple[str, dict[str, float]]], title: str, unit: str) -> str:
    """One horizontal bar per row, segments by indicator."""
    height = 30 + BAR * 1.5 * max(1, len(rows)) + 42
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
    axis_y = height - 36
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{axis_y}" y2="{axis_y}" stroke="#555"/>')
    for value in nice_ticks(largest):
        x = LEFT + value * scale
        parts.append(f'<text x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle">{_number(value)}</text>')
    parts.append(
        f'<text class="axis-title" x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{height - 2:.0f}" '
        f'text-anchor="middle">{e(unit)}</text>'
    )
    return _svg(chart_id, height, title, parts)


SERIES_COLOURS = ("#37474f", "#7e57c2", "#26a69a")


def grouped_bars(chart_id: str, rows: list[tuple[str, dict[str, float]]], title: str, unit: str) -> str:
    """One group of thin horizontal bars per row, one bar per series (card-days, episodes, ...)."""
    series = list(dict.fromkeys(name for _, values in rows for name in values))
    thin = 9
    group = thin * max(1, len(series)) + 10
    height = 40 + group * max(1, len(rows)) + 42
    ticks = nice_ticks(max((value for _, values in rows for value in values.values()), default=0.0))
    scale = (WIDTH - LEFT - RIGHT) / ticks[-1]
    parts = []
    for index, name in enumerate(series):
        colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        parts.append(
            f'<rect x="{LEFT + index * 120}" y="4" width="10" height="10" fill="{colour}"/>'
            f'<text x="{LEFT + index * 120 + 14}" y="13">{e(name)}</text>'
        )
    for row_index, (label, values) in enumerate(rows):
        y = 26 + row_index * group
        parts.append(f'<text x="{LEFT - 6}" y="{y + group / 2:.1f}" text-anchor="end">{e(label)}</text>')
        for index, name in enumerate(series):
            value = values.get(name, 0.0)
            colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
            top = y + index * thin
            parts.append(
                f'<rect class="bar {e(name.replace(" ", "-"))}" x="{LEFT}" y="{top:.1f}" '
                f'width="{max(value * scale, 0.5):.1f}" height="{thin - 1}" fill="{colour}">'
                f"<title>{e(label)}: {_number(value)} {e(name)}</title></rect>"
                f'<text x="{LEFT + value * scale + 3:.1f}" y="{top + thin - 1:.1f}" '
                f'style="font-size:9px">{_number(value)}</text>'
            )
    axis_y = height - 36
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{axis_y}" y2="{axis_y}" stroke="#555"/>')
    for value in ticks:
        x = LEFT + value * scale
        parts.append(f'<text x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle">{_number(value)}</text>')
    parts.append(
        f'<text class="axis-title" x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{height - 2:.0f}" '
        f'text-anchor="middle">{e(unit)}</text>'
    )
    return _svg(chart_id, height, title, parts)


def histogram(
    chart_id: str, bins: list[tuple[str, int]], title: str, x_label: str, y_label: str = "patients"
) -> str:
    height = 240
    plot_top, plot_bottom = 20, height - 46
    ticks = nice_ticks(max((count for _, count in bins), default=0))
    largest = ticks[-1]
    slot = (WIDTH - 60 - RIGHT) / max(1, len(bins))
    parts = []
    for index, (label, count) in enumerate(bins):
        bar_height = (plot_bottom - plot_top) * count / largest
        x = 60 + index * slot
        parts.append(
            f'<rect class="bin" x="{x + 2:.1f}" y="{plot_bottom - bar_height:.1f}" width="{slot - 4:.1f}" '
            f'height="{bar_height:.1f}" fill="#5c6bc0"><title>{e(label)}: {count} {e(y_label)}</title></rect>'
            f'<text x="{x + slot / 2:.1f}" y="{plot_bottom + 14}" text-anchor="middle">{e(label)}</text>'
        )
        if count:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{plot_bottom - bar_height - 3:.1f}" '
                f'text-anchor="middle">{count}</text>'
            )
    for value in ticks:
        y = plot_bottom - (plot_bottom - plot_top) * value / largest
        parts.append(f'<text x="54" y="{y + 4:.1f}" text-anchor="end">{_number(value)}</text>')
    parts.append(f'<line x1="60" x2="{WIDTH - RIGHT}" y1="{plot_bottom}" y2="{plot_bottom}" stroke="#555"/>')
    parts.append(
        f'<text class="axis-title" x="{WIDTH / 2:.0f}" y="{height - 8}" '
        f'text-anchor="middle">{e(x_label)}</text>'
    )
    parts.append(f'<text class="axis-title" x="4" y="{plot_top - 8}">{e(y_label)}</text>')
    return _svg(chart_id, height, title, parts)


def lines(
    chart_id: str,
    labels: list[str],
    series: dict[str, list[int]],
    title: str,
    y_label: str = "cards per day",
    x_label: str = "date (evaluated at 12:00 UTC)",
) -> str:
    height = 250
    left, plot_top, plot_bottom = 60, 24, height - 50
    ticks = nice_ticks(max((max(values, default=0) for values in series.values()), default=0))
    largest = ticks[-1]
    span = max(1, len(labels) - 1)
    step = (WIDTH - left - RIGHT) / span
    parts = []
    for value in ticks:
        y = plot_bottom - (plot_bottom - plot_top) * value / largest
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
                f'stroke-width="2"><title>{e(indicator)}: {e(y_label)}</title></polyline>'
            )
    parts.append(
        f'<line x1="{left}" x2="{WIDTH - RIGHT}" y1="{plot_bottom}" y2="{plot_bottom}" stroke="#555"/>'
    )
    every = max(1, math.ceil(len(labels) / 5))
    for index in range(0, len(labels), every):
        parts.append(
            f'<text x="{left + index * step:.1f}" y="{plot_bottom + 14}" '
            f'text-anchor="middle">{e(labels[index])}</text>'
        )
    parts.append(f'<text class="axis-title" x="4" y="{plot_top - 10}">{e(y_label)}</text>')
    parts.append(
        f'<text class="axis-title" x="{(left + WIDTH - RIGHT) / 2:.0f}" y="{height - 6}" '
        f'text-anchor="middle">{e(x_label)}</text>'
    )
    return _svg(chart_id, height, title, parts)


def _svg(chart_id: str, height: float, title: str, parts: list[str]) -> str:
    return (
        f'<svg class="chart" id="{e(chart_id)}" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{height:.0f}" viewBox="0 0 {WIDTH} {height:.0f}" role="img" aria-label="{e(title)}">'
        + "".join(parts)
        + "</svg>"
    )
