"""report.html: the committee's page. Rates by topic and indicator, cards per patient, the counts over
the range, the patients with critical cards (linked to their timelines), and data quality."""

from __future__ import annotations

import math

from service.workbench.charts import histogram, lines, stacked_bars
from service.workbench.export import SKIP_REASONS
from service.workbench.html import INDICATORS, e, page, table
from service.workbench.summary import BurdenSummary, per_thousand
from service.workbench.validation import ValidationReport

MAX_CRITICAL_ROWS = 500
MAX_PROBLEM_ROWS = 60


def _stat(value: object, label: str) -> str:
    return f'<div class="stat"><b>{e(value)}</b>{e(label)}</div>'


def _per_patient_bins(summary: BurdenSummary) -> list[tuple[str, int]]:
    counts = list(summary.per_patient.values())
    if not counts:
        return []
    largest = max(counts)
    width = max(1, math.ceil(largest / 8))
    bins: list[tuple[str, int]] = [("0", sum(1 for count in counts if count == 0))]
    low = 1
    while low <= largest:
        high = low + width - 1
        label = str(low) if low == high else f"{low}-{high}"
        bins.append((label, sum(1 for count in counts if low <= count <= high)))
        low = high + 1
    return bins


def _charts(summary: BurdenSummary) -> str:
    rate_rows = [
        (
            topic,
            {
                indicator: per_thousand(summary.by_topic_indicator[(topic, indicator)], summary.patient_days)
                for indicator in INDICATORS
                if summary.by_topic_indicator[(topic, indicator)]
            },
        )
        for topic in summary.topics()
    ]
    labels = [day.isoformat()[5:] for day in summary.plan.days()]
    figures = [
        (
            "Cards per 1,000 patient-days, by topic and indicator",
            stacked_bars(
                "chart-rate-by-topic", rate_rows, "cards per 1,000 patient-days", "per 1,000 patient-days"
            ),
        ),
        (
            "Cards per patient over the range",
            histogram(
                "chart-cards-per-patient",
                _per_patient_bins(summary),
                "patients by card count",
                "cards per patient",
            ),
        ),
        (
            "Cards per day over the range, by indicator",
            lines("chart-over-time", labels, summary.day_series(), "cards per day"),
        ),
    ]
    legend = (
        '<p class="legend note"><span class="critical">■ critical</span><span class="warning">■ '
        "warning</span>"
        '<span class="info">■ info</span></p>'
    )
    return (
        legend
        + '<div class="figures">'
        + "".join(f'<div class="figure"><h3>{e(title)}</h3>{svg}</div>' for title, svg in figures)
        + "</div>"
    )


def _counts_table(summary: BurdenSummary) -> str:
    rows = []
    for topic in summary.topics():
        cells = [e(topic)]
        for indicator in INDICATORS:
            count = summary.by_topic_indicator[(topic, indicator)]
            cells.append(f"{count:,}" if count else "")
        cells.append(f"{summary.by_topic[topic]:,}")
        cells.append(f"{per_thousand(summary.by_topic[topic], summary.patient_days):,.2f}")
        rows.append(cells)
    return table(
        ["Topic", "Critical", "Warning", "Info", "Cards", "Per 1,000 patient-days"],
        rows,
        frozenset({1, 2, 3, 4, 5}),
    )


def _critical_table(summary: BurdenSummary) -> str:
    rows = summary.critical_rows()
    if not rows:
        return "<p>No patient has a critical card on any day of the range.</p>"
    shown = rows[:MAX_CRITICAL_ROWS]
    body = table(
        ["Patient", "Days with a critical card", "First", "Last", "Topics"],
        [
            [
                f'<a class="patient-link" href="{e(summary.pages[patient])}">{e(patient)}</a>',
                str(len(days)),
                e(days[0]),
                e(days[-1]),
                e(", ".join(topics)),
            ]
            for patient, days, topics in shown
        ],
        frozenset({1}),
    )
    more = f'<p class="note">{len(rows) - len(shown)} more not listed.</p>' if len(rows) > len(shown) else ""
    return f'<div id="critical-patients">{body}</div>{more}'


def _quality(summary: BurdenSummary, validation: ValidationReport | None) -> str:
    quality = summary.quality
    parts = ['<h2 id="data-quality">Data quality</h2>']
    read = sum(quality.read.values())
    parts.append(
        f"<p>{read:,} resources read; {quality.skipped_total:,} could not be read and were left out.</p>"
    )
    if quality.skipped:
        parts.append(
            table(
                ["Reason", "Resources", "What it means"],
                [
                    [e(reason), f"{count:,}", e(SKIP_REASONS.get(reason, ""))]
                    for reason, count in quality.skipped.most_common()
                ],
                frozenset({1}),
            )
        )
    if quality.unreadable_dates:
        parts.append(
            '<h3>Dates the rules read that cannot be parsed</h3><p class="note">The resource is read; '
            "its date is read as unknown.</p>"
            + table(
                ["Element", "Resources"],
                [[e(element), f"{count:,}"] for element, count in quality.unreadable_dates.most_common()],
                frozenset({1}),
            )
        )
    if quality.ignored_types:
        parts.append(
            '<p class="note">Resource types the rules do not read (ignored): '
            + e(", ".join(f"{name} ({count:,})" for name, count in quality.ignored_types.most_common()))
            + "</p>"
        )
    if summary.errors:
        parts.append(
            '<h3 class="critical">Patients whose evaluation failed</h3>'
            + table(
                ["Error", "Patients"],
                [[e(name), str(count)] for name, count in summary.errors.most_common()],
                frozenset({1}),
            )
            + '<p class="note">'
            + e(", ".join(summary.failed_patients[:20]))
            + "</p>"
        )
    if validation is not None:
        parts.append(_validation(validation))
    return "".join(parts)


def _validation(validation: ValidationReport) -> str:
    validated = sum(validation.validated.values())
    invalid = sum(validation.invalid.values())
    head = (
        '<h3 id="fhir-validation">FHIR R4B validation</h3>'
        f"<p>{validated:,} resources of the types the rules read were validated against the FHIR R4B "
        f"models (fhir.resources), a sample of each type; {invalid:,} do not conform. The service reads "
        "them anyway, defensively; this list is for the team that builds the export.</p>"
    )
    by_type = table(
        ["Resource type", "Validated", "Not conforming"],
        [
            [e(name), f"{count:,}", f"{validation.invalid[name]:,}"]
            for name, count in sorted(validation.validated.items())
        ],
        frozenset({1, 2}),
    )
    ranked = validation.ranked()
    if not ranked:
        return head + by_type
    problems = table(
        ["Resource type", "Element", "Problem", "Resources", "Example"],
        [
            [
                e(problem.resource_type),
                f"<code>{e(problem.element)}</code>",
                e(f"{problem.message} ({problem.problem})"),
                f"{count:,}",
                e(validation.examples.get(problem, "")),
            ]
            for problem, count in ranked[:MAX_PROBLEM_ROWS]
        ],
        frozenset({3}),
    )
    return head + by_type + f'<h4>What does not conform</h4><div id="validation-problems">{problems}</div>'


def report_page(summary: BurdenSummary, validation: ValidationReport | None) -> str:
    plan = summary.plan
    when = str(plan.first_day) if plan.first_day == plan.last_day else f"{plan.first_day} to {plan.last_day}"
    stats = "".join(
        (
            _stat(f"{summary.patients:,}", "patients"),
            _stat(f"{summary.patient_days:,}", "patient-days"),
            _stat(f"{summary.cards:,}", "cards"),
            _stat(
                f"{per_thousand(summary.cards, summary.patient_days):,.1f}", "cards per 1,000 patient-days"
            ),
            _stat(f"{len(summary.critical):,}", "patients with a critical card"),
            _stat(f"{summary.quality.skipped_total:,}", "resources not readable"),
        )
    )
    body = (
        "<h1>Alert burden</h1>"
        '<p class="sub">What patient-view would answer for every patient of '
        f"<code>{e(summary.source)}</code>, "
        f"every day {e(when)} ({summary.days} days), evaluated at 12:00 UTC.</p>"
        f'<div id="stats">{stats}</div>'
        f"<h2>Cards</h2>{_charts(summary)}{_counts_table(summary)}"
        f"<h2>Patients with critical cards</h2>{_critical_table(summary)}"
        f"{_quality(summary, validation)}"
        '<p class="note">Each patient\'s timeline is in <code>patients/</code>; every card is in '
        "<code>cards.ndjson</code>; the numbers are in <code>summary.json</code>.</p>"
    )
    return page("Alert burden report", body)
