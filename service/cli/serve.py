"""`immuno-cds serve`: the HTTP service under uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from service.cli.common import PROG, CliError, load_settings

if TYPE_CHECKING:
    from sqlalchemy.exc import SQLAlchemyError

    from service.settings import Settings

APP_IMPORT = "service.app:app"
# Below Kubernetes' default 30 s termination grace period: in-flight hook calls finish, then we exit.
GRACEFUL_SHUTDOWN_SECONDS = 20
# uvicorn kills a worker that does not answer its supervisor's ping within this time, also while the
# worker is still starting (spawning an interpreter and importing the app). Its default of 5 s sends
# workers on a CPU-starved node (several workers per core, CPU throttling) into a kill-restart loop.
WORKER_HEALTHCHECK_SECONDS = 30
DATABASE_TIMEOUT_SECONDS = 30.0
UVICORN_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _positive_port(value: str) -> int:
    port = int(value)
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port")
    return port


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="bind address (default CDS_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=_positive_port, help="TCP port (default CDS_PORT, 8000)")
    parser.add_argument("--workers", type=int, help="worker processes (default CDS_WORKERS, 1)")
    parser.add_argument(
        "--access-log", action="store_true", help="log every request (off: the audit log covers hooks)"
    )


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
    from service.storage.database import create_engine, create_schema

    engine = create_engine(database_url, statement_timeout_seconds=DATABASE_TIMEOUT_SECONDS)
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS):
            await create_schema(engine)
    finally:
        await engine.dispose()


def describe_database_error(error: BaseException) -> str:
    """A short cause; never the driver's message, which can carry the URL and its password."""
    import socket

    from sqlalchemy.exc import SQLAlchemyError

    cause = error.__cause__ if isinstance(error, SQLAlchemyError) and error.__cause__ else error
    if isinstance(cause, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, TimeoutError):
        return f"no answer within {DATABASE_TIMEOUT_SECONDS:.0f} s"
    return type(cause).__name__


def database_errors() -> tuple[type[OSError], type[SQLAlchemyError], type[TimeoutError]]:
    from sqlalchemy.exc import SQLAlchemyError

    return (OSError, SQLAlchemyError, TimeoutError)


def prepare_database(database_url: str) -> None:
    """Create the tables once, before the workers start, so they do not race on an empty database.
    Best effort: the service starts without the database, and each worker keeps preparing the schema
    in the background until the database answers (service/storage/database.py, DatabaseStatus)."""
    try:
        asyncio.run(_create_schema(database_url))
    except database_errors() as error:
        print(
            f"{PROG}: warning: the database is not ready ({describe_database_error(error)}); "
            "starting without it, the workers retry in the background",
            file=sys.stderr,
        )


def refuse_untruthful_start(settings: Settings) -> None:
    from service.configuration import ConfigurationError, check_service_start

    try:
        check_service_start(settings)
    except ConfigurationError as error:
        raise CliError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from service.logs import uvicorn_log_config

    settings = load_settings()
    refuse_untruthful_start(settings)
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
        log_config=uvicorn_log_config(settings.log_format, log_level),
        access_log=bool(args.access_log),
        server_header=False,
        http=settings.http_parser,
        h11_max_incomplete_event_size=settings.http_max_header_bytes,
        timeout_keep_alive=settings.http_keep_alive_timeout_seconds,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )
    return 0
