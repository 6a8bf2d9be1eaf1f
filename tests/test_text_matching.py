"""Phrase-scoped reading of free text (clinical/knowledge/text.py): what a cue before or after a name
means, that scope ends at a phrase break, and that the work is linear in the text (a long note with
many names and cues is read once, not once per name)."""

from __future__ import annotations

import re
import tracemalloc

import pytest
from clinical_support import evaluator
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.knowledge import PhraseReader, TextMatcher

TEXT_RULES = evaluator().knowledge.text
READER = PhraseReader(TEXT_RULES)
NAMES: TextMatcher[str] = TextMatcher([("seizure", "seizure"), ("aphasia", "aphasia"), ("ICANS", "icans")])


def certainties(text: str) -> list[tuple[str, str]]:
    read = READER.read(text)
    return [(hit.value, READER.certainty(read, hit.start, hit.end)) for hit in NAMES.find(text)]


TABLE = [
    ("new generalized seizure", [("seizure", "affirmed")]),
    ("No fever, new generalized seizure", [("seizure", "affirmed")]),
    ("no seizure", [("seizure", "negated")]),
    ("no headache or seizure", [("seizure", "negated")]),
    ("no fever but seizure overnight", [("seizure", "affirmed")]),
    ("negative for aphasia; seizure at 03:00", [("aphasia", "negated"), ("seizure", "affirmed")]),
    ("r/o ICANS", [("icans", "uncertain")]),
    ("possible seizure activity", [("seizure", "uncertain")]),
    ("History of seizures", []),  # "seizures" is not in this small matcher
    ("history of seizure", [("seizure", "history")]),
    ("h/o seizure, now aphasia", [("seizure", "history"), ("aphasia", "affirmed")]),
    ("seizure prophylaxis with levetiracetam", [("seizure", "negated")]),
    ("ICANS ruled out", [("icans", "negated")]),
    ("no evidence of ICANS however new aphasia", [("icans", "negated"), ("aphasia", "affirmed")]),
]


def test_cues_are_read_within_their_phrase() -> None:
    for text, expected in TABLE:
        assert certainties(text) == expected, text


_BREAK = re.compile(
    r"[.;,\n]|\b(?:but|however|although|though|except|yet|which|who|whereas)\b", re.IGNORECASE
)


def naive_certainty(text: str, start: int, end: int) -> str:
    """The same rule written the slow, obvious way: rescan the phrase for every name."""
    phrase_start = max((m.end() for m in _BREAK.finditer(text) if m.end() <= start), default=0)
    following = [m.start() for m in _BREAK.finditer(text) if m.start() >= end]
    phrase_end = following[0] if following else len(text)
    after = TextMatcher((cue, cue) for cue in TEXT_RULES.qualifier_after)
    # A qualifier counts when it begins within qualifier_after_max_chars of the name, in its phrase.
    limit = TEXT_RULES.qualifier_after_max_chars
    if any(hit.start <= limit for hit in after.find(text[end:phrase_end])):
        return "negated"
    prefix = text[phrase_start:start]
    if any(True for _ in TextMatcher((cue, cue) for cue in TEXT_RULES.negation_before).find(prefix)):
        return "negated"
    # A history cue counts unless a word of the present ("new", "now") comes later, not right after it.
    history = list(TextMatcher((cue, cue) for cue in TEXT_RULES.history_before).find(prefix))
    if history:
        ends = TextMatcher((cue, cue) for cue in TEXT_RULES.history_scope_ends)
        if not any(hit.start >= history[-1].end + 2 for hit in ends.find(prefix)):
            return "history"
    if any(True for _ in TextMatcher((cue, cue) for cue in TEXT_RULES.uncertainty_before).find(prefix)):
        return "uncertain"
    return "affirmed"


WORDS = [
    "no",
    "new",
    "seizure",
    "aphasia",
    "ICANS",
    "r/o",
    "history of",
    "prophylaxis",
    ",",
    "but",
    "fever",
    ".",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=25))
def test_the_linear_reader_agrees_with_the_obvious_rule(words: list[str]) -> None:
    text = " ".join(words)
    read = READER.read(text)
    for hit in NAMES.find(text):
        assert READER.certainty(read, hit.start, hit.end) == naive_certainty(text, hit.start, hit.end), text


def test_a_long_text_is_read_in_memory_proportional_to_its_length() -> None:
    # 20,000 characters (the per-element cap) of names and cues with no phrase break: the v1 reader
    # rescanned and memoised every prefix here (quadratic time and memory).
    text = ("no seizure aphasia r/o ICANS " * 800)[: TEXT_RULES.max_text_chars]
    tracemalloc.start()
    read = READER.read(text)
    found = [READER.certainty(read, hit.start, hit.end) for hit in NAMES.find(text)]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(found) > 1000
    assert peak < 200 * len(text)


def test_each_text_element_is_read_up_to_the_cap() -> None:
    vocabulary = evaluator().vocabularies.findings
    within = "x " * 100 + "new generalized seizure"
    beyond = "x " * TEXT_RULES.max_text_chars + "new generalized seizure"
    assert [kind.id for kind, _, _ in vocabulary.named(within)] == ["seizure"]
    assert list(vocabulary.named(beyond)) == []


# v3 (neurotoxicity probe of 2026-11-29): classes of phrase the v2 reader got wrong, both ways.
V3_NAMES: TextMatcher[str] = TextMatcher(
    [
        ("seizure", "seizure"),
        ("seizures", "seizure"),
        ("confusion", "confusion"),
        ("headache", "headache"),
        ("tremor", "tremor"),
        ("aphasia", "aphasia"),
        ("neuropathy", "neuropathy"),
        ("peripheral neuropathy", "neuropathy"),
        ("ICANS", "icans"),
        ("fever", "fever"),
        ("chills", "chills"),
    ]
)


def v3_certainty(text: str, name: str) -> str:
    read = READER.read(text)
    found = [READER.certainty(read, hit.start, hit.end) for hit in V3_NAMES.find(text) if hit.value == name]
    assert found, f"{name!r} not found in {text!r}"
    return found[-1]


V3_TABLE = [
    # A form answer after the name.
    ("seizure: no", "seizure", "negated"),
    ("Seizure: none", "seizure", "negated"),
    ("Seizure? No", "seizure", "negated"),
    ("Tremor - none", "tremor", "negated"),
    ("Seizure? Yes", "seizure", "affirmed"),
    ("Confusion: present", "confusion", "affirmed"),
    ("seizure?", "seizure", "uncertain"),
    # A finding named only as something to watch for, teach, prevent or rate as grade 0.
    ("at risk for ICANS", "icans", "negated"),
    ("monitor for ICANS", "icans", "negated"),
    ("monitoring for ICANS", "icans", "negated"),
    ("ICANS monitoring per protocol", "icans", "negated"),
    ("ICANS education given", "icans", "negated"),
    ("patient educated on signs of ICANS", "icans", "negated"),
    ("ICANS grade 0", "icans", "negated"),
    ("CRS grade 2, ICANS grade 0", "icans", "negated"),
    ("low suspicion for ICANS", "icans", "negated"),
    ("ICANS not suspected", "icans", "negated"),
    ("prophylactic levetiracetam for seizures", "seizure", "negated"),
    ("levetiracetam for seizure prevention", "seizure", "negated"),
    ("ICANS", "icans", "affirmed"),
    ("concern for ICANS", "icans", "uncertain"),
    # Not the patient's, or not new.
    ("FHx: epilepsy, seizures in mother", "seizure", "negated"),
    ("mother had seizures", "seizure", "history"),
    ("family history of seizures", "seizure", "history"),
    ("pre-existing neuropathy", "neuropathy", "history"),
    ("baseline neuropathy", "neuropathy", "history"),
    ("history of seizure in 2019 and new seizure today", "seizure", "affirmed"),
    ("history of new-onset seizures", "seizure", "history"),
    ("mother reports new confusion", "confusion", "affirmed"),
    # A named alternative cause; "due to ICANS" is no alternative.
    ("confusion due to opioid toxicity", "confusion", "negated"),
    ("confusion secondary to hyponatraemia", "confusion", "negated"),
    ("seizure due to brain metastases", "seizure", "negated"),
    ("confusion attributed to sedation", "confusion", "negated"),
    ("chemotherapy-induced peripheral neuropathy", "neuropathy", "negated"),
    ("confusion due to ICANS", "confusion", "affirmed"),
    ("confusion following infusion", "confusion", "affirmed"),
    # A negated list runs over commas; a new statement ends it.
    ("no headache, confusion or seizure", "seizure", "negated"),
    ("no headache, confusion or seizure", "confusion", "negated"),
    ("no fever, chills, seizure or confusion", "seizure", "negated"),
    ("no tremor, aphasia, or confusion", "aphasia", "negated"),
    ("denies confusion, seizures, tremor", "tremor", "negated"),
    ("No fever, new generalized seizure", "seizure", "affirmed"),
    ("Afebrile; no headache, new seizure", "seizure", "affirmed"),
    ("no fever or chills, seizure overnight", "seizure", "affirmed"),
    ("no seizure, confusion", "confusion", "affirmed"),
    ("denies headache, reports confusion", "confusion", "affirmed"),
    # ... and the name must end its item (or a joiner follows it): words after it make a statement.
    ("Denies fever, seizure at 3 am", "seizure", "affirmed"),
    ("denies fever, confusion and seizures", "confusion", "negated"),
    ("denies fever, confusion and seizures", "seizure", "negated"),
    ("no headache, confusion or seizure at night", "seizure", "affirmed"),
    # A qualifier after the name does not apply across "despite" / "on" (a breakthrough event).
    ("seizure despite levetiracetam prophylaxis", "seizure", "affirmed"),
    ("breakthrough seizure on prophylaxis", "seizure", "affirmed"),
    ("seizure prophylaxis on levetiracetam", "seizure", "negated"),
    # NegEx pseudo-negations: a negation word that does not negate.
    ("no improvement in confusion", "confusion", "affirmed"),
    ("confusion not resolved", "confusion", "affirmed"),
    ("confusion resolved", "confusion", "negated"),
]


@pytest.mark.parametrize(("text", "name", "expected"), V3_TABLE, ids=[row[0] for row in V3_TABLE])
def test_v3_phrase_classes(text: str, name: str, expected: str) -> None:
    assert v3_certainty(text, name) == expected


# --- v3 context words (issue 16 section 2), read wherever the words are: Condition text, a note's value,
# an observation's coded value text. Each row is a finding kind list per place. -------------------------

from clinical_support import note as _note  # noqa: E402
from clinical_support import timeline as _timeline  # noqa: E402


def _in_every_place(text: str) -> list[list[str]]:
    places: list[dict[str, object]] = [
        {
            "resourceType": "Condition",
            "id": "c1",
            "code": {"text": text},
            "onsetDateTime": "2026-06-14",
        },
        _note(text, -1),
        {
            "resourceType": "Observation",
            "id": "o2",
            "status": "final",
            "code": {"text": "Nursing assessment"},
            "valueCodeableConcept": {"text": text},
            "effectiveDateTime": "2026-06-14",
        },
    ]
    return [sorted({f.kind.id for f in _timeline([place]).findings}) for place in places]


V3_CONTEXT = [
    # A relative or witness reporting the patient's event: the patient's finding.
    ("wife witnessed his seizure", ["seizure"]),
    ("per his daughter he was confused last night", ["altered-mental-status"]),
    ("son reports she was disoriented", ["altered-mental-status"]),
    ("witnessed by husband: generalized seizure", ["seizure"]),
    ("mother states he had a seizure", ["seizure"]),
    ("mother has noticed that he is confused", ["altered-mental-status"]),
    ("daughter has seen him have a seizure", ["seizure"]),
    ("brought in by daughter with confusion", ["altered-mental-status"]),
    ("Mother: reports he had a seizure", ["seizure"]),
    ("son has noticed word finding difficulty", ["aphasia"]),
    # Family history: the relative's own condition.
    ("mother had a seizure", []),
    ("FHx: seizures in brother", []),
    ("family history of stroke", []),
    ("seizures in his mother", []),
    ("Sister: seizure disorder", []),
    ("seizures - maternal aunt", []),
    ("Mother with seizures", []),
    ("patient reports his mother had seizures", []),
    ("Maternal report of a seizure overnight", ["seizure"]),
    ("seizure in mother's arms", ["seizure"]),
    # A flare of a known disease is a new event; a stable one is history.
    ("exacerbation of pre-existing myasthenia gravis", ["myasthenia-gravis"]),
    ("pre-existing myasthenia gravis with acute exacerbation", ["myasthenia-gravis"]),
    ("MG flare", ["myasthenia-gravis"]),
    ("pre-existing MG flare", ["myasthenia-gravis"]),
    ("worsening of chronic CIDP", ["cidp"]),
    ("acute on chronic CIDP", ["cidp"]),
    ("MS relapse", ["cns-demyelination"]),
    ("history of myasthenia, stable", []),
    ("chronic myasthenia without exacerbation", []),
    ("history of myasthenia gravis with exacerbation", []),
    # CRS is no alternative cause; a named cause is.
    ("confusion in the setting of CRS", ["altered-mental-status"]),
    ("encephalopathy secondary to CRS", ["encephalopathy"]),
    ("confusion in the setting of CRS with hypotension", ["altered-mental-status"]),
    ("encephalopathy due to CRS vs sepsis", ["encephalopathy"]),
    ("seizure with grade 2 CRS", ["seizure"]),
    ("confusion due to sepsis", []),
    ("confusion due to sepsis vs CRS", ["altered-mental-status"]),
    ("seizure prophylaxis after CAR-T", []),
    # Chemotherapy neuropathy and alcohol withdrawal, with their stated cause: no finding.
    ("vincristine-induced neuropathy", []),
    ("vincristine neuropathy", []),
    ("neuropathy due to oxaliplatin", []),
    ("carboplatin-related peripheral neuropathy", []),
    ("neuropathy due to chemotherapy", []),
    ("CIPN", []),
    ("alcohol withdrawal delirium", []),
    ("delirium tremens", []),
    ("alcohol withdrawal seizure", []),
    # Without a stated cause they stay findings.
    ("peripheral neuropathy", ["neuropathy"]),
    ("Drug-induced polyneuropathy", ["neuropathy"]),
    ("medication-induced neuropathy", ["neuropathy"]),
    ("aphasia after chemotherapy and CAR-T infusion", ["aphasia-frank"]),
    ("confusion, likely alcohol withdrawal", ["altered-mental-status"]),
]


@pytest.mark.parametrize(("text", "expected"), V3_CONTEXT)
def test_v3_context_words_are_read_the_same_in_every_place(text: str, expected: list[str]) -> None:
    assert _in_every_place(text) == [expected, expected, expected], text


def test_a_person_cue_is_cancelled_only_by_a_reporting_word_before_the_finding() -> None:
    read = READER.read("mother had a seizure witnessed by her family")
    hit = next(iter(NAMES.find("mother had a seizure witnessed by her family")))
    assert READER.certainty(read, hit.start, hit.end) == "history"


# --- issue 19: German spelling and abbreviations -------------------------------------------------------

GERMAN_NAMES: TextMatcher[str] = TextMatcher(
    [("Krampfanfälle", "seizure"), ("Hirnödem", "edema"), ("ICANS", "icans")]
)


@pytest.mark.parametrize(
    "text", ["Krampfanfälle", "Krampfanfaelle", "KRAMPFANFÄLLE", "KRAMPFANFAELLE", "Hirnödem", "Hirnoedem"]
)
def test_a_name_written_with_an_umlaut_matches_its_ascii_spelling(text: str) -> None:
    assert GERMAN_NAMES.first(text) is not None, text


def test_an_ascii_spelling_in_a_text_with_other_umlauts_still_matches() -> None:
    text = "Übelkeit, zudem Krampfanfaelle über Nacht"
    assert [hit.value for hit in GERMAN_NAMES.find(text)] == ["seizure"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("V.a. ICANS", "uncertain"),  # the abbreviation's full stops end no phrase
        ("V. a. ICANS", "uncertain"),
        ("Z.n. Krampfanfälle 2019", "history"),
        ("St.p. Krampfanfälle", "history"),
        ("Neurologisch o.B. Krampfanfälle heute", "affirmed"),  # a real full stop still ends a phrase
        ("kein Fieber. Krampfanfälle heute", "affirmed"),
        ("Verdacht auf ICANS", "uncertain"),
        ("nicht auszuschliessen: keine Krampfanfälle", "negated"),
    ],
)
def test_german_cues_and_abbreviations_are_read_within_their_phrase(text: str, expected: str) -> None:
    read = READER.read(text)
    hit = next(iter(GERMAN_NAMES.find(text)))
    assert READER.certainty(read, hit.start, hit.end) == expected, text
