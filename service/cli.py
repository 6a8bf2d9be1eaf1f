"""The ``immuno-cds`` command line.

    immuno-cds serve [--host H] [--port P] [--workers N] [--access-log]
    immuno-cds evaluate BUNDLE.json [--draft-orders FILE] [--hook HOOK] [--now WHEN]
                        [--patient-id ID] [--user-id REF] [--encounter-id ID] [--format text|json]
    immuno-cds feedback-report [--database-url URL] [--format text|json]

Settings come from the same CDS_* environment variables as the service; flags override them.
A user error (missing file, invalid JSON, not a Bundle, unreachable database) prints one line to
stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, NoReturn

import orjson
from pydantic import ValidationError
from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from sqlalchemy import func, inspect, literal, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from clinical.evaluation import Evaluator
from clinical.patient_record import PatientRecord
from service.database import create_engine, create_schema, feedback, issued_cards
from service.fhir_client import bundle_resources
from service.migrations import add_migrate_command
from service.settings import Settings

PROG = "immuno-cds"
USAGE_ERROR = 2
APP_IMPORT = "service.app:app"
# Below Kubernetes' default 30 s termination grace period: in-flight hook calls finish, then we exit.
GRACEFUL_SHUTDOWN_SECONDS = 20
# uvicorn kills a worker that does not answer its supervisor's ping within this time, also while the
# worker is still starting (spawning an interpreter and importing the app). Its default of 5 s sends
# workers on a CPU-starved node (several workers per core, CPU throttling) into a kill-restart loop.
WORKER_HEALTHCHECK_SECONDS = 30
DATABASE_TIMEOUT_SECONDS = 30.0
HOOKS = ("order-select", "order-sign", "patient-view")
UVICORN_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
UNKNOWN_TOPIC = "unknown"
NO_REASON = "(no reason given)"
INDICATOR_STYLES = {"critical": "red", "warning": "yellow", "info": "blue"}


class CliError(Exception):
    """A user error: reported as one line, exit status 2."""


# --- shared ---------------------------------------------------------------------------------------


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        name = "CDS_" + "_".join(str(part) for part in first["loc"]).upper()
        raise CliError(f"invalid setting {name}: {first['msg']}") from None


def read_json_file(path: Path, what: str) -> Any:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CliError(f"{what} {path}: no such file") from None
    except OSError as error:
        raise CliError(f"{what} {path}: cannot be read ({error.strerror or type(error).__name__})") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise CliError(
            f"{what} {path} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    except UnicodeDecodeError:
        raise CliError(f"{what} {path} is not valid UTF-8 JSON") from None


def read_bundle(path: Path, what: str) -> dict[str, Any]:
    document = read_json_file(path, what)
    resource_type = document.get("resourceType") if isinstance(document, dict) else None
    if resource_type != "Bundle":
        found = f"resourceType {resource_type!r}" if resource_type else "no resourceType"
        raise CliError(f"{what} {path} is not a FHIR Bundle ({found})")
    assert isinstance(document, dict)
    return document


# --- serve ----------------------------------------------------------------------------------------


def prepare_multiprocess_dir() -> None:
    """Create PROMETHEUS_MULTIPROC_DIR and empty it: samples of a previous run must not be summed in."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
    except OSError as error:
        raise CliError(f"PROMETHEUS_MULTIPROC_DIR {path}: {error.strerror or type(error).__name__}") from None


async def _create_schema(database_url: str) -> None:
    engine = create_engine(database_url, statement_timeout_seconds=DATABASE_TIMEOUT_SECONDS)
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS):
            await create_schema(engine)
    finally:
        await engine.dispose()


def prepare_database(database_url: str) -> None:
    """Create the tables once, before the workers start, so they do not race on an empty database.
    Best effort: the service starts without the database, and each worker keeps preparing the schema
    in the background until the database answers (service/database.py, DatabaseStatus)."""
    try:
        asyncio.run(_create_schema(database_url))
    except (OSError, SQLAlchemyError, TimeoutError) as error:
        print(
            f"{PROG}: warning: the database is not ready ({describe_database_error(error)}); "
            "starting without it, the workers retry in the background",
            file=sys.stderr,
        )


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = load_settings()
    host: str = args.host if args.host is not None else settings.host
    port: int = args.port if args.port is not None else settings.port
    workers: int = args.workers if args.workers is not None else settings.workers
    if workers < 1:
        raise CliError(f"workers must be at least 1, not {workers}")
    log_level = settings.log_level.lower()
    if log_level not in UVICORN_LOG_LEVELS:
        raise CliError(
            f"invalid setting CDS_LOG_LEVEL: {settings.log_level!r} is not one of {UVICORN_LOG_LEVELS}"
        )
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        print(
            f"{PROG}: warning: PROMETHEUS_MULTIPROC_DIR is not set; /metrics will show one worker only",
            file=sys.stderr,
        )
    prepare_multiprocess_dir()
    if workers > 1:
        prepare_database(settings.effective_database_url)
    uvicorn.run(
        APP_IMPORT,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=bool(args.access_log),
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )
    return 0


# --- evaluate -------------------------------------------------------------------------------------


def parse_now(value: str | None) -> datetime:
    """A date (midnight UTC) or an ISO 8601 date-time (UTC when it names no zone); default: now."""
    if value is None:
        return datetime.now(UTC)
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0, 0), tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"--now {value!r} is not an ISO 8601 date or date-time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def bundle_patient_id(resources: list[dict[str, Any]]) -> str:
    ids: list[str] = sorted(
        {
            resource["id"]
            for resource in resources
            if resource.get("resourceType") == "Patient" and isinstance(resource.get("id"), str)
        }
    )
    if not ids:
        raise CliError("the bundle holds no Patient with an id; pass --patient-id")
    if len(ids) > 1:
        raise CliError(f"the bundle holds {len(ids)} patients; pass --patient-id to choose one")
    return ids[0]


def choose_hook(requested: str | None, has_draft_orders: bool) -> str:
    hook = requested or ("order-sign" if has_draft_orders else "patient-view")
    if hook == "patient-view" and has_draft_orders:
        raise CliError("patient-view takes no draft orders; use --hook order-select or order-sign")
    return hook


def evaluate(args: argparse.Namespace) -> int:
    resources = bundle_resources(read_bundle(Path(args.bundle), "bundle"))
    draft_orders = (
        bundle_resources(read_bundle(Path(args.draft_orders), "draft orders")) if args.draft_orders else []
    )
    choose_hook(args.hook, bool(args.draft_orders))
    patient_id: str = args.patient_id or bundle_patient_id(resources)
    now = parse_now(args.now)
    settings = load_settings()
    record = PatientRecord(patient_id=patient_id)
    record.add_all(resources)
    evaluator = Evaluator.load(settings.knowledge_dir, settings.cards_dir)
    cards = evaluator.cards_for(
        record,
        draft_orders,
        now=now,
        patient_id=patient_id,
        user_id=args.user_id,
        encounter_id=args.encounter_id,
    )
    if args.format == "json":
        print(orjson.dumps({"cards": cards}, option=orjson.OPT_INDENT_2).decode())
    else:
        print_cards(cards, Console())
    return 0


def _card_body(card: dict[str, Any]) -> RenderableType:
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
    links = [link for link in card.get("links") or [] if isinstance(link, dict)]
    if links:
        parts.extend((Text(""), Text("Links:", style="bold")))
        for link in links:
            parts.append(Text(f"  - {link.get('label', '')}: {link.get('url', '')}"))
    source = card.get("source")
    if isinstance(source, dict) and source.get("label"):
        parts.extend((Text(""), Text(f"Source: {source['label']}", style="dim")))
    return Group(*parts)


def print_cards(cards: list[dict[str, Any]], console: Console) -> None:
    if not cards:
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


# --- feedback-report ------------------------------------------------------------------------------


@dataclass
class TopicRow:
    topic: str
    accepted: int = 0
    overridden: int = 0

    @property
    def total(self) -> int:
        return self.accepted + self.overridden

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "feedback": self.total,
            "accepted": self.accepted,
            "overridden": self.overridden,
            "acceptance_rate": _rate(self.accepted, self.total),
            "override_rate": _rate(self.overridden, self.total),
        }


@dataclass
class ReasonRow:
    code: str
    system: str | None
    display: str | None
    count: int
    share_of_overrides: float = 0.0


@dataclass
class FeedbackReport:
    topics: list[TopicRow] = field(default_factory=list)
    reasons: list[ReasonRow] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(row.total for row in self.topics)

    def as_dict(self) -> dict[str, Any]:
        return {
            "feedback": self.total,
            "by_topic": [row.as_dict() for row in self.topics],
            "by_override_reason": [asdict(row) for row in self.reasons],
        }


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def check_sqlite_exists(database_url: str) -> None:
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise CliError("the database URL is not a valid SQLAlchemy URL") from None
    is_file_database = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if is_file_database and not Path(str(url.database)).is_file():
        # create_engine would create an empty file; a report must not.
        raise CliError(f"database file {url.database} does not exist")


async def _topic_rows(engine: AsyncEngine) -> list[TopicRow]:
    topic = func.coalesce(issued_cards.c.topic, literal(UNKNOWN_TOPIC))
    statement = (
        select(topic.label("topic"), feedback.c.outcome, func.count().label("n"))
        .select_from(feedback.outerjoin(issued_cards, feedback.c.card_uuid == issued_cards.c.card_uuid))
        .group_by(topic, feedback.c.outcome)
    )
    rows: dict[str, TopicRow] = {}
    async with engine.connect() as connection:
        for name, outcome, count in (await connection.execute(statement)).all():
            row = rows.setdefault(name, TopicRow(name))
            if outcome == "accepted":
                row.accepted += count
            elif outcome == "overridden":
                row.overridden += count
    return sorted(rows.values(), key=lambda row: (-row.total, row.topic))


async def _reason_rows(engine: AsyncEngine) -> list[ReasonRow]:
    statement = (
        select(
            feedback.c.override_reason_code,
            feedback.c.override_reason_system,
            func.max(feedback.c.override_reason_display),
            func.count(),
        )
        .where(feedback.c.outcome == "overridden")
        .group_by(feedback.c.override_reason_code, feedback.c.override_reason_system)
    )
    async with engine.connect() as connection:
        result = (await connection.execute(statement)).all()
    reasons = [
        ReasonRow(code or NO_REASON, system, display, count) for code, system, display, count in result
    ]
    overrides = sum(reason.count for reason in reasons)
    for reason in reasons:
        reason.share_of_overrides = _rate(reason.count, overrides)
    return sorted(reasons, key=lambda reason: (-reason.count, reason.code))


async def _has_feedback_tables(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    return {"feedback", "issued_cards"} <= names


async def build_report(database_url: str) -> FeedbackReport:
    check_sqlite_exists(database_url)
    engine = create_engine(database_url)
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS):
            if not await _has_feedback_tables(engine):
                raise CliError("the database has no feedback tables; has the service run against it?")
            return FeedbackReport(await _topic_rows(engine), await _reason_rows(engine))
    except (OSError, SQLAlchemyError, TimeoutError) as error:
        raise CliError(f"cannot read feedback from the database ({describe_database_error(error)})") from None
    finally:
        await engine.dispose()


def describe_database_error(error: BaseException) -> str:
    """A short cause; never the driver's message, which can carry the URL and its password."""
    cause = error.__cause__ if isinstance(error, SQLAlchemyError) and error.__cause__ else error
    if isinstance(cause, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, TimeoutError):
        return f"no answer within {DATABASE_TIMEOUT_SECONDS:.0f} s"
    return type(cause).__name__


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def print_report(report: FeedbackReport, console: Console) -> None:
    if not report.topics:
        console.print("No feedback recorded.")
        return
    items = "item" if report.total == 1 else "items"
    topics = Table(title=f"Feedback by card topic ({report.total} {items})")
    for column in ("Topic", "Feedback", "Accepted", "Overridden", "Acceptance", "Override"):
        topics.add_column(column, justify="left" if column == "Topic" else "right")
    for row in report.topics:
        data = row.as_dict()
        topics.add_row(
            row.topic,
            str(row.total),
            str(row.accepted),
            str(row.overridden),
            _percent(data["acceptance_rate"]),
            _percent(data["override_rate"]),
        )
    console.print(topics)
    if not report.reasons:
        return
    reasons = Table(title="Override reasons")
    for column in ("Reason", "Display", "System", "Count", "Share of overrides"):
        reasons.add_column(column, justify="right" if column in ("Count", "Share of overrides") else "left")
    for reason in report.reasons:
        reasons.add_row(
            reason.code,
            reason.display or "",
            reason.system or "",
            str(reason.count),
            _percent(reason.share_of_overrides),
        )
    console.print(reasons)


def feedback_report(args: argparse.Namespace) -> int:
    database_url: str = args.database_url or load_settings().effective_database_url
    report = asyncio.run(build_report(database_url))
    if args.format == "json":
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print_report(report, Console())
    return 0


# --- parser and entry point -----------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def _positive_port(value: str) -> int:
    port = int(value)
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Immunotherapy neuroimaging CDS Hooks service.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("serve", help="run the HTTP service under uvicorn")
    run.add_argument("--host", help="bind address (default CDS_HOST, 127.0.0.1)")
    run.add_argument("--port", type=_positive_port, help="TCP port (default CDS_PORT, 8000)")
    run.add_argument("--workers", type=int, help="worker processes (default CDS_WORKERS, 1)")
    run.add_argument(
        "--access-log", action="store_true", help="log every request (off: the audit log covers hooks)"
    )
    run.set_defaults(handler=serve)

    evaluation = commands.add_parser(
        "evaluate", help="run the rules on a FHIR Bundle file and print the cards"
    )
    evaluation.add_argument(
        "bundle", metavar="BUNDLE.json", help="a FHIR Bundle with the patient's resources"
    )
    evaluation.add_argument("--draft-orders", metavar="FILE", help="a FHIR Bundle of draft orders")
    evaluation.add_argument(
        "--hook", choices=HOOKS, help="default: order-sign with --draft-orders, else patient-view"
    )
    evaluation.add_argument("--now", help="evaluation time, ISO 8601 date or date-time (default: now)")
    evaluation.add_argument("--patient-id", help="default: the id of the bundle's only Patient")
    evaluation.add_argument("--user-id", default="Practitioner/cli", help="the user the cards are for")
    evaluation.add_argument("--encounter-id", help="the encounter in context, if any")
    evaluation.add_argument("--format", choices=("text", "json"), default="text")
    evaluation.set_defaults(handler=evaluate)

    report = commands.add_parser("feedback-report", help="acceptance and override rates by card topic")
    report.add_argument("--database-url", help="SQLAlchemy async URL (default: the service's database)")
    report.add_argument("--format", choices=("text", "json"), default="text")
    report.set_defaults(handler=feedback_report)

    add_migrate_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except CliError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    return status


if __name__ == "__main__":
    sys.exit(main())
