"""report.html: the committee's page. The headline units (cards per 100 patients per week, episodes,
patients with cards), rates by topic and indicator, the rules that drive the burden, cards per patient,
the counts over the range, order-time cards, every patient with a card (linked to their timelines),
and data quality."""

from __future__ import annotations

import math

from timeline_view.html import INDICATORS, e, page, table
from workbench.charts import grouped_bars, histogram, lines, stacked_bars
from workbench.export import SKIP_REASONS
from workbench.summary import ORDER_HOOKS, BurdenSummary
from workbench.validation import ValidationReport

MAX_CRITICAL_ROWS = 500
MAX_PROBLEM_ROWS = 60
MAX_PATIENT_ROWS = 5000


def _stat(value: object, label: str) -> str:
    return f'<div class="stat"><b>{e(value)}</b>{e(label)}</div>'


def _per_patient_bins(summary: BurdenSummary) -> list[tuple[str, int]]:
    """Patients by card-days, without the zero bin (most patients have no card: it would flatten the
    rest; the report states how many it leaves out)."""
    counts = [count for count in summary.per_patient.values() if count]
    if not counts:
        return []
    largest = max(counts)
    width = max(1, math.ceil(largest / 8))
    bins: list[tuple[str, int]] = []
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
                indicator: summary.rate(summary.by_topic_indicator[(topic, indicator)])
                for indicator in INDICATORS
                if summary.by_topic_indicator[(topic, indicator)]
            },
        )
        for topic in summary.topics()
    ]
    rule_rows: list[tuple[str, dict[str, float]]] = [
        (
            rule,
            {
                "card-days": float(summary.by_rule[rule].card_days),
                "episodes": float(summary.by_rule[rule].episodes),
                "patients": float(summary.by_rule[rule].patients),
            },
        )
        for rule in summary.rules()
    ]
    labels = [day.isoformat() for day in summary.plan.days()]
    without_card = summary.patients - summary.patients_with_cards()
    figures = [
        (
            "Cards per 100 patients per week, by topic and indicator",
            stacked_bars(
                "chart-rate-by-topic",
                rate_rows,
                "cards per 100 patients per week",
                "card-days per 100 patients per week",
            ),
            "",
        ),
        (
            "By rule: card-days, episodes and patients",
            grouped_bars("chart-by-rule", rule_rows, "card-days, episodes and patients by rule", "count"),
            "",
        ),
        (
            "Card-days per patient (patients with at least one card)",
            histogram(
                "chart-cards-per-patient",
                _per_patient_bins(summary),
                "patients by card-days",
                "card-days per patient over the range",
                "patients",
            ),
            f'<p class="note" id="zero-bin-note">Not drawn: {without_card:,} patients with no card.</p>',
        ),
        (
            "Cards per day over the range, by indicator",
            lines("chart-over-time", labels, summary.day_series(), "cards per day"),
            "",
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
        + "".join(f'<div class="figure"><h3>{e(title)}</h3>{svg}{note}</div>' for title, svg, note in figures)
        + "</div>"
    )


def _rule_table(summary: BurdenSummary) -> str:
    if not summary.by_rule:
        return "<p>No rule fired on any day of the range.</p>"
    rows = [
        [
            f"<code>{e(rule)}</code>",
            f"{counts.card_days:,}",
            f"{counts.episodes:,}",
            f"{counts.patients:,}",
            f"{summary.rate(counts.card_days):,.2f}",
        ]
        for rule in summary.rules()
        for counts in (summary.by_rule[rule],)
    ]
    return (
        '<div id="rules">'
        + table(
            ["Rule", "Card-days", "Episodes", "Patients", "Card-days per 100 patients per week"],
            rows,
            frozenset({1, 2, 3, 4}),
        )
        + "</div>"
    )


def _order_time(summary: BurdenSummary) -> str:
    hooks = ", ".join(ORDER_HOOKS)
    head = (
        f'<p id="order-time">Hooks simulated besides patient-view: <b>{e(hooks)}</b>, at each therapy '
        "order's authoredOn within the range, with the chart as of the day before and the "
        "MedicationRequest itself as the draft order. "
        f"{summary.orders_simulated:,} orders simulated; {summary.order_time_cards:,} cards that only the "
        "order hook shows (not shown by patient-view that day). Not counted in the card-days above; "
        "listed in <code>order_cards.ndjson</code>.</p>"
    )
    if not summary.order_time_by_rule:
        return head
    return head + table(
        ["Rule", "Order-time cards"],
        [
            [f"<code>{e(rule)}</code>", f"{count:,}"]
            for rule, count in summary.order_time_by_rule.most_common()
        ],
        frozenset({1}),
    )


def _patient_table(summary: BurdenSummary) -> str:
    lines_ = summary.patient_rows()
    if not lines_:
        return "<p>No patient has a card on any day of the range.</p>"
    shown = lines_[:MAX_PATIENT_ROWS]
    body = table(
        ["Patient", "Therapy", "Topics", "First day", "Last day", "Card-days", "Episodes", "Worst"],
        [
            [
                f'<a class="patient-link" href="{e(line.page)}">{e(line.patient)}</a>'
                + (' <span class="orphan">(orphan: no Patient resource)</span>' if line.orphan else ""),
                e(", ".join(line.therapies) or "none on record"),
                e(", ".join(line.topics)),
                e(line.first),
                e(line.last),
                f"{line.card_days:,}",
                f"{line.episodes:,}",
                f'<span class="{e(line.worst)}">{e(line.worst)}</span>',
            ]
            for line in shown
        ],
        frozenset({5, 6}),
    )
    more = (
        f'<p class="note">{len(lines_) - len(shown):,} more in <code>patients.ndjson</code> and '
        "<code>cards.ndjson</code>.</p>"
        if len(lines_) > len(shown)
        else ""
    )
    return f'<div id="patients-with-cards">{body}</div>{more}'


def _counts_table(summary: BurdenSummary) -> str:
    rows = []
    for topic in summary.topics():
        cells = [e(topic)]
        for indicator in INDICATORS:
            count = summary.by_topic_indicator[(topic, indicator)]
            cells.append(f"{count:,}" if count else "")
        cells.append(f"{summary.by_topic[topic]:,}")
        cells.append(f"{summary.episodes_by_topic[topic]:,}")
        cells.append(f"{summary.rate(summary.by_topic[topic]):,.2f}")
        rows.append(cells)
    return table(
        ["Topic", "Critical", "Warning", "Info", "Card-days", "Episodes", "Per 100 patients per week"],
        rows,
        frozenset({1, 2, 3, 4, 5, 6}),
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
    parts.append(_problem_counts(summary))
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


PROBLEM_MEANINGS: tuple[tuple[str, str], ...] = (
    ("invalid_json", "lines that are not JSON (truncated, garbage): left out"),
    ("missing_resource_type", "JSON objects without a resourceType: left out"),
    ("wrong_file", "resources in the file of another type (an Observation in Condition.ndjson): read"),
    ("duplicates", "a resource type and id seen before: read once"),
    ("orphan_references", "resources naming a patient with no Patient resource: not in the denominator"),
    ("orphan_patient_ids", "patient ids named only by such resources (flagged on their timelines)"),
    ("undated", "clinical resources with no chart-entry date: seen from the first day"),
    ("unparseable_dates", "dates the rules read that cannot be parsed: the resource read, the date unknown"),
    ("unrecognised_therapy_codes", "medication records whose codes and texts match no catalog agent"),
    ("oversized_lines", "lines over the size cap (--max-line-mib): skipped, never read whole"),
)


def _problem_counts(summary: BurdenSummary) -> str:
    quality = summary.data_quality()
    rows = [[e(key), f"{quality[key]:,}", e(meaning)] for key, meaning in PROBLEM_MEANINGS]
    encoding = quality["encoding_errors"]
    rows.append(
        [
            "encoding_errors",
            f"{sum(encoding.values()):,}",
            e("lines not in their file's encoding, read as Latin-1; by file: ")
            + e(", ".join(f"{name} ({count:,})" for name, count in encoding.items()) or "none"),
        ]
    )
    rows.append(
        [
            "skipped_files",
            f"{len(quality['skipped_files']):,}",
            e("; ".join(f"{item['file']}: {item['reason']}" for item in quality["skipped_files"]) or "none"),
        ]
    )
    parts = ['<div id="data-problems">' + table(["Problem", "Count", "What it means"], rows, frozenset({1}))]
    details = [
        f"{name}: {text}"
        for name, text in (
            *((f"file {name}", encoding_name) for name, encoding_name in quality["encodings"].items()),
            *((f"wrong file {name}", f"{count:,}") for name, count in quality["wrong_file_by_file"].items()),
            *(
                (f"oversized in {name}", f"{count:,}")
                for name, count in quality["oversized_lines_by_file"].items()
            ),
        )
    ]
    if details:
        parts.append('<p class="note">' + e("; ".join(details)) + "</p>")
    top = quality["unrecognised_therapy_codes_most_frequent"]
    if top:
        parts.append(
            "<h3>Medication codes the therapy catalog does not recognise (most frequent 20)</h3>"
            '<p class="note">Every MedicationRequest, MedicationAdministration and MedicationStatement '
            "whose codes and texts match no agent of the catalog: most are other medicines; a therapy "
            "known here only by a local code is invisible to the rules until it is mapped.</p>"
            + table(
                ["System", "Code", "Display or text", "Records"],
                [
                    [e(item["system"]), e(item["code"]), e(item["display"]), f"{item['records']:,}"]
                    for item in top
                ],
                frozenset({3}),
            )
        )
    parts.append("</div>")
    return "".join(parts)


def _validation(validation: ValidationReport) -> str:
    validated = sum(validation.validated.values())
    invalid = sum(validation.invalid.values())
    head = (
        '<h3 id="fhir-validation">FHIR R4B validation</h3>'
        f"<p>{validated:,} resources of the types the rules read were validated against the FHIR R4B "
        f"models (fhir.resources): a random sample of up to {validation.per_type:,} per type, drawn "
        f"across every resource of the type (seed {validation.seed}); {invalid:,} do not conform. The "
        "service reads them anyway, defensively; this list is for the team that builds the export.</p>"
    )
    by_type = table(
        ["Resource type", "Resources", "Validated (sample)", "Not conforming"],
        [
            [e(name), f"{validation.available[name]:,}", f"{count:,}", f"{validation.invalid[name]:,}"]
            for name, count in sorted(validation.validated.items())
        ],
        frozenset({1, 2, 3}),
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
    failures = table(
        ["Resource type", "Id", "First problem"],
        [[e(kind), e(ident), e(problem)] for kind, ident, problem in validation.failures[:MAX_PROBLEM_ROWS]],
    )
    return (
        head
        + by_type
        + f'<h4>What does not conform</h4><div id="validation-problems">{problems}</div>'
        + f'<h4>The resources that failed</h4><div id="validation-failures">{failures}</div>'
    )


def report_page(summary: BurdenSummary, validation: ValidationReport | None) -> str:
    plan = summary.plan
    when = str(plan.first_day) if plan.first_day == plan.last_day else f"{plan.first_day} to {plan.last_day}"
    stats = "".join(
        (
            _stat(f"{summary.patients:,}", "patients"),
            _stat(f"{summary.exposed_patients:,}", "exposed patients"),
            _stat(f"{summary.patients_with_cards():,}", "patients with any card"),
            _stat(f"{len(summary.critical):,}", "patients with a critical card"),
            _stat(f"{summary.cards:,}", "card-days"),
            _stat(f"{summary.episodes:,}", "episodes"),
            _stat(f"{summary.rate(summary.cards):,.2f}", "cards per 100 patients per week"),
            _stat(
                f"{summary.rate(summary.cards, summary.exposed_patients):,.2f}",
                "cards per 100 exposed patients per week",
            ),
            _stat(f"{summary.order_time_cards:,}", "order-time cards"),
            _stat(f"{summary.quality.skipped_total:,}", "resources not readable"),
        )
    )
    body = (
        "<h1>Alert burden</h1>"
        '<p class="sub">What patient-view would answer for every patient of '
        f"<code>{e(summary.source)}</code>, "
        f"every day {e(when)} ({summary.days} days), evaluated at 12:00 UTC.</p>"
        f'<div id="stats">{stats}</div>'
        '<p class="note" id="as-of-note">Each day sees only what had entered the chart by then (no '
        "look-ahead). Statuses are as exported: an order stopped or entered in error later is seen with "
        "its final status on every day, because an export holds no history. A card-day is one card on "
        "one day; an episode is the same topic for the same patient on consecutive days, counted once. "
        f"Per 100 patients per week: card-days / ({summary.patients:,} patients x {summary.days} days) x "
        "700; exposed patients are those with a checkpoint inhibitor, CAR-T or T-cell engager on record "
        f"({summary.exposed_patients:,}).</p>"
        f"<h2>Cards</h2>{_charts(summary)}{_counts_table(summary)}"
        f'<h2 id="by-rule">By rule</h2>{_rule_table(summary)}'
        f"<h2>Order-time cards</h2>{_order_time(summary)}"
        f"<h2>Patients with cards</h2>{_patient_table(summary)}"
        f"<h2>Patients with critical cards</h2>{_critical_table(summary)}"
        f"{_quality(summary, validation)}"
        '<p class="note">Each patient\'s timeline is in <code>patients/</code>; every card is in '
        "<code>cards.ndjson</code>; the numbers are in <code>summary.json</code>.</p>"
    )
    return page("Alert burden report", body)
