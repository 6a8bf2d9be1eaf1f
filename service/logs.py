"""Structured JSON logs. Nothing here may carry a token, a JWT, a patient id, a name or a resource
body: callers log only service ids, hook instances, counts, codes of card topics and timings."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

import structlog

# Libraries that log request URLs or SQL parameters at INFO or DEBUG (FHIR search URLs carry the patient
# id, feedback rows carry clinicians' comments): held at WARNING whatever level the root logger is given.
QUIET_LIBRARIES = ("httpx", "httpcore", "sqlalchemy", "aiosqlite", "asyncpg")


class LineWriter:
    """Writes each rendered line, newline included, with one write: with several worker processes on
    one stderr pipe, a line written in two parts (structlog's PrintLogger prints the message, then the
    newline) can be split by another worker's line, and two JSON objects end up on one line (`}{`).
    On the real stderr, os.write goes straight to the descriptor (atomic for lines up to PIPE_BUF,
    4096 bytes on Linux, and never interleaved mid-line with a newline of ours). A replaced stream
    (a test's capture) gets one write() call."""

    def msg(self, message: str) -> None:
        line = message + "\n"
        stream = sys.stderr
        if stream is sys.__stderr__ and stream is not None:
            stream.flush()
            data = line.encode("utf-8", "replace")
            while data:
                written = os.write(stream.fileno(), data)
                data = data[written:]
        else:
            stream.write(line)
            stream.flush()

    log = debug = info = warn = warning = err = error = critical = exception = fatal = failure = msg


def _stderr_logger(*_args: Any) -> LineWriter:
    # sys.stderr is looked up at each use, not once at configuration: a replaced stream (a test's
    # capture, since closed) must not turn every later log line into an I/O error.
    return LineWriter()


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


class JsonLineFormatter(logging.Formatter):
    """uvicorn's own lines (start, stop, errors, access lines when asked) as JSON objects shaped like
    ours, so that a production log is JSON throughout and a log shipper parses every line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "event": record.getMessage(),
            "logger": record.name,
            "level": record.levelname.lower(),
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class WithoutQueryString(logging.Filter):
    """uvicorn's access lines name the path only: a query string can carry an OAuth code, a `state`, a
    SMART `launch` or `iss` (the SMART app's pages), or a patient id."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn.access: (client address, method, full path, HTTP version, status code).
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


def uvicorn_log_config(log_format: str, level: str) -> dict[str, Any]:
    """logging.dictConfig for uvicorn's loggers: JSON lines in the json format, uvicorn's own plain
    lines in the console format (for a developer's terminal)."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonLineFormatter"}
        if log_format == "json"
        else {"format": "%(levelname)s: %(message)s"}
    )
    handler = {"class": "logging.StreamHandler", "formatter": "line", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": formatter},
        "filters": {"without_query": {"()": f"{__name__}.WithoutQueryString"}},
        "handlers": {"line": handler, "access": {**handler, "filters": ["without_query"]}},
        "loggers": {
            "uvicorn": {"handlers": ["line"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["access"], "level": level.upper(), "propagate": False},
        },
    }
