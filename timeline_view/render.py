"""A patient's timeline page: therapies (planned, day 0, doses, ongoing), imaging windows, neurological
findings with grades, brain MRIs done and ordered, and the days each card would fire, as one SVG, with
the card texts below it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from timeline_view.html import INDICATOR_COLOURS, e, markdown_text, page
from timeline_view.model import CardDay, ImagingWindow, TimelineView
from timeline_view.words import ENGLISH, Words, words_for

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


def _therapy_rows(view: TimelineView, axis: Axis, y: float, w: Words = ENGLISH) -> tuple[list[str], float]:
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
                f'height="{ROW_HEIGHT - 18}" fill="#b0bec5" rx="3"><title>'
                + e(
                    w.fill(
                        "course_title",
                        therapy=therapy.label,
                        agents=agents,
                        first=w.day(bar_start),
                        last=w["ongoing"] if therapy.ongoing else w.day(bar_end),
                    )
                )
                + "</title></rect>"
            )
        for dose in therapy.doses:
            if dose.on is not None and axis.shows(dose.on):
                parts.append(
                    _dose_mark(
                        axis.x(dose.on),
                        y,
                        dose.stage,
                        f"{w.day(dose.on)} {w.texts.get('stage.' + dose.stage, dose.stage)}: {dose.agent} "
                        f"({dose.source})",
                    )
                )
        if therapy.day_zero is not None and axis.shows(therapy.day_zero):
            x = axis.x(therapy.day_zero)
            source = therapy.day_zero_source or ""
            zero_title = w.fill("day_zero_title", date=w.day(therapy.day_zero), source=source)
            parts.append(
                f'<g class="day-zero"><line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 2:.1f}" '
                f'y2="{y + ROW_HEIGHT - 2:.1f}" '
                f'stroke="#000" stroke-width="2"/><text x="{x + 3:.1f}" y="{y + 9:.1f}">'
                f"{e(w['day_zero'])}</text><title>{e(zero_title)}</title></g>"
            )
        if therapy.planned:
            parts.append(
                f'<text class="planned-note" x="{WIDTH - 60}" y="{y + 19:.1f}">{e(w["planned_note"])}</text>'
            )
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


def _window_row(view: TimelineView, axis: Axis, y: float, w: Words = ENGLISH) -> tuple[list[str], float]:
    placed = _window_lanes(view, axis)
    lanes = 1 + max((lane for lane, _ in placed), default=0)
    height = max(float(ROW_HEIGHT), 8 + lanes * WINDOW_LANE)
    parts = [_label(y + (height - ROW_HEIGHT) / 2, w["lane.imaging_windows"])]
    for lane, window in placed:
        top = y + 4 + lane * WINDOW_LANE
        x0, x1 = axis.x(window.starts), axis.x(window.ends + timedelta(days=1))
        title = w.fill(
            "window_title", window=window.window_id, first=w.day(window.starts), last=w.day(window.ends)
        )
        colour = INDICATOR_COLOURS.get(window.indicator, "#888")
        parts.append(
            f'<rect class="window" x="{x0:.1f}" y="{top:.1f}" width="{max(2.0, x1 - x0):.1f}" '
            f'height="{WINDOW_LANE - 3}" fill="{colour}" fill-opacity="0.25" stroke="{colour}">'
            f"<title>{e(title)}</title></rect>"
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


def _mri_row(view: TimelineView, axis: Axis, y: float, w: Words = ENGLISH) -> tuple[list[str], float]:
    parts = [_label(y, w["lane.brain_mri"])]
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
            f"<title>{e(_mri_text(mri.state, mri.on, mri.source, w))}</title></path>"
        )
    return parts, y + ROW_HEIGHT


GRADE_LABEL_WIDTH = 20  # px a "G4" label takes, with a gap
GRADE_LEVEL = 11  # px between stacked label levels


def grade_label_levels(xs: list[float]) -> list[int]:
    """A level per label (0 lowest) so that labels on one level are at least GRADE_LABEL_WIDTH apart:
    findings days apart never print their grades on top of each other, however many there are."""
    level_ends: list[float] = []
    levels: list[int] = []
    for x in xs:
        level = next((n for n, end in enumerate(level_ends) if x - end >= GRADE_LABEL_WIDTH), len(level_ends))
        if level == len(level_ends):
            level_ends.append(x)
        else:
            level_ends[level] = x
        levels.append(level)
    return levels


def _finding_row(view: TimelineView, axis: Axis, y: float, w: Words = ENGLISH) -> tuple[list[str], float]:
    shown = sorted((f for f in view.findings if axis.shows(f.on)), key=lambda f: f.on)
    labelled = [f for f in shown if f.grade is not None]
    levels = grade_label_levels([axis.x(f.on) for f in labelled])
    level_of = {id(f): level for f, level in zip(labelled, levels, strict=True)}
    extra = GRADE_LEVEL * max(levels, default=0)
    height = ROW_HEIGHT + extra
    parts = [_label(y + extra / 2, w["lane.findings"])]
    cy = y + extra + ROW_HEIGHT / 2 + 3
    for finding in shown:
        x = axis.x(finding.on)
        colour = INDICATOR_COLOURS.get(finding.severity, "#888")
        grade = f"G{finding.grade}" if finding.grade is not None else ""
        label = ""
        if grade:
            label_y = cy - 4 - GRADE_LEVEL * level_of[id(finding)]
            label = f'<text class="grade" x="{x + 6:.1f}" y="{label_y:.1f}">{e(grade)}</text>'
        parts.append(
            f'<g class="finding"><circle class="finding-mark {e(finding.severity)}" cx="{x:.1f}" '
            f'cy="{cy:.1f}" r="5" fill="{colour}"/>{label}'
            f"<title>{e(w.day(finding.on))} {e(finding.display)} {e(grade)}: {e(finding.detail)} "
            f"({e(finding.source)})</title></g>"
        )
    return parts, y + height


def _card_rows(view: TimelineView, axis: Axis, y: float, w: Words = ENGLISH) -> tuple[list[str], float]:
    parts: list[str] = []
    runs = card_runs(view.card_days)
    for topic in sorted({run.topic for run in runs}):
        parts.append(_label(y, w.fill("lane.card", topic=topic), "card-label"))
        for run in runs:
            if run.topic != topic or run.last < axis.start or run.first > axis.end:
                continue
            colour = INDICATOR_COLOURS.get(run.indicator, "#888")
            x0, x1 = axis.x(run.first), axis.x(run.last) + axis.day_width()
            parts.append(
                f'<rect class="card-day {e(run.indicator)}" x="{x0:.1f}" y="{y + 7:.1f}" '
                f'width="{max(1.5, x1 - x0):.1f}" height="{ROW_HEIGHT - 14}" fill="{colour}">'
                "<title>"
                + e(
                    w.fill(
                        "card_run_title",
                        first=w.day(run.first),
                        last=w.day(run.last),
                        days=run.days,
                        rule=run.rule,
                        summary=run.summary,
                    )
                )
                + "</title></rect>"
            )
        y += ROW_HEIGHT
    return parts, y


def _axis(axis: Axis, y: float, top: float, w: Words = ENGLISH) -> list[str]:
    parts = [f'<line x1="{LABEL_WIDTH}" x2="{WIDTH - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#555"/>']
    month = date(axis.start.year, axis.start.month, 1)
    step = 1 if axis.days <= 200 else 2 if axis.days <= 400 else 3
    while month <= axis.end:
        if axis.start <= month and axis.x(month) < WIDTH - 50:  # no label cut off at the right edge
            x = axis.x(month)
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top:.1f}" y2="{y + 4:.1f}" stroke="#e0e0e0"/>'
                f'<text x="{x + 2:.1f}" y="{y + 16:.1f}">{w.month(month)}</text>'
            )
        total = month.month - 1 + step
        month = date(month.year + total // 12, total % 12 + 1, 1)
    return parts


def timeline_svg(view: TimelineView, w: Words = ENGLISH) -> str:
    axis = axis_for(view)
    rows: list[str] = []
    y = float(TOP)
    for build in (_therapy_rows, _window_row, _mri_row, _finding_row, _card_rows):
        parts, y = build(view, axis, y, w)
        rows.extend(parts)
    x0, x1 = axis.x(view.first_day), axis.x(view.last_day + timedelta(days=1))
    evaluated = w.fill("evaluated_title", first=w.day(view.first_day), last=w.day(view.last_day))
    shade = (
        f'<rect class="range" x="{x0:.1f}" y="{TOP}" width="{max(2.0, x1 - x0):.1f}" height="{y - TOP:.1f}" '
        f'fill="#fff59d" fill-opacity="0.35"><title>{e(evaluated)}</title></rect>'
    )
    height = y + AXIS_HEIGHT
    return (
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" role="img" '
        f'aria-label="{e(w.fill("timeline_label", patient=view.patient_id))}">'
        + "".join(_axis(axis, y, TOP, w))
        + shade
        + "".join(rows)
        + "</svg>"
    )


@dataclass(frozen=True)
class CardRun:
    """The same card (topic and rule) on consecutive days: one run, its strongest indicator, the last
    day's wording, and the evidence of every day."""

    first: date
    last: date
    topic: str
    rule: str
    indicator: str
    summary: str
    detail: str
    evidence: tuple[str, ...]

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


_RANK = {"info": 0, "warning": 1, "critical": 2}


def card_runs(days: list[CardDay]) -> list[CardRun]:
    """Consecutive days on which the same card (topic and rule) fires, as one run."""
    runs: list[CardRun] = []
    open_runs: dict[tuple[str, str], CardRun] = {}
    for day in sorted(days, key=lambda d: (d.on, d.topic, d.rule)):
        key = (day.topic, day.rule)
        current = open_runs.get(key)
        if current is not None and current.last + timedelta(days=1) >= day.on:
            worst = max(current.indicator, day.indicator, key=lambda name: _RANK.get(name, 0))
            evidence = tuple(dict.fromkeys((*current.evidence, *day.evidence)))
            open_runs[key] = CardRun(
                current.first, day.on, day.topic, day.rule, worst, day.summary, day.detail, evidence
            )
            continue
        if current is not None:
            runs.append(current)
        open_runs[key] = CardRun(
            day.on, day.on, day.topic, day.rule, day.indicator, day.summary, day.detail, day.evidence
        )
    runs.extend(open_runs.values())
    return sorted(runs, key=lambda run: (run.first, run.topic, run.rule))


def describe_evidence(part: str, w: Words = ENGLISH) -> str:
    """One `clinical.acknowledgements.evidence_parts` item in words."""
    kind, *fields = part.split("|")
    if kind == "finding" and len(fields) == 5:
        what, on, source, grade, certainty = fields
        graded = w.fill("evidence.grade", grade=grade) if grade else ""
        suspected = w["evidence.suspected"] if certainty == "suspected" else ""
        return f"{source} {_iso_day(on, w)}: {what}{graded}{suspected}"
    if kind == "score" and len(fields) == 3:
        return w.fill("evidence.score", name=fields[0].upper(), score=fields[1], date=_iso_day(fields[2], w))
    if kind == "plan" and len(fields) == 2:
        return w.fill("evidence.plan", what=fields[1], kind=fields[0])
    if kind == "start" and fields and fields[0]:
        return w.fill("evidence.start", date=_iso_day(fields[0], w))
    if kind == "window" and len(fields) == 3:
        day_zero = _iso_day(fields[2], w) if fields[2] else w["unknown"]
        return w.fill("evidence.window", window=fields[0], therapy=fields[1], day_zero=day_zero)
    if kind == "iupd" and fields:
        return w.fill("evidence.iupd", date=_iso_day(fields[0], w))
    return ""


def _iso_day(text: str, w: Words) -> str:
    """An ISO date from an evidence key, written as the language writes dates (as given if not one)."""
    try:
        return w.day(date.fromisoformat(text[:10]))
    except ValueError:
        return text


def _mri_text(state: str, on: date | None, source: str, w: Words) -> str:
    return w.fill("brain_mri_title", state=w.texts.get(f"mri.{state}", state), date=w.day(on), source=source)


def _behind(run: CardRun, view: TimelineView, w: Words = ENGLISH) -> str:
    items = [text for text in (describe_evidence(part, w) for part in run.evidence) if text]
    studies = [mri for mri in view.brain_mris if mri.on is not None and mri.on <= run.last]
    items += [_mri_text(mri.state, mri.on, mri.source, w) for mri in studies[-2:]]
    if not items:
        return ""
    return '<ul class="behind">' + "".join(f"<li>{e(item)}</li>" for item in items) + "</ul>"


def therapy_days(run: CardRun, w: Words = ENGLISH) -> str:
    """ "day 29-90" after the day 0 of the window the run counts in (its evidence), or ""."""
    for part in run.evidence:
        kind, *fields = part.split("|")
        if kind != "window" or len(fields) != 3 or not fields[2]:
            continue
        try:
            day_zero = date.fromisoformat(fields[2])
        except ValueError:
            continue
        first, last = (run.first - day_zero).days, (run.last - day_zero).days
        if first == last:
            return w.fill("therapy_day", first=first)
        return w.fill("therapy_days", first=first, last=last)
    return ""


def _run_item(run: CardRun, view: TimelineView, css: str = "card", w: Words = ENGLISH) -> str:
    when = w.span(run.first, run.last)
    days = therapy_days(run, w)
    when = f"{days}: {when}" if days else when
    return (
        f'<div class="{css} {e(run.indicator)}"><div class="note">{e(when)} ({e(w.days(run.days))}) · '
        f"<code>{e(run.rule or run.topic)}</code> · {e(run.topic)} · "
        f'<span class="{e(run.indicator)}">{e(w.indicator(run.indicator).upper())}</span></div>'
        f"<b>{e(run.summary)}</b><pre>{markdown_text(run.detail)}</pre>{_behind(run, view, w)}</div>"
    )


def _cards_section(view: TimelineView, w: Words = ENGLISH) -> str:
    runs = card_runs(view.card_days)
    order_runs = card_runs(view.order_cards)
    order = ""
    if order_runs:
        order = f'<h2 id="order-time-cards">{e(w["cards.order_heading"])}</h2>' + "".join(
            _run_item(run, view, "card order-card", w) for run in order_runs
        )
    if not runs:
        return f"<h2>{e(w['cards.heading'])}</h2><p>{e(w['cards.none'])}</p>" + order
    head = f'<h2>{e(w["cards.heading"])}</h2><p class="note">{e(w["cards.runs_note"])}</p>'
    return head + "".join(_run_item(run, view, w=w) for run in runs) + order


def _unknown_dates(view: TimelineView, w: Words = ENGLISH) -> str:
    items = [
        f"<li>{e(therapy.label)}: {e(w.texts.get('stage.' + dose.stage, dose.stage))} {e(dose.agent)} "
        f"({e(dose.source)})</li>"
        for therapy in view.therapies
        for dose in therapy.doses
        if dose.on is None
    ]
    items += [
        f"<li>{e(w['lane.brain_mri'])} {e(w.texts.get('mri.' + mri.state, mri.state))} ({e(mri.source)})</li>"
        for mri in view.brain_mris
        if mri.on is None
    ]
    if not items:
        return ""
    return f'<h2>{e(w["undated.heading"])}</h2><ul class="unknown-dates">' + "".join(items) + "</ul>"


def legend(w: Words = ENGLISH) -> str:
    return (
        f'<p class="legend note"><span>● {e(w["legend.administered"])}</span>'
        f"<span>■ {e(w['legend.ordered'])}</span><span>○ {e(w['legend.planned'])}</span>"
        f"<span>| {e(w['legend.day_zero'])}</span><span>◆ {e(w['legend.mri_done'])}</span>"
        f"<span>◇ {e(w['legend.mri_ordered'])}</span>"
        f"<span>G<i>n</i> {e(w['legend.grade'])}</span>"
        f'<span style="background:#fff59d">{e(w["legend.range"])}</span>'
        f'<span class="critical">■ {e(w.indicator("critical"))}</span>'
        f'<span class="warning">■ {e(w.indicator("warning"))}</span>'
        f'<span class="info">■ {e(w.indicator("info"))}</span></p>'
    )


def _therapy_days(view: TimelineView, w: Words) -> str:
    items = [
        w.fill(
            "today.therapy_day_item",
            therapy=therapy.label,
            day=f"{(view.last_day - therapy.day_zero).days:+d}",
            day_zero=w.day(therapy.day_zero),
        )
        for therapy in view.therapies
        if therapy.day_zero is not None and therapy.day_zero <= view.last_day
    ]
    if not items:
        return ""
    heading = f"<b>{e(w['today.therapy_day'])}</b>"
    return f'<p class="therapy-day">{heading}: ' + "; ".join(e(item) for item in items) + "</p>"


def _today_card(card: CardDay, w: Words) -> str:
    # The anchor a card link's appContext opens the page at (#card-<topic>).
    indicator = w.indicator(card.indicator)
    return (
        f'<div class="card today {e(card.indicator)}" id="card-{e(card.topic)}"><div class="note">'
        f'{e(card.topic)} · <span class="{e(card.indicator)}">{e(indicator.upper())}</span></div>'
        f"<b>{e(card.summary)}</b><pre>{markdown_text(card.detail)}</pre></div>"
    )


def todays_cards(view: TimelineView, w: Words = ENGLISH) -> str:
    """The live view's first section: the therapy day and the cards the service answers now."""
    if view.today_cards is None:
        return ""
    cards = "".join(_today_card(card, w) for card in view.today_cards) or f"<p>{e(w['today.none'])}</p>"
    heading = f"<h2>{e(w['today.heading'])}</h2>"
    return f'<section id="todays-cards">{heading}{_therapy_days(view, w)}{cards}</section>'


LEGEND = legend()


def timeline_page(view: TimelineView, back_link: str | None = None, *, language: str = "en") -> str:
    """The patient's page in `language` ("de": German headings, lanes and dates as 04.12.2026); the
    texts from the record and the cards are shown as written."""
    w = words_for(language)
    back = f'<p><a href="{e(back_link)}">{e(w["timeline.back"])}</a></p>' if back_link else ""
    when = w.span(view.first_day, view.last_day)
    orphan = (
        f'<p class="critical orphan-flag" id="orphan">{e(w["timeline.orphan"])}</p>' if view.orphan else ""
    )
    body = (
        f"{back}<h1>{e(w.fill('timeline.heading', patient=view.patient_id))}</h1>{orphan}"
        f'<p class="sub">{e(w.fill("timeline.sub", when=when))}</p>{todays_cards(view, w)}'
        f'{legend(w)}<div class="figure">{timeline_svg(view, w)}</div>{_cards_section(view, w)}'
        f"{_unknown_dates(view, w)}"
    )
    return page(w.fill("timeline.title", patient=view.patient_id), body, language=w.language)
