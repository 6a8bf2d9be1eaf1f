"""`immuno-cds burden`: every patient of an export, every day of a range, as patient-view would answer;
writes cards.ndjson, summary.json, report.html and a timeline page per patient."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

from service.cli.common import CliError, load_settings, parse_day
from service.cli.inputs import read_input, require_patients

MAX_DAYS = 3660
DEFAULT_VALIDATION_SAMPLE = 200
EVALUATION_FAILED = 1


def _workers(value: str) -> int:
    workers = int(value)
    if workers < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {workers}")
    return workers


def parse_shard(value: str) -> tuple[int, int]:
    """ "I/N" (1 <= I <= N) as (index from 0, count)."""
    index, slash, count = value.partition("/")
    if not slash or not index.isdigit() or not count.isdigit():
        raise argparse.ArgumentTypeError(f"expected I/N such as 2/8, not {value!r}")
    shard, shards = int(index), int(count)
    if not 1 <= shard <= shards:
        raise argparse.ArgumentTypeError(f"{value}: I must be from 1 to N")
    return shard - 1, shards


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "export",
        metavar="EXPORT",
        help=(
            "a Bulk Data export folder (Patient.ndjson, Observation.000.ndjson, ...), an NDJSON file or a "
            "Bundle"
        ),
    )
    parser.add_argument(
        "--language",
        choices=("en", "de"),
        default="en",
        help="the language of the cards in the report (default en; de: German, dates as 04.12.2026)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="where to write the results")
    parser.add_argument("--now", metavar="DATE", help="the one day to evaluate (default: today, UTC)")
    parser.add_argument("--from", dest="first", metavar="DATE", help="first day of the range (with --to)")
    parser.add_argument("--to", dest="last", metavar="DATE", help="last day of the range (with --from)")
    parser.add_argument(
        "--workers", type=_workers, default=1, help="processes evaluating patients in parallel (default 1)"
    )
    parser.add_argument(
        "--shard",
        type=parse_shard,
        metavar="I/N",
        help=(
            "evaluate only shard I of N (a hash partition of the patient ids); combine the N outputs with "
            "`immuno-cds burden-merge`"
        ),
    )
    parser.add_argument(
        "--partitions",
        type=_workers,
        metavar="P",
        help=(
            "partitions of the export on disk, evaluated one at a time (default: one per 16 MB of "
            "export, of the shard's part with --shard); more partitions, less memory"
        ),
    )
    parser.add_argument(
        "--max-line-mib",
        type=_workers,
        default=64,
        metavar="MIB",
        help="NDJSON lines longer than this are skipped and counted, never read whole (default 64)",
    )
    parser.add_argument(
        "--validate",
        type=int,
        default=DEFAULT_VALIDATION_SAMPLE,
        metavar="N",
        help=(
            f"validate N resources of each type against FHIR R4B, a seeded random sample across each whole "
            f"type (default {DEFAULT_VALIDATION_SAMPLE}; 0: off)"
        ),
    )


def date_range(args: argparse.Namespace) -> tuple[date, date]:
    if args.now is not None and (args.first is not None or args.last is not None):
        raise CliError("give --now or --from/--to, not both")
    if (args.first is None) != (args.last is None):
        raise CliError("--from and --to go together")
    if args.first is not None:
        first, last = parse_day(args.first, "--from"), parse_day(args.last, "--to")
        if last < first:
            raise CliError(f"--to {last} is before --from {first}")
        if (last - first).days >= MAX_DAYS:
            raise CliError(f"the range is longer than {MAX_DAYS} days")
        return first, last
    day = parse_day(args.now, "--now") if args.now is not None else datetime.now(UTC).date()
    return day, day


def prepare_out_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CliError(
            f"--out {path}: cannot be created ({error.strerror or type(error).__name__})"
        ) from None
    if not os.access(path, os.W_OK):
        raise CliError(f"--out {path} is not writable")


def _check_export(export: Path) -> None:
    """The one-line errors of an export that cannot be read at all, before any output is written."""
    from workbench.export import ExportError, export_files

    try:
        if export.is_dir():
            export_files(export)
        elif not export.exists():
            raise ExportError(f"{export}: no such file")
    except ExportError as error:
        raise CliError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()  # the time printed covers the whole run, reading the export included
    first, last = date_range(args)
    out_dir = Path(args.out)
    export = Path(args.export)
    settings = load_settings()
    from workbench.export import ExportError
    from workbench.ndjson_files import is_ndjson_name
    from workbench.run import NoPatients, RunOptions, run_burden, run_export

    options = RunOptions(
        first_day=first,
        last_day=last,
        out_dir=out_dir,
        workers=args.workers,
        knowledge_dir=settings.knowledge_dir,
        cards_dir=settings.cards_dir,
        validation_sample=args.validate,
        progress=sys.stderr.isatty(),
        shard=args.shard,
        partitions=args.partitions,
        max_line_bytes=args.max_line_mib * 1024 * 1024,
        language=args.language,
    )
    try:
        if export.is_dir() or is_ndjson_name(export.name):
            _check_export(export)
            try:
                result = run_export(export, options, started, lambda: prepare_out_dir(out_dir))
            except NoPatients as error:
                require_patients(error.cohort)
                raise
        else:
            if args.shard is not None:
                raise CliError("--shard needs a Bulk Data export folder or an NDJSON file, not a Bundle")
            cohort = read_input(export, options.max_line_bytes)
            require_patients(cohort)
            prepare_out_dir(out_dir)
            result = run_burden(cohort, options, started)
    except ExportError as error:  # an export that cannot be read, or a report that must not be written
        raise CliError(str(error)) from None
    print(result.describe())
    if result.summary.errors:
        failed = sum(result.summary.errors.values())
        print(
            f"immuno-cds: {failed} patient(s) could not be evaluated; see {out_dir / 'report.html'}",
            file=sys.stderr,
        )
        return EVALUATION_FAILED
    return 0
