"""`immuno-cds check-knowledge`: validate the reviewed knowledge and card files the way the service does at
start-up (schemas, cross-references, card placeholders), for reviewers and CI; optionally write the JSON
Schemas for editors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "knowledge_dir",
        metavar="DIR",
        nargs="?",
        type=Path,
        help="the knowledge directory (default: CDS_KNOWLEDGE_DIR, else the repository's knowledge/)",
    )
    parser.add_argument(
        "--cards", type=Path, metavar="DIR", help="the cards directory (default: CDS_CARDS_DIR)"
    )
    parser.add_argument(
        "--write-schemas", type=Path, metavar="DIR", help="also write the JSON Schemas of every file to DIR"
    )


def run(args: argparse.Namespace) -> int:
    from clinical.evaluation import Evaluator
    from clinical.knowledge import KnowledgeError, export_json_schemas
    from service.settings import Settings

    settings = Settings()
    knowledge_dir = args.knowledge_dir or settings.knowledge_dir
    cards_dir = args.cards or settings.cards_dir
    try:
        evaluator = Evaluator.load(knowledge_dir, cards_dir)
    except KnowledgeError as error:
        print(f"immuno-cds: invalid clinical knowledge:\n{error}", file=sys.stderr)
        return 1
    therapies = evaluator.knowledge.therapies
    findings = evaluator.knowledge.findings
    print(
        f"{knowledge_dir} and {cards_dir} are valid: {len(therapies.agents)} agents, "
        f"{len(findings.findings)} neurological findings, "
        f"{len(evaluator.knowledge.timing.interval_imaging.windows)} imaging windows."
    )
    if args.write_schemas is not None:
        for path in export_json_schemas(args.write_schemas):
            print(f"wrote {path}")
    return 0
