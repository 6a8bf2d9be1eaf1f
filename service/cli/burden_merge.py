"""`immuno-cds burden-merge`: the outputs of `immuno-cds burden --shard I/N` runs (one folder per
shard) combined into the same cards.ndjson, summary.json, report.html and timelines as one run."""

from __future__ import annotations

import argparse
from pathlib import Path

from service.cli.burden import prepare_out_dir
from service.cli.common import CliError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "shards", nargs="+", metavar="SHARD_DIR", help="the --out folders of the N shard runs, in any order"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="where to write the combined results")


def run(args: argparse.Namespace) -> int:
    from workbench.merge import MergeError, merge_shards

    out_dir = Path(args.out)
    prepare_out_dir(out_dir)
    try:
        summary = merge_shards([Path(folder) for folder in args.shards], out_dir)
    except MergeError as error:
        raise CliError(str(error)) from None
    print(
        f"{len(args.shards)} shards: {summary.patients:,} patients, {summary.cards:,} card-days in "
        f"{summary.episodes:,} episodes. Report: {out_dir / 'report.html'}"
    )
    return 0
