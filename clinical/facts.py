"""Patient facts: what the rules reason about, read from the record and the draft orders with the
clinical vocabularies in `knowledge/`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from clinical.catalog import TherapyCatalog
from clinical.exposures import Exposure, find_exposures
from clinical.imaging import (
    ImagingEvent,
    ImagingVocabulary,
    SuspectedProgression,
    find_imaging,
    find_suspected_progression,
)
from clinical.knowledge import CodeSystems, NegationCues, load_yaml
from clinical.neurological_findings import FindingVocabulary, NeurologicalFinding, find_neurological_findings
from clinical.patient_record import PatientRecord


@dataclass(frozen=True)
class PatientFacts:
    exposures: tuple[Exposure, ...]
    imaging: tuple[ImagingEvent, ...]
    findings: tuple[NeurologicalFinding, ...]
    suspected_progressions: tuple[SuspectedProgression, ...]


@dataclass(frozen=True)
class Vocabularies:
    catalog: TherapyCatalog
    imaging: ImagingVocabulary
    findings: FindingVocabulary

    @classmethod
    def load(cls, knowledge_dir: Path) -> Vocabularies:
        systems = CodeSystems.load(knowledge_dir / "code-systems.yaml")
        text_rules = load_yaml(knowledge_dir / "text-matching.yaml")
        return cls(
            catalog=TherapyCatalog.load(knowledge_dir / "therapies.yaml", systems),
            imaging=ImagingVocabulary(
                knowledge_dir / "brain-imaging.yaml", text_rules["suspected_progression_names"], systems
            ),
            findings=FindingVocabulary(
                knowledge_dir / "neurological-findings.yaml", NegationCues.from_data(text_rules), systems
            ),
        )


def collect_facts(
    record: PatientRecord, draft_orders: list[dict[str, Any]], vocabularies: Vocabularies, today: date
) -> PatientFacts:
    return PatientFacts(
        exposures=tuple(find_exposures(record, draft_orders, vocabularies.catalog, today)),
        imaging=tuple(find_imaging(record, draft_orders, vocabularies.imaging, today)),
        findings=tuple(find_neurological_findings(record, vocabularies.findings)),
        suspected_progressions=tuple(find_suspected_progression(record, vocabularies.imaging)),
    )
