"""Structured JSON logs. Nothing here may carry a token, a JWT, a patient id, a name or a resource
body: callers log only service ids, hook instances, counts, codes of card topics and timings."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

# Libraries that log request URLs or SQL parameters at INFO or DEBUG (FHIR search URLs carry the patient
# id, feedback rows carry clinicians' comments): held at WARNING whatever level the root logger is given.
QUIET_LIBRARIES = ("httpx", "httpcore", "sqlalchemy", "aiosqlite", "asyncpg")


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    # sys.stderr is looked up at each use, not once at configuration: a replaced stream (a test's
    # capture, since closed) must not turn every later log line into an I/O error.
    return structlog.PrintLogger(sys.stderr)


def configure_logging(level: str = "INFO", log_format: str = "json") -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
