"""`immuno-cds evaluate`: the cards one patient gets on one day, as the service would answer them."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.cli.common import HOOKS, PROG, CliError, load_settings, parse_now, read_bundle
from service.cli.inputs import SCENARIOS_FILE, choose_patient, find_scenario, read_input, scenario_moment

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from workbench.clinical_adapter import Evaluator, PatientRecord
    from workbench.export import Cohort

INDICATOR_STYLES = {"critical": "red", "warning": "yellow", "info": "blue"}
# A record whose newest date is older than this, evaluated with no card, gets a hint about --now.
STALE_RECORD_DAYS = 90


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input",
        metavar="INPUT",
        help=(
            "the patient's data: a FHIR Bundle (.json), an NDJSON file (.ndjson), a Bulk Data export "
            "folder, or the name of a scenario in fhir_fixtures/scenarios.yaml"
        ),
    )
    parser.add_argument("--draft-orders", metavar="FILE", help="a FHIR Bundle of draft orders")
    parser.add_argument(
        "--hook", choices=HOOKS, help="default: order-sign with --draft-orders, else patient-view"
    )
    parser.add_argument(
        "--now",
        help="evaluation time, ISO 8601 date or date-time (default: a scenario's own moment, else now)",
    )
    parser.add_argument("--patient-id", help="default: the input's only patient")
    parser.add_argument("--user-id", default="Practitioner/cli", help="the user the cards are for")
    parser.add_argument("--encounter-id", help="the encounter in context, if any")
    parser.add_argument(
        "--language",
        choices=("en", "de"),
        default="en",
        help="the language of the cards (default en; de: German, dates as 04.12.2026)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--html", metavar="FILE", help="also write the patient's timeline page to FILE")


def choose_hook(requested: str | None, has_draft_orders: bool) -> str:
    hook = requested or ("order-sign" if has_draft_orders else "patient-view")
    if hook == "patient-view" and has_draft_orders:
        raise CliError("patient-view takes no draft orders; use --hook order-select or order-sign")
    return hook


def run(args: argparse.Namespace) -> int:
    from clinical.fhir_data import bundle_resources
    from workbench import clinical_adapter as clinical

    scenario = find_scenario(args.input)
    path = SCENARIOS_FILE.parent / scenario["file"] if scenario else Path(args.input)
    cohort = read_input(path)
    if args.draft_orders:
        draft_orders = bundle_resources(read_bundle(Path(args.draft_orders), "draft orders"))
    else:
        draft_orders = list(scenario.get("draft_orders") or []) if scenario else []
    hook = choose_hook(args.hook or (scenario["hook"] if scenario else None), bool(draft_orders))
    patient_id = choose_patient(cohort, args.patient_id)
    # A scenario is dated relative to its own moment: evaluated today it would mostly say nothing.
    now = scenario_moment(scenario) if scenario and args.now is None else parse_now(args.now)
    settings = load_settings()
    record = clinical.build_record(patient_id, cohort.patients[patient_id], cohort.medications)
    evaluator = clinical.load_evaluator(settings.knowledge_dir, settings.cards_dir)
    cards = clinical.cards_for(
        evaluator,
        record,
        draft_orders,
        now=now,
        hook=hook,
        patient_id=patient_id,
        user_id=args.user_id,
        encounter_id=args.encounter_id,
        language=args.language,
    )
    if args.html:
        write_timeline(
            Path(args.html), evaluator, record, draft_orders, cards, patient_id, now, language=args.language
        )
    if args.format == "json":
        import orjson

        print(orjson.dumps({"cards": cards}, option=orjson.OPT_INDENT_2).decode())
        for note in quality_notes(cohort):  # stdout stays the EHR's JSON; the warnings go beside it
            print(f"{PROG}: warning: {note}", file=sys.stderr)
    else:
        from rich.console import Console

        console = Console()
        print_header(console, cohort, patient_id, hook, now)
        print_cards(cards, console, cohort.quality.skipped_total)
        if not cards:
            hint = stale_record_hint(cohort.patients[patient_id], now)
            if hint:
                console.print(hint, soft_wrap=True, markup=False, highlight=False)
    return 0


def stale_record_hint(resources: list[dict[str, Any]], now: datetime) -> str | None:
    """When the record ends long before the evaluation date, the silence is most likely the clock:
    say so, with the option that moves it."""
    from workbench.date_shift import latest_date

    latest = latest_date(resources)
    if latest is None or (now.date() - latest).days <= STALE_RECORD_DAYS:
        return None
    return (
        f"The record's latest date is {latest.isoformat()}, {(now.date() - latest).days} days before "
        f"{now.date().isoformat()}: to see the cards of that time, pass --now {latest.isoformat()}."
    )


def write_timeline(
    path: Path,
    evaluator: Evaluator,
    record: PatientRecord,
    draft_orders: list[dict[str, Any]],
    cards: list[dict[str, Any]],
    patient_id: str,
    now: datetime,
    *,
    language: str = "en",
) -> None:
    from timeline_view.model import CardDay
    from timeline_view.render import timeline_page
    from workbench import clinical_adapter as clinical

    day = now.date()
    facts = clinical.patient_facts(evaluator, record, draft_orders, day)
    card_days = [
        CardDay(
            day,
            clinical.card_topic(card),
            str(card.get("indicator", "info")),
            str(card.get("summary", "")),
            str(card.get("detail", "")),
        )
        for card in cards
    ]
    view = clinical.timeline_view(
        evaluator,
        facts,
        patient_id=patient_id,
        first_day=day,
        last_day=day,
        card_days=card_days,
        language=language,
    )
    try:
        path.write_text(timeline_page(view, language=language), encoding="utf-8")
    except OSError as error:
        raise CliError(
            f"--html {path}: cannot be written ({error.strerror or type(error).__name__})"
        ) from None


def quality_notes(cohort: Cohort) -> list[str]:
    quality = cohort.quality
    notes = []
    if quality.skipped:
        reasons = ", ".join(f"{count} {reason}" for reason, count in quality.skipped.most_common())
        notes.append(f"{quality.skipped_total} resources could not be read ({reasons})")
    if quality.unreadable_dates:
        elements = ", ".join(
            f"{count} {element}" for element, count in quality.unreadable_dates.most_common()
        )
        notes.append(f"dates that cannot be parsed: {elements}")
    return notes


def print_header(console: Console, cohort: Cohort, patient_id: str, hook: str, now: datetime) -> None:
    from rich.text import Text

    header = Text()
    header.append("Patient ", style="bold").append(patient_id)
    header.append("  Hook ", style="bold").append(hook)
    header.append("  Date ", style="bold").append(now.isoformat(timespec="minutes"))
    console.print(header)
    console.print(Text(f"Input: {cohort.source}", style="dim"), soft_wrap=True)
    notes = quality_notes(cohort)
    for note in notes:
        console.print(Text(f"Warning: {note}", style="yellow"), soft_wrap=True)
    console.print()


def _card_body(card: dict[str, Any]) -> RenderableType:
    from rich.console import Group
    from rich.markdown import Markdown
    from rich.text import Text

    parts: list[RenderableType] = [Text(str(card.get("summary", "")), style="bold")]
    detail = card.get("detail")
    if isinstance(detail, str) and detail:
        parts.append(Markdown(detail))
    suggestions = [s for s in card.get("suggestions") or [] if isinstance(s, dict)]
    if suggestions:
        parts.extend((Text(""), Text("Suggestions:", style="bold")))
        for suggestion in suggestions:
            marker = " (recommended)" if suggestion.get("isRecommended") else ""
            parts.append(Text(f"  - {suggestion.get('label', '')}{marker}"))
    source = card.get("source")
    if isinstance(source, dict) and source.get("label"):
        parts.extend((Text(""), Text(f"Source: {source['label']}", style="dim")))
    return Group(*parts)


def print_cards(cards: list[dict[str, Any]], console: Console, unreadable: int = 0) -> None:
    from rich.panel import Panel
    from rich.text import Text

    if not cards:
        if unreadable:
            # Not a clean bill of health: what could not be read might have fired a card.
            console.print(f"No cards from what could be read ({unreadable} resources could not be read).")
        else:
            console.print("No cards.")
        return
    for card in cards:
        indicator = str(card.get("indicator", "info"))
        console.print(
            Panel(
                _card_body(card),
                title=Text(indicator.upper()),
                title_align="left",
                border_style=INDICATOR_STYLES.get(indicator, "white"),
            )
        )
        links = [link for link in card.get("links") or [] if isinstance(link, dict)]
        # Outside the panel and never wrapped by us: a URL broken mid-word cannot be clicked or copied.
        for link in links:
            console.print(
                f"  Link: {link.get('label', '')}: {link.get('url', '')}",
                soft_wrap=True,
                markup=False,
                highlight=False,
            )
