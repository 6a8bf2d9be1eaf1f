"""Matching primitives (clinical/knowledge): whole-word names, interchangeable separators, capital-only
acronyms, normalised codes and system spellings, ICD-10-CM prefix codes, and the phrase rules of
docs/clinical-rules-v2.md section 6 (negation, uncertainty, history, qualifiers, phrase breaks)."""

from __future__ import annotations

import pytest
from clinical_support import evaluator

from clinical.knowledge import CodeIndex, KnowledgeError, PhraseReader, TextMatcher

SYSTEMS = evaluator().knowledge.systems
READER = PhraseReader(evaluator().knowledge.text)
MATCHER: TextMatcher[str] = TextMatcher(
    [("CAR T-cell", "car-t"), ("MR", "mr"), ("Guillain-Barre", "gbs"), ("Opdivo", "opdivo")]
)
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CAR-T cell infusion", ["car-t"]),
        ("car t cell", ["car-t"]),
        ("CAR  T - cell", ["car-t"]),
        ("MR Brain", ["mr"]),
        ("Mr Smith", []),
        ("mr brain", []),
        ("MRA head", []),
        ("guillain barre syndrome", ["gbs"]),
        ("Guillain-Barre", ["gbs"]),
        ("OPDIVO 240 MG", ["opdivo"]),
        ("OpdivoXR", []),
        ("x-Opdivo", ["opdivo"]),
        ("Opdivo/Yervoy", ["opdivo"]),
    ],
)
def test_text_matcher_finds_whole_words_with_case_sensitive_acronyms(text: str, expected: list[str]) -> None:
    assert [match.value for match in MATCHER.find(text)] == expected


def test_text_matcher_prefers_the_longest_name() -> None:
    matcher: TextMatcher[str] = TextMatcher([("encephalopathy", "short"), ("hepatic encephalopathy", "long")])
    assert [match.value for match in matcher.find("hepatic encephalopathy")] == ["long"]


@pytest.mark.parametrize(
    ("alias", "written", "expected"),
    [
        ("icd10cm", "G92.01", "G9201"),
        ("icd10cm", "g9201", "G9201"),
        ("icd10cm", " G92.01 ", "G9201"),
        ("ndc", "0003-3120-01", "00003312001"),
        ("ndc", "00003312001", "00003312001"),
        ("ndc", "0003312001", None),
        ("ndc", "0003-31A0-01", None),
        ("rxnorm", " 1657746 ", "1657746"),
        ("snomed", "91175000", "91175000"),
    ],
)
def test_codes_are_normalised_per_system(alias: str, written: str, expected: str | None) -> None:
    assert SYSTEMS.normalise_code(SYSTEMS.uri(alias), written) == expected


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("http://snomed.info/sct", SNOMED),
        ("urn:oid:2.16.840.1.113883.6.96", SNOMED),
        ("http://snomed.info/sct/", SNOMED),
        ("HTTP://SNOMED.INFO/SCT", SNOMED),
        ("urn:oid:2.16.840.1.113883.6.90", ICD10),
        ("urn:oid:2.16.840.1.113883.6.88", "http://www.nlm.nih.gov/research/umls/rxnorm"),
        ("urn:oid:2.16.840.1.113883.6.1", "http://loinc.org"),
        ("urn:oid:2.16.840.1.113883.6.12", "http://www.ama-assn.org/go/cpt"),
        ("http://fhir.de/CodeSystem/bfarm/atc", "http://www.whocc.no/atc"),
        ("http://fhir.de/CodeSystem/dimdi/atc", "http://www.whocc.no/atc"),
        ("urn:local:codes", "urn:local:codes"),
    ],
)
def test_system_spellings_resolve_to_the_canonical_uri(spelling: str, canonical: str) -> None:
    assert SYSTEMS.canonical(spelling) == canonical


def test_code_index_finds_an_icd10_code_written_without_its_dot_or_by_oid() -> None:
    index: CodeIndex[str] = CodeIndex(SYSTEMS)
    index.add("icd10cm", "G92.02", "icans-2")
    assert index.lookup(ICD10, "G9202") == "icans-2"
    assert index.lookup("urn:oid:2.16.840.1.113883.6.90", "g92.02") == "icans-2"


def prefix_index() -> CodeIndex[str]:
    index: CodeIndex[str] = CodeIndex(SYSTEMS)
    index.add("icd10cm", "I63", "stroke", match="prefix")
    index.add("icd10cm", "H49.2", "sixth-nerve", match="prefix")
    index.add("icd10cm", "I63.9", "stroke-unspecified")
    return index


@pytest.mark.parametrize(
    ("system", "code", "expected"),
    [
        (ICD10, "I63", "stroke"),
        (ICD10, "I63.412", "stroke"),
        (ICD10, "I63412", "stroke"),
        (ICD10, "I63.9", "stroke-unspecified"),  # an exact entry wins over its family
        (ICD10, "H49.22", "sixth-nerve"),
        (ICD10, "H49.1", None),
        (ICD10, "I6", None),
        (ICD10, "I64", None),
        (SNOMED, "I63412", None),
    ],
)
def test_icd10cm_prefix_codes_stand_for_their_family(system: str, code: str, expected: str | None) -> None:
    assert prefix_index().lookup(system, code) == expected


def test_the_longest_family_of_a_code_wins_whatever_the_order_they_were_added() -> None:
    index: CodeIndex[str] = CodeIndex(SYSTEMS)
    index.add("icd10cm", "G04.8", "encephalitis-other", match="prefix")
    index.add("icd10cm", "G04", "encephalitis", match="prefix")
    index.add("icd10cm", "G04.81", "encephalitis-other-specified", match="prefix")
    assert index.lookup(ICD10, "G04.811") == "encephalitis-other-specified"
    assert index.lookup(ICD10, "G04.89") == "encephalitis-other"
    assert index.lookup(ICD10, "G04.1") == "encephalitis"
    assert index.lookup(ICD10, "G0") is None


def test_an_exact_code_does_not_match_its_children() -> None:
    index: CodeIndex[str] = CodeIndex(SYSTEMS)
    index.add("icd10cm", "G92.0", "exact")
    assert index.lookup(ICD10, "G92.01") is None


def test_unknown_system_alias_is_a_knowledge_error() -> None:
    with pytest.raises(KnowledgeError):
        SYSTEMS.uri("not-a-system")


def test_a_code_that_cannot_be_normalised_is_a_knowledge_error() -> None:
    index: CodeIndex[str] = CodeIndex(SYSTEMS)
    with pytest.raises(KnowledgeError):
        index.add("ndc", "0003312001", "ambiguous")


def certainty(text: str, name: str = "seizure") -> str:
    start = text.index(name)
    return READER.certainty(READER.read(text), start, start + len(name))


PHRASES = [
    # affirmed
    ("new seizure overnight", "affirmed"),
    ("seizure at 3 am, treated with levetiracetam as prophylaxis", "affirmed"),
    # negation before, within the phrase
    ("no seizure overnight", "negated"),
    ("not a seizure", "negated"),
    ("denies seizure", "negated"),
    ("without seizure", "negated"),
    ("negative for seizure", "negated"),
    ("free of seizure", "negated"),
    ("ruled out seizure", "negated"),
    ("absence of seizure", "negated"),
    ("resolved seizure", "negated"),
    ("no evidence of seizure", "negated"),
    ("no signs of seizure", "negated"),
    ("no headache or seizure", "negated"),
    ("no history of seizure", "negated"),
    # the phrase ends at . ; , a line break, or a phrase-breaking word
    ("denies confusion. seizure this morning", "affirmed"),
    ("Patient has no fever; seizure at 3 am", "affirmed"),
    ("No fever, new generalized seizure", "affirmed"),
    ("no fever\nseizure at 3 am", "affirmed"),
    ("no fever but seizure at 3 am", "affirmed"),
    ("no fever however seizure at 3 am", "affirmed"),
    ("no fever although seizure at 3 am", "affirmed"),
    ("no fever though seizure at 3 am", "affirmed"),
    ("no deficits except seizure at 3 am", "affirmed"),
    ("no fever yet seizure at 3 am", "affirmed"),
    ("no rash, which preceded the seizure", "affirmed"),
    ("no fever in this patient who had a seizure", "affirmed"),
    # A colon does not end a phrase: "PMH: seizures" keeps its history cue (spec 6).
    ("PMH: seizure", "history"),
    ("negative for: seizure", "negated"),
    # A qualifier after the name that keeps the doubt open: uncertain, not negated.
    ("seizure cannot be excluded", "uncertain"),
    ("seizure not ruled out", "uncertain"),
    ("seizure?", "uncertain"),
    # uncertainty before: still a finding, at warning
    ("r/o seizure", "uncertain"),
    ("rule out seizure", "uncertain"),
    ("possible seizure", "uncertain"),
    ("possibly a seizure", "uncertain"),
    ("suspected seizure", "uncertain"),
    ("suspicious for seizure", "uncertain"),
    ("concern for seizure", "uncertain"),
    ("concerning for seizure", "uncertain"),
    ("questionable seizure", "uncertain"),
    ("cannot exclude seizure", "uncertain"),
    ("may represent seizure", "uncertain"),
    ("likely seizure", "uncertain"),
    ("probable seizure", "uncertain"),
    ("? seizure", "uncertain"),
    ("?seizure", "uncertain"),
    # history before: not a new finding
    ("history of seizure", "history"),
    ("h/o seizure", "history"),
    ("hx of seizure", "history"),
    ("PMH seizure disorder", "history"),
    ("past medical history seizure", "history"),
    ("prior seizure", "history"),
    ("previous seizure", "history"),
    ("remote seizure", "history"),
    ("in childhood seizure", "history"),
    ("h/o seizure, now new seizure", "history"),
    # qualifier after, within the phrase: not a finding
    ("seizure prophylaxis with levetiracetam", "negated"),
    ("seizure precautions", "negated"),
    ("seizure risk discussed", "negated"),
    ("seizure screening", "negated"),
    ("seizure ruled out", "negated"),
    ("seizure resolved", "negated"),
    ("seizure excluded", "negated"),
    ("seizure unlikely", "negated"),
    ("seizure not seen", "negated"),
    ("seizure, prophylaxis", "affirmed"),
]


@pytest.mark.parametrize(("text", "expected"), PHRASES)
def test_cues_apply_within_their_phrase(text: str, expected: str) -> None:
    assert certainty(text) == expected


def test_the_second_mention_is_read_in_its_own_phrase() -> None:
    text = "no seizure yesterday, new seizure today"
    read = READER.read(text)
    first = text.index("seizure")
    second = text.index("seizure", first + 1)
    assert READER.certainty(read, first, first + 7) == "negated"
    assert READER.certainty(read, second, second + 7) == "affirmed"


def test_text_beyond_the_cap_is_not_read() -> None:
    assert READER.clip("x" * (READER.max_text_chars + 50)) == "x" * READER.max_text_chars
