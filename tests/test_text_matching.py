"""Phrase-scoped reading of free text (clinical/knowledge/text.py): what a cue before or after a name
means, that scope ends at a phrase break, and that the work is linear in the text (a long note with
many names and cues is read once, not once per name)."""

from __future__ import annotations

import re
import tracemalloc

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
    for kind, cues in (
        ("negated", TEXT_RULES.negation_before),
        ("history", TEXT_RULES.history_before),
        ("uncertain", TEXT_RULES.uncertainty_before),
    ):
        if any(True for _ in TextMatcher((cue, cue) for cue in cues).find(prefix)):
            return kind
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
