"""A patient's timeline page: therapies (planned, day 0, doses, ongoing), imaging windows, neurological
findings with grades, brain MRIs done and ordered, and the days each card would fire, as one SVG, with
the card texts below it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from service.workbench.html import INDICATOR_COLOURS, e, markdown_text, page
from service.workbench.view import CardDay, ImagingWindow, TimelineView

WIDTH = 1000
LABEL_WIDTH = 190
ROW_HEIGHT = 30
TOP = 10
AXIS_HEIGHT = 30
# History older than this before the range is cut off: years of it would squeeze the range to a line.
MAX_HISTORY_DAYS = 400
STAGE_SHAPES = {"administered": "circle", "ordered": "square", "planned": "hollow"}


@dataclass(frozen=True)
class Axis:
    start: date
    end: date

    @property
    def days(self) -> int:
        return max(1, (self.end - self.start).days)

    def x(self, day: date) -> float:
        clamped = min(max(day, self.start), self.end)
        return LABEL_WIDTH + (clamped - self.start).days / self.days * (WIDTH - LABEL_WIDTH - 10)

    def day_width(self) -> float:
        return max(1.5, (WIDTH - LABEL_WIDTH - 10) / self.days)

    def shows(self, day: date | None) -> bool:
        return day is not None and self.start <= day <= self.end


def axis_for(view: TimelineView) -> Axis:
    dates: list[date] = [view.first_day]
    for therapy in view.therapies:
        dates.extend(dose.on for dose in therapy.doses if dose.on is not None)
    dates.extend(finding.on for finding in view.findings)
    dates.extend(mri.on for mri in view.brain_mris if mri.on is not None)
    dates.extend(window.starts for window in view.windows)
    earliest = max(min(dates), view.first_day - timedelta(days=MAX_HISTORY_DAYS))
    start = min(earliest, view.first_day) - timedelta(days=7)
    latest = max(
        [
            view.last_day,
            *(window.ends for window in view.windows if window.ends <= view.last_day + timedelta(days=120)),
        ]
    )
    return Axis(start, latest + timedelta(days=7))


def _label(y: float, text: str, css: str = "") -> str:
    return f'<text x="4" y="{y + ROW_HEIGHT / 2 + 4:.1f}" class="lane-label {css}">{e(text[:32])}</text>'


def _dose_mark(x: float, y: float, stage: str, title: str) -> str:
    cy = y + ROW_HEIGHT / 2
    shape = STAGE_SHAPES.get(stage, "circle")
    tip = f"<title>{e(title)}</title>"
    if shape == "square":
        return (
            f'<rect class="dose {stage}" x="{x - 4:.1f}" y="{cy - 4:.1f}" width="8" height="8" '
            f'fill="#37474f">{tip}</rect>'
        )
    fill = "#fff" if shape == "hollow" else "#37474f"
    return (
        f'<circle class="dose {stage}" cx="{x:.1f}" cy="{cy:.1f}" r="4.5" fill="{fill}" stroke="#37474f" '
        f'stroke-width="1.5">{tip}</circle>'
    )


def _therapy_rows(view: TimelineView, axis: Axis, y: float) -> tuple[list[str], float]:
    parts: list[str] = []
    for therapy in view.therapies:
        agents = ", ".join(therapy.agents)
        parts.append(f'<g class="therapy {e(therapy.therapy_class)}">')
        parts.append(_label(y, therapy.label, "therapy-label"))
        dated = [dose.on for dose in therapy.doses if dose.on is not None]
        bar_start = therapy.started or (min(dated) if dated else None)
        bar_end = view.last_day if therapy.ongoing else (therapy.last or bar_start)
        if bar_start is not None and bar_end is not None and bar_end >= bar_start:
            x0, x1 = axis.x(bar_start), axis.x(bar_end)
            state = "ongoing" if therapy.ongoing else "finished"
            parts.append(
                f'<rect class="course {state}" x="{x0:.1f}" y="{y + 9:.1f}" width="{max(2.0, x1 - x0):.1f}" '
                f'height="{ROW_HEIGHT - 18}" fill="#b0bec5" rx="3"><title>{e(therapy.label)} ({e(agents)}): '
                f"{bar_start} to {'ongoing' if therapy.ongoing else bar_end}</title></rect>"
            )
        for dose in therapy.doses:
            if dose.on is not None and axis.shows(dose.on):
                parts.append(
                    _dose_mark(
                        axis.x(dose.on),
                        y,
                        dose.stage,
                        f"{dose.on} {dose.stage}: {dose.agent} ({dose.source})",
                    )
                )
        if therapy.day_zero is not None and axis.shows(therapy.day_zero):
            x = axis.x(therapy.day_zero)
            parts.append(
                f'<g class="day-zero"><line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 2:.1f}" '
                f'y2="{y + ROW_HEIGHT - 2:.1f}" '
                f'stroke="#000" stroke-width="2"/><text x="{x + 3:.1f}" y="{y + 9:.1f}">day 0</text>'
                f"<title>day 0: {therapy.day_zero} ({e(therapy.day_zero_source or '')})</title></g>"
            )
        if therapy.planned:
            parts.append(f'<text class="planned-note" x="{WIDTH - 60}" y="{y + 19:.1f}">planned</text>')
        parts.append("</g>")
        y += ROW_HEIGHT
    return parts, y


WINDOW_LANE = 16


def _window_lanes(view: TimelineView, axis: Axis) -> list[tuple[int, ImagingWindow]]:
    """Overlapping windows (CAR-T's day 0-28 and 21-35, say) each get a lane of their own."""
    lane_ends: list[date] = []
    placed = []
    shown = [w for w in view.windows if not (w.ends < axis.start or w.starts > axis.end)]
    for window in sorted(shown, key=lambda w: (w.starts, w.ends)):
        lane = next((n for n, end in enumerate(lane_ends) if end < window.starts), len(lane_ends))
        if lane == len(lane_ends):
            lane_ends.append(window.ends)
        else:
            lane_ends[lane] = window.ends
        placed.append((lane, window))
    return placed


def _window_row(view: TimelineView, axis: Axis, y: float) -> tuple[list[str], float]:
    placed = _window_lanes(view, axis)
    lanes = 1 + max((lane for lane, _ in placed), default=0)
    height = max(float(ROW_HEIGHT), 8 + lanes * WINDOW_LANE)
    parts = [_label(y + (height - ROW_HEIGHT) / 2, "Imaging windows")]
    for lane, window in placed:
        top = y + 4 + lane * WINDOW_LANE
        x0, x1 = axis.x(window.starts), axis.x(window.ends + timedelta(days=1))
        colour = INDICATOR_COLOURS.get(window.indicator, "#888")
        parts.append(
            f'<rect class="window" x="{x0:.1f}" y="{top:.1f}" width="{max(2.0, x1 - x0):.1f}" '
            f'height="{WINDOW_LANE - 3}" fill="{colour}" fill-opacity="0.25" stroke="{colour}">'
            f"<title>{e(window.window_id)}: {window.starts} to {window.ends}</title></rect>"
        )
        if x1 - x0 > 7 * len(window.window_id):
            parts.append(
                f'<text x="{x0 + 3:.1f}" y="{top + WINDOW_LANE - 6:.1f}">{e(window.window_id)}</text>'
            )
        if window.target is not None and axis.shows(window.target):
            x = axis.x(window.target)
            parts.append(
                f'<line class="window-target" x1="{x:.1f}" x2="{x:.1f}" y1="{top:.1f}" '
                f'y2="{top + WINDOW_LANE - 3:.1f}" stroke="{colour}" stroke-width="2"/>'
            )
    return parts, y + height


def _mri_row(view: TimelineView, axis: Axis, y: float) -> tuple[list[str], float]:
    parts = [_label(y, "Brain MRI")]
    cy = y + ROW_HEIGHT / 2
    for mri in view.brain_mris:
        if mri.on is None or not axis.shows(mri.on):
            continue
        x = axis.x(mri.on)
        fill = "#2e7d32" if mri.state == "done" else "#fff"
        parts.append(
            f'<path class="mri {e(mri.state)}" d="M{x:.1f},{cy - 6:.1f} L{x + 6:.1f},{cy:.1f} '
            f"L{x:.1f},{cy + 6:.1f} "
            f'L{x - 6:.1f},{cy:.1f} Z" fill="{fill}" stroke="#2e7d32" stroke-width="1.5">'
            f"<title>brain MRI {e(mri.state)} {mri.on} ({e(mri.source)})</title></path>"
        )
    return parts, y + ROW_HEIGHT


def _finding_row(view: TimelineView, axis: Axis, y: float) -> tuple[list[str], float]:
    parts = [_label(y, "Neurological findings")]
    cy = y + ROW_HEIGHT / 2 + 3
    last_label_x = -100.0
    for finding in view.findings:
        if not axis.shows(finding.on):
            continue
        x = axis.x(finding.on)
        # Findings days apart would print their grades on top of each other: raise every other one.
        label_y = cy - 4 if x - last_label_x > 18 else cy - 13
        last_label_x = x if label_y == cy - 4 else last_label_x
        colour = INDICATOR_COLOURS.get(finding.severity, "#888")
        grade = f"G{finding.grade}" if finding.grade is not None else ""
        parts.append(
            f'<g class="finding"><circle class="finding-mark {e(finding.severity)}" cx="{x:.1f}" '
            f'cy="{cy:.1f}" r="5" fill="{colour}"/>'
            f'<text class="grade" x="{x + 6:.1f}" y="{label_y:.1f}">{e(grade)}</text>'
            f"<title>{finding.on} {e(finding.display)} {e(grade)}: {e(finding.detail)} "
            f"({e(finding.source)})</title></g>"
        )
    return parts, y + ROW_HEIGHT


def _card_rows(view: TimelineView, axis: Axis, y: float) -> tuple[list[str], float]:
    parts: list[str] = []
    topics = sorted({day.topic for day in view.card_days})
    width = axis.day_width()
    for topic in topics:
        parts.append(_label(y, f"Card: {topic}", "card-label"))
        for day in view.card_days:
            if day.topic != topic or not axis.shows(day.on):
                continue
            colour = INDICATOR_COLOURS.get(day.indicator, "#888")
            parts.append(
                f'<rect class="card-day {e(day.indicator)}" x="{axis.x(day.on):.1f}" y="{y + 7:.1f}" '
                f'width="{width:.1f}" height="{ROW_HEIGHT - 14}" fill="{colour}">'
                f"<title>{day.on} {e(day.indicator)}: {e(day.summary)}</title></rect>"
            )
        y += ROW_HEIGHT
    return parts, y


def _axis(axis: Axis, y: float, top: float) -> list[str]:
    parts = [f'<line x1="{LABEL_WIDTH}" x2="{WIDTH - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#555"/>']
    month = date(axis.start.year, axis.start.month, 1)
    step = 1 if axis.days <= 200 else 2 if axis.days <= 400 else 3
    while month <= axis.end:
        if axis.start <= month and axis.x(month) < WIDTH - 50:  # no label cut off at the right edge
            x = axis.x(month)
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top:.1f}" y2="{y + 4:.1f}" stroke="#e0e0e0"/>'
                f'<text x="{x + 2:.1f}" y="{y + 16:.1f}">{month:%Y-%m}</text>'
            )
        total = month.month - 1 + step
        month = date(month.year + total // 12, total % 12 + 1, 1)
    return parts


def timeline_svg(view: TimelineView) -> str:
    axis = axis_for(view)
    rows: list[str] = []
    y = float(TOP)
    for build in (_therapy_rows, _window_row, _mri_row, _finding_row, _card_rows):
        parts, y = build(view, axis, y)
        rows.extend(parts)
    x0, x1 = axis.x(view.first_day), axis.x(view.last_day + timedelta(days=1))
    shade = (
        f'<rect class="range" x="{x0:.1f}" y="{TOP}" width="{max(2.0, x1 - x0):.1f}" height="{y - TOP:.1f}" '
        f'fill="#fff59d" fill-opacity="0.35"><title>evaluated: {view.first_day} to '
        f"{view.last_day}</title></rect>"
    )
    height = y + AXIS_HEIGHT
    return (
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" role="img" aria-label="Timeline of patient '
        f'{e(view.patient_id)}">' + "".join(_axis(axis, y, TOP)) + shade + "".join(rows) + "</svg>"
    )


@dataclass(frozen=True)
class CardRun:
    first: date
    last: date
    day: CardDay


def card_runs(days: list[CardDay]) -> list[CardRun]:
    """Consecutive days on which the same card (topic, indicator, summary) fires, as one run."""
    runs: list[CardRun] = []
    open_runs: dict[tuple[str, str, str], CardRun] = {}
    for day in sorted(days, key=lambda d: (d.on, d.topic)):
        key = (day.topic, day.indicator, day.summary)
        current = open_runs.get(key)
        if current is not None and current.last + timedelta(days=1) == day.on:
            open_runs[key] = CardRun(current.first, day.on, current.day)
            continue
        if current is not None:
            runs.append(current)
        open_runs[key] = CardRun(day.on, day.on, day)
    runs.extend(open_runs.values())
    return sorted(runs, key=lambda run: (run.first, run.day.topic))


def _cards_section(view: TimelineView) -> str:
    runs = card_runs(view.card_days)
    if not runs:
        return "<h2>Cards</h2><p>No card fires on any day of the range.</p>"
    items = []
    for run in runs:
        when = str(run.first) if run.first == run.last else f"{run.first} to {run.last}"
        items.append(
            f'<div class="card {e(run.day.indicator)}"><div class="note">{when} · {e(run.day.topic)} · '
            f'<span class="{e(run.day.indicator)}">{e(run.day.indicator.upper())}</span></div>'
            f"<b>{e(run.day.summary)}</b><pre>{markdown_text(run.day.detail)}</pre></div>"
        )
    return "<h2>Cards</h2>" + "".join(items)


def _unknown_dates(view: TimelineView) -> str:
    items = [
        f"<li>{e(therapy.label)}: {e(dose.stage)} {e(dose.agent)} ({e(dose.source)})</li>"
        for therapy in view.therapies
        for dose in therapy.doses
        if dose.on is None
    ]
    items += [
        f"<li>Brain MRI {e(mri.state)} ({e(mri.source)})</li>" for mri in view.brain_mris if mri.on is None
    ]
    if not items:
        return ""
    return '<h2>Recorded without a usable date</h2><ul class="unknown-dates">' + "".join(items) + "</ul>"


LEGEND = (
    '<p class="legend note"><span>● administered</span><span>■ ordered</span><span>○ planned</span>'
    "<span>| day 0</span><span>◆ brain MRI done</span><span>◇ brain MRI ordered</span>"
    '<span>G<i>n</i> ICANS grade</span><span style="background:#fff59d">evaluated range</span>'
    '<span class="critical">■ critical</span><span class="warning">■ warning</span><span class="info">■ '
    "info</span></p>"
)


def timeline_page(view: TimelineView, back_link: str | None = None) -> str:
    back = f'<p><a href="{e(back_link)}">Back to the report</a></p>' if back_link else ""
    when = str(view.first_day) if view.first_day == view.last_day else f"{view.first_day} to {view.last_day}"
    body = (
        f'{back}<h1>Patient {e(view.patient_id)}</h1><p class="sub">Cards as patient-view would answer them, '
        f"{when}</p>"
        f'{LEGEND}<div class="figure">{timeline_svg(view)}</div>{_cards_section(view)}{_unknown_dates(view)}'
    )
    return page(f"Timeline: patient {view.patient_id}", body)
