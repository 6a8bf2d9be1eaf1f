"""The ``immuno-cds`` command line: one module per command, each thin over the service's own code.

    immuno-cds serve            run the HTTP service under uvicorn
    immuno-cds evaluate         the cards for one patient on one day (Bundle, NDJSON or Bulk Data export)
    immuno-cds burden           every patient, every day of a range: cards.ndjson, summary, HTML report
    immuno-cds burden-merge     the outputs of `burden --shard I/N` runs combined into one run's
    immuno-cds request          a ready CDS Hooks request for a fixture, for curl or Postman
    immuno-cds feedback-report  acceptance and override rates by card topic
    immuno-cds check-knowledge  validate knowledge/ and cards/ as the service does at start-up
    immuno-cds migrate          bring the database schema to the newest revision
    immuno-cds --version        the installed version

`python -m service` and `python -m service.cli` are the same command.

Settings come from the same CDS_* environment variables as the service; flags override them. A user
error prints one line to stderr and exits with status 2. Command modules are imported only when their
command runs, so that `immuno-cds --help` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from service.cli.common import PROG, USAGE_ERROR, CliError

DISTRIBUTION = "immunotherapy-neuroimaging-cds"
# command -> (module, one-line help); each module has configure(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("service.cli.serve", "run the HTTP service under uvicorn"),
    "evaluate": (
        "service.cli.evaluate",
        "the cards for one patient on one day, from a Bundle, an NDJSON file or a Bulk Data export",
    ),
    "burden": (
        "service.cli.burden",
        "alert burden: the cards for every patient and day of an export, with an HTML report",
    ),
    "burden-merge": (
        "service.cli.burden_merge",
        "combine the outputs of `burden --shard I/N` runs into the same results as one run",
    ),
    "request": ("service.cli.request", "print a ready CDS Hooks request for a FHIR fixture"),
    "feedback-report": ("service.cli.feedback_report", "acceptance and override rates by card topic"),
    "migrate": (
        "service.cli.migrate",
        "bring the database schema to the newest revision (also done at start-up)",
    ),
    "check-knowledge": (
        "service.cli.check_knowledge",
        "validate knowledge/ and cards/ (schemas, references, card texts) as the service does at start-up",
    ),
}
# Names other code imports from here, forwarded lazily to the module that defines them.
_FORWARDED = {
    "GRACEFUL_SHUTDOWN_SECONDS": "service.cli.serve",
    "prepare_multiprocess_dir": "service.cli.serve",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Immunotherapy neuroimaging CDS Hooks service.")
    parser.add_argument("--version", action="version", version=f"{PROG} {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        # Command modules import nothing heavy at the top: their work is imported when it runs.
        importlib.import_module(module_name).configure(sub)
        sub.set_defaults(command_module=module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(args.command_module)
    handler: Callable[[argparse.Namespace], int] = module.run
    try:
        return handler(args)
    except CliError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return USAGE_ERROR


def __getattr__(name: str) -> Any:
    if name in _FORWARDED:
        return getattr(importlib.import_module(_FORWARDED[name]), name)
    raise AttributeError(name)
