"""Matching primitives: whole-word names, interchangeable separators, capital-only acronyms,
normalised codes, negation cues."""

from __future__ import annotations

import pytest
from clinical_support import KNOWLEDGE_DIR

from clinical.knowledge import CodeIndex, CodeSystems, KnowledgeError, NegationCues, TextMatcher, load_yaml

SYSTEMS = CodeSystems.load(KNOWLEDGE_DIR / "code-systems.yaml")
MATCHER = TextMatcher(
    [("CAR T-cell", "car-t"), ("MR", "mr"), ("Guillain-Barre", "gbs"), ("Opdivo", "opdivo")]
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CAR-T cell infusion", ["car-t"]),
        ("car t cell", ["car-t"]),
        ("CAR  T - cell", ["car-t"]),
        ("MR Brain", ["mr"]),
        ("Mr Smith", []),
        ("MRA head", []),
        ("guillain barre syndrome", ["gbs"]),
        ("OPDIVO 240 MG", ["opdivo"]),
        ("OpdivoXR", []),
        ("x-Opdivo", ["opdivo"]),
    ],
)
def test_text_matcher_finds_whole_words(text: str, expected: list[str]) -> None:
    assert [match.value for match in MATCHER.find(text)] == expected


@pytest.mark.parametrize(
    ("alias", "written", "expected"),
    [
        ("icd10cm", "G92.01", "G9201"),
        ("icd10cm", "g9201", "G9201"),
        ("ndc", "0003-3120-01", "00003312001"),
        ("ndc", "00003312001", "00003312001"),
        ("ndc", "0003312001", None),
        ("rxnorm", " 1657746 ", "1657746"),
    ],
)
def test_codes_are_normalised_per_system(alias: str, written: str, expected: str | None) -> None:
    assert SYSTEMS.normalise_code(SYSTEMS.uri(alias), written) == expected


@pytest.mark.parametrize(
    "spelling",
    [
        "http://snomed.info/sct",
        "urn:oid:2.16.840.1.113883.6.96",
        "http://snomed.info/sct/",
        "HTTP://SNOMED.INFO/SCT",
    ],
)
def test_system_spellings_resolve_to_the_canonical_uri(spelling: str) -> None:
    assert SYSTEMS.canonical(spelling) == "http://snomed.info/sct"


def test_code_index_finds_an_icd10_code_written_without_its_dot() -> None:
    index: CodeIndex[str] = CodeIndex(SYSTEMS)
    index.add("icd10cm", "G92.02", "icans-2")
    assert index.lookup("http://hl7.org/fhir/sid/icd-10-cm", "G9202") == "icans-2"


def test_unknown_system_alias_is_a_knowledge_error() -> None:
    with pytest.raises(KnowledgeError):
        SYSTEMS.uri("not-a-system")


NEGATION = NegationCues.from_data(load_yaml(KNOWLEDGE_DIR / "text-matching.yaml"))


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        ("new seizure overnight", False),
        ("no seizure overnight", True),
        ("denies confusion. seizure this morning", False),
        ("seizure prophylaxis with levetiracetam", True),
        ("Patient has no fever; seizure at 3 am", False),
    ],
)
def test_negation_applies_within_the_clause(text: str, negated: bool) -> None:
    start = text.index("seizure") if "seizure" in text else text.index("confusion")
    end = start + len("seizure")
    assert NEGATION.negates(text, start, end) is negated
