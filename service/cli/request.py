"""`immuno-cds request`: a ready CDS Hooks request for a fixture (a scenario of fhir_fixtures/, a Bundle,
an NDJSON file or an export folder), to POST with curl or Postman to a running service."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from service.cli.common import HOOKS, CliError, read_bundle
from service.cli.inputs import (
    SCENARIOS_FILE,
    choose_patient,
    find_scenario,
    read_input,
    scenario_day_shift,
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "fixture",
        metavar="FIXTURE",
        help="a scenario name from fhir_fixtures/scenarios.yaml, or a Bundle, NDJSON file or export folder",
    )
    parser.add_argument(
        "--language",
        choices=("en", "de"),
        default="en",
        help=(
            "the language the cards are wanted in: documents it as the request's Accept-Language "
            "(send it with: curl -H 'Accept-Language: de'); the request body is the same"
        ),
    )
    parser.add_argument("--hook", choices=HOOKS, help="default: the scenario's hook, else patient-view")
    parser.add_argument("--patient-id", help="default: the fixture's only patient")
    parser.add_argument("--user-id", default="Practitioner/example", help="context.userId")
    parser.add_argument("--encounter-id", help="context.encounterId")
    parser.add_argument(
        "--draft-orders", metavar="FILE", help="a Bundle of draft orders (default: the scenario's)"
    )
    parser.add_argument(
        "--on-date",
        metavar="DATE",
        default="today",
        help=(
            "for a scenario: move its dates so that its moment falls on DATE (YYYY-MM-DD, or 'today', "
            "the default: the cards of a running service on its real clock); 'scenario' keeps them"
        ),
    )


def run(args: argparse.Namespace) -> int:
    import orjson

    from workbench.hook_request import hook_request, service_id_for

    scenario = find_scenario(args.fixture)
    path = SCENARIOS_FILE.parent / scenario["file"] if scenario else Path(args.fixture)
    if scenario is None and not path.exists():
        raise CliError(f"{args.fixture}: no such file, and no scenario of that name in {SCENARIOS_FILE.name}")
    cohort = read_input(path)
    patient_id = choose_patient(cohort, args.patient_id)
    shift = scenario_day_shift(scenario, args.on_date)
    if shift:
        from workbench.date_shift import shift_dates

        cohort.patients[patient_id] = shift_dates(cohort.patients[patient_id], shift)
    if args.draft_orders:
        from clinical.fhir_data import bundle_resources

        draft_orders = bundle_resources(read_bundle(Path(args.draft_orders), "draft orders"))
    else:
        draft_orders = list(scenario.get("draft_orders") or []) if scenario else []
        if shift:
            from workbench.date_shift import shift_dates

            draft_orders = shift_dates(draft_orders, shift)
    hook: str = args.hook or (
        scenario["hook"] if scenario else "order-sign" if draft_orders else "patient-view"
    )
    if hook == "patient-view" and args.draft_orders:
        raise CliError("patient-view takes no draft orders; use --hook order-select or order-sign")
    body = hook_request(
        hook=hook,
        patient_id=patient_id,
        user_id=args.user_id,
        resources=cohort.patients[patient_id],
        medications=cohort.medications.values(),
        draft_orders=draft_orders if hook != "patient-view" else [],
        encounter_id=args.encounter_id,
    )
    sys.stdout.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
    service = service_id_for(hook)
    note = f"POST it to /cds-services/{service}"
    if args.language != "en":
        note += f" with the header 'Accept-Language: {args.language}' (cards in that language)"
    if scenario and scenario.get("now") and args.on_date == "scenario":
        note += f"; this scenario is dated for CDS_FIXED_NOW={scenario['now']} (CDS_PROFILE=development)"
    elif scenario and scenario.get("now"):
        note += f"; its dates moved {shift:+d} days so that the scenario's moment falls on {args.on_date}"
    print(f"immuno-cds: {note}", file=sys.stderr)
    return 0
