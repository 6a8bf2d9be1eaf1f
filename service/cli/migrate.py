"""`immuno-cds migrate`: bring the database schema to the newest revision and exit (the service also
migrates at start-up, under an advisory lock, so this is for operators who migrate before a rollout)."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = "Apply the schema migrations to CDS_DATABASE_URL (or the SQLite file) and exit."


def run(args: argparse.Namespace) -> int:
    from service.storage.migrations import migrate_command

    return migrate_command(args)
