"""`immuno-cds feedback-report`: acceptance and override rates by card topic, from the service's
database (SQLAlchemy is imported when the command runs, not when the parser is built)."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.cli.common import CliError, load_settings
from service.cli.serve import DATABASE_TIMEOUT_SECONDS, database_errors, describe_database_error

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy.ext.asyncio import AsyncEngine

UNKNOWN_TOPIC = "unknown"
NO_REASON = "(no reason given)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="SQLAlchemy async URL (default: the service's database)")
    parser.add_argument("--format", choices=("text", "json"), default="text")


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
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(database_url)
    except ArgumentError:
        raise CliError("the database URL is not a valid SQLAlchemy URL") from None
    is_file_database = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if is_file_database and not Path(str(url.database)).is_file():
        # create_engine would create an empty file; a report must not.
        raise CliError(f"database file {url.database} does not exist")


async def _topic_rows(engine: AsyncEngine) -> list[TopicRow]:
    from sqlalchemy import func, literal, select

    from service.storage.database import feedback, issued_cards

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
    from sqlalchemy import func, select

    from service.storage.database import feedback

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
    from sqlalchemy import inspect

    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    return {"feedback", "issued_cards"} <= names


async def build_report(database_url: str) -> FeedbackReport:
    from service.storage.database import create_engine

    check_sqlite_exists(database_url)
    engine = create_engine(database_url)
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS):
            if not await _has_feedback_tables(engine):
                raise CliError("the database has no feedback tables; has the service run against it?")
            return FeedbackReport(await _topic_rows(engine), await _reason_rows(engine))
    except database_errors() as error:
        raise CliError(f"cannot read feedback from the database ({describe_database_error(error)})") from None
    finally:
        await engine.dispose()


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def print_report(report: FeedbackReport, console: Console) -> None:
    from rich.table import Table

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


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    database_url: str = args.database_url or load_settings().effective_database_url
    report = asyncio.run(build_report(database_url))
    if args.format == "json":
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print_report(report, Console())
    return 0
