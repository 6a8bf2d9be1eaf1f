"""report.html: the committee's page. The headline units (cards per 100 patients per week, episodes,
patients with cards), rates by topic and indicator, the rules that drive the burden, cards per patient,
the counts over the range, order-time cards, every patient with a card (linked to their timelines),
and data quality."""

from __future__ import annotations

import math
from datetime import date

from timeline_view.html import INDICATORS, e, page, table
from timeline_view.words import ENGLISH, Words, words_for
from workbench.charts import grouped_bars, histogram, lines, stacked_bars
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


def _charts(summary: BurdenSummary, w: Words = ENGLISH) -> str:
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
                w["series.card_days"]: float(summary.by_rule[rule].card_days),
                w["series.episodes"]: float(summary.by_rule[rule].episodes),
                w["series.patients"]: float(summary.by_rule[rule].patients),
            },
        )
        for rule in summary.rules()
    ]
    labels = [w.day(day) for day in summary.plan.days()]
    without_card = summary.patients - summary.patients_with_cards()
    zero_bin = w.fill("chart.zero_bin", count=f"{without_card:,}")
    figures = [
        (
            w["chart.rate_title"],
            stacked_bars("chart-rate-by-topic", rate_rows, w["chart.rate_label"], w["chart.rate_axis"]),
            "",
        ),
        (
            w["chart.rule_title"],
            grouped_bars("chart-by-rule", rule_rows, w["chart.rule_label"], w["chart.count"]),
            "",
        ),
        (
            w["chart.per_patient_title"],
            histogram(
                "chart-cards-per-patient",
                _per_patient_bins(summary),
                w["chart.per_patient_label"],
                w["chart.per_patient_axis"],
                w["chart.patients"],
            ),
            f'<p class="note" id="zero-bin-note">{e(zero_bin)}</p>',
        ),
        (
            w["chart.over_time_title"],
            lines(
                "chart-over-time",
                labels,
                summary.day_series(),
                w["chart.cards_per_day"],
                y_label=w["chart.cards_per_day"],
                x_label=w["chart.date_axis"],
            ),
            "",
        ),
    ]
    legend = (
        f'<p class="legend note"><span class="critical">■ {e(w.indicator("critical"))}</span>'
        f'<span class="warning">■ {e(w.indicator("warning"))}</span>'
        f'<span class="info">■ {e(w.indicator("info"))}</span></p>'
    )
    return (
        legend
        + '<div class="figures">'
        + "".join(f'<div class="figure"><h3>{e(title)}</h3>{svg}{note}</div>' for title, svg, note in figures)
        + "</div>"
    )


def _rule_table(summary: BurdenSummary, w: Words = ENGLISH) -> str:
    if not summary.by_rule:
        return f"<p>{e(w['rules.none'])}</p>"
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
            [w["head.rule"], w["head.card_days"], w["head.episodes"], w["head.patients"], w["head.rate"]],
            rows,
            frozenset({1, 2, 3, 4}),
        )
        + "</div>"
    )


def _order_time(summary: BurdenSummary, w: Words = ENGLISH) -> str:
    text = e(w["order_time.text"]).format(
        hooks=f"<b>{e(', '.join(ORDER_HOOKS))}</b>",
        orders=f"{summary.orders_simulated:,}",
        cards=f"{summary.order_time_cards:,}",
        file="<code>order_cards.ndjson</code>",
    )
    head = f'<p id="order-time">{text}</p>'
    if not summary.order_time_by_rule:
        return head
    return head + table(
        [w["head.rule"], w["head.order_time_cards"]],
        [
            [f"<code>{e(rule)}</code>", f"{count:,}"]
            for rule, count in summary.order_time_by_rule.most_common()
        ],
        frozenset({1}),
    )


def _patient_table(summary: BurdenSummary, w: Words = ENGLISH) -> str:
    lines_ = summary.patient_rows()
    if not lines_:
        return f"<p>{e(w['patients.none'])}</p>"
    shown = lines_[:MAX_PATIENT_ROWS]
    body = table(
        [
            w["head.patient"],
            w["head.therapy"],
            w["head.topics"],
            w["head.first_day"],
            w["head.last_day"],
            w["head.card_days"],
            w["head.episodes"],
            w["head.worst"],
        ],
        [
            [
                f'<a class="patient-link" href="{e(line.page)}">{e(line.patient)}</a>'
                + (f' <span class="orphan">{e(w["patients.orphan"])}</span>' if line.orphan else ""),
                e(", ".join(line.therapies) or w["patients.no_therapy"]),
                e(", ".join(line.topics)),
                e(_day(line.first, w)),
                e(_day(line.last, w)),
                f"{line.card_days:,}",
                f"{line.episodes:,}",
                f'<span class="{e(line.worst)}">{e(w.indicator(line.worst))}</span>',
            ]
            for line in shown
        ],
        frozenset({5, 6}),
    )
    more_text = e(w["patients.more"]).format(
        count=f"{len(lines_) - len(shown):,}",
        patients_file="<code>patients.ndjson</code>",
        cards_file="<code>cards.ndjson</code>",
    )
    more = f'<p class="note">{more_text}</p>' if len(lines_) > len(shown) else ""
    return f'<div id="patients-with-cards">{body}</div>{more}'


def _counts_table(summary: BurdenSummary, w: Words = ENGLISH) -> str:
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
        [
            w["head.topic"],
            *(w.indicator(indicator).capitalize() for indicator in INDICATORS),
            w["head.card_days"],
            w["head.episodes"],
            w["head.per_100"],
        ],
        rows,
        frozenset({1, 2, 3, 4, 5, 6}),
    )


def _critical_table(summary: BurdenSummary, w: Words = ENGLISH) -> str:
    rows = summary.critical_rows()
    if not rows:
        return f"<p>{e(w['critical.none'])}</p>"
    shown = rows[:MAX_CRITICAL_ROWS]
    body = table(
        [w["head.patient"], w["head.critical_days"], w["head.first"], w["head.last"], w["head.topics"]],
        [
            [
                f'<a class="patient-link" href="{e(summary.pages[patient])}">{e(patient)}</a>',
                str(len(days)),
                e(_day(days[0], w)),
                e(_day(days[-1], w)),
                e(", ".join(topics)),
            ]
            for patient, days, topics in shown
        ],
        frozenset({1}),
    )
    more_text = e(w.fill("critical.more", count=len(rows) - len(shown)))
    more = f'<p class="note">{more_text}</p>' if len(rows) > len(shown) else ""
    return f'<div id="critical-patients">{body}</div>{more}'


def _quality(summary: BurdenSummary, validation: ValidationReport | None, w: Words = ENGLISH) -> str:
    quality = summary.quality
    parts = [f'<h2 id="data-quality">{e(w["heading.data_quality"])}</h2>']
    read = sum(quality.read.values())
    parts.append(
        f"<p>{e(w.fill('quality.read', read=f'{read:,}', skipped=f'{quality.skipped_total:,}'))}</p>"
    )
    parts.append(_problem_counts(summary, w))
    if quality.skipped:
        parts.append(
            table(
                [w["head.reason"], w["head.resources"], w["head.meaning"]],
                [
                    [e(reason), f"{count:,}", e(w.texts.get(f"skip.{reason}", ""))]
                    for reason, count in quality.skipped.most_common()
                ],
                frozenset({1}),
            )
        )
    if quality.unreadable_dates:
        parts.append(
            f'<h3>{e(w["quality.dates_heading"])}</h3><p class="note">{e(w["quality.dates_note"])}</p>'
            + table(
                [w["head.element"], w["head.resources"]],
                [[e(element), f"{count:,}"] for element, count in quality.unreadable_dates.most_common()],
                frozenset({1}),
            )
        )
    if quality.ignored_types:
        parts.append(
            '<p class="note">'
            + e(
                w.fill(
                    "quality.ignored",
                    types=", ".join(
                        f"{name} ({count:,})" for name, count in quality.ignored_types.most_common()
                    ),
                )
            )
            + "</p>"
        )
    if summary.errors:
        parts.append(
            f'<h3 class="critical">{e(w["quality.failed_heading"])}</h3>'
            + table(
                [w["head.error"], w["head.patients"]],
                [[e(name), str(count)] for name, count in summary.errors.most_common()],
                frozenset({1}),
            )
            + '<p class="note">'
            + e(", ".join(summary.failed_patients[:20]))
            + "</p>"
        )
    if validation is not None:
        parts.append(_validation(validation, w))
    return "".join(parts)


# The data-quality problems in the report's order; what each means is in timeline_view/words.py
# ("problem.<name>"), per language.
PROBLEMS: tuple[str, ...] = (
    "invalid_json",
    "missing_resource_type",
    "wrong_file",
    "duplicates",
    "orphan_references",
    "orphan_patient_ids",
    "undated",
    "unparseable_dates",
    "unrecognised_therapy_codes",
    "oversized_lines",
)


def _problem_counts(summary: BurdenSummary, w: Words = ENGLISH) -> str:
    quality = summary.data_quality()
    rows = [[e(key), f"{quality[key]:,}", e(w[f"problem.{key}"])] for key in PROBLEMS]
    encoding = quality["encoding_errors"]
    rows.append(
        [
            "encoding_errors",
            f"{sum(encoding.values()):,}",
            e(
                w.fill(
                    "quality.encoding",
                    files=", ".join(f"{name} ({count:,})" for name, count in encoding.items())
                    or w["quality.none"],
                )
            ),
        ]
    )
    rows.append(
        [
            "skipped_files",
            f"{len(quality['skipped_files']):,}",
            e(
                "; ".join(f"{item['file']}: {item['reason']}" for item in quality["skipped_files"])
                or w["quality.none"]
            ),
        ]
    )
    heads = [w["head.problem"], w["head.count"], w["head.meaning"]]
    parts = ['<div id="data-problems">' + table(heads, rows, frozenset({1}))]
    details = [
        f"{name}: {text}"
        for name, text in (
            *(
                (w.fill("quality.file_encoding", name=name), encoding_name)
                for name, encoding_name in quality["encodings"].items()
            ),
            *(
                (w.fill("quality.wrong_file", name=name), f"{count:,}")
                for name, count in quality["wrong_file_by_file"].items()
            ),
            *(
                (w.fill("quality.oversized", name=name), f"{count:,}")
                for name, count in quality["oversized_lines_by_file"].items()
            ),
        )
    ]
    if details:
        parts.append('<p class="note">' + e("; ".join(details)) + "</p>")
    top = quality["unrecognised_therapy_codes_most_frequent"]
    if top:
        parts.append(
            f"<h3>{e(w['quality.codes_heading'])}</h3>"
            f'<p class="note">{e(w["quality.codes_note"])}</p>'
            + table(
                [w["head.system"], w["head.code"], w["head.display"], w["head.records"]],
                [
                    [e(item["system"]), e(item["code"]), e(item["display"]), f"{item['records']:,}"]
                    for item in top
                ],
                frozenset({3}),
            )
        )
    parts.append("</div>")
    return "".join(parts)


def _validation(validation: ValidationReport, w: Words = ENGLISH) -> str:
    validated = sum(validation.validated.values())
    invalid = sum(validation.invalid.values())
    text = w.fill(
        "validation.text",
        validated=f"{validated:,}",
        per_type=f"{validation.per_type:,}",
        seed=validation.seed,
        invalid=f"{invalid:,}",
    )
    head = f'<h3 id="fhir-validation">{e(w["validation.heading"])}</h3><p>{e(text)}</p>'
    by_type = table(
        [w["head.resource_type"], w["head.resources"], w["head.validated"], w["head.not_conforming"]],
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
        [
            w["head.resource_type"],
            w["head.element"],
            w["head.problem"],
            w["head.resources"],
            w["head.example"],
        ],
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
        [w["head.resource_type"], w["head.id"], w["head.first_problem"]],
        [[e(kind), e(ident), e(problem)] for kind, ident, problem in validation.failures[:MAX_PROBLEM_ROWS]],
    )
    return (
        head
        + by_type
        + f'<h4>{e(w["validation.problems_heading"])}</h4><div id="validation-problems">{problems}</div>'
        + f'<h4>{e(w["validation.failures_heading"])}</h4><div id="validation-failures">{failures}</div>'
    )


def _day(text: str, w: Words) -> str:
    """An ISO day from the summary, written as the language writes dates (as given if not one)."""
    try:
        return w.day(date.fromisoformat(text))
    except ValueError:
        return text


def report_page(summary: BurdenSummary, validation: ValidationReport | None) -> str:
    """The report in the run's language (`BurdenPlan.language`; "de": German headings, table heads, axis
    titles, data-quality texts and dates as 04.12.2026). Codes (topics, rules, problem names) stay."""
    plan = summary.plan
    w = words_for(plan.language)
    when = w.span(plan.first_day, plan.last_day)
    stats = "".join(
        (
            _stat(f"{summary.patients:,}", w["stat.patients"]),
            _stat(f"{summary.exposed_patients:,}", w["stat.exposed"]),
            _stat(f"{summary.patients_with_cards():,}", w["stat.with_cards"]),
            _stat(f"{len(summary.critical):,}", w["stat.with_critical"]),
            _stat(f"{summary.cards:,}", w["stat.card_days"]),
            _stat(f"{summary.episodes:,}", w["stat.episodes"]),
            _stat(f"{summary.rate(summary.cards):,.2f}", w["stat.rate"]),
            _stat(f"{summary.rate(summary.cards, summary.exposed_patients):,.2f}", w["stat.rate_exposed"]),
            _stat(f"{summary.order_time_cards:,}", w["stat.order_time"]),
            _stat(f"{summary.quality.skipped_total:,}", w["stat.unreadable"]),
        )
    )
    sub = e(w["report.sub"]).format(
        source=f"<code>{e(summary.source)}</code>", when=e(when), days=summary.days
    )
    as_of = w.fill(
        "report.as_of",
        patients=f"{summary.patients:,}",
        days=summary.days,
        exposed=f"{summary.exposed_patients:,}",
    )
    files = e(w["report.files"]).format(
        patients_dir="<code>patients/</code>",
        cards_file="<code>cards.ndjson</code>",
        summary_file="<code>summary.json</code>",
    )
    body = (
        f"<h1>{e(w['report.heading'])}</h1>"
        f'<p class="sub">{sub}</p>'
        f'<div id="stats">{stats}</div>'
        f'<p class="note" id="as-of-note">{e(as_of)}</p>'
        f"<h2>{e(w['heading.cards'])}</h2>{_charts(summary, w)}{_counts_table(summary, w)}"
        f'<h2 id="by-rule">{e(w["heading.by_rule"])}</h2>{_rule_table(summary, w)}'
        f"<h2>{e(w['heading.order_time'])}</h2>{_order_time(summary, w)}"
        f"<h2>{e(w['heading.patients'])}</h2>{_patient_table(summary, w)}"
        f"<h2>{e(w['heading.critical'])}</h2>{_critical_table(summary, w)}"
        f"{_quality(summary, validation, w)}"
        f'<p class="note">{files}</p>'
    )
    return page(w["report.title"], body, language=w.language)
