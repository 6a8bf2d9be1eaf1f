"""Free-text matching, linear in the length of the text.

- Names match whole words, case-insensitively, with spaces and hyphens interchangeable ("CAR T-cell" =
  "CAR-T cell"). Short all-capital acronyms ("MR", "ICANS", "PRES") match only in capitals, so "Mr Smith"
  is not an MRI.
- A name's *context* is read NegEx-style within its phrase: a phrase ends at `. ; ,`, a line break, or a
  phrase-breaking word ("but", "however"). A cue before the name in the same phrase makes it negated
  ("no seizure"), historical ("history of seizures") or uncertain ("r/o ICANS"); a qualifier right after
  it ("seizure prophylaxis") negates it.
- Each text element is read up to `max_text_chars`: the cap bounds the work one element can cause.
  Coded concepts, displays and short result strings, which is what the rules read, are far below it.

Every text is scanned once per matcher: cue positions are found in one pass and looked up by bisection,
so a long text with many names and cues costs O(n log n), never O(n^2).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from clinical.knowledge.schema import TextMatchingFile

T = TypeVar("T")
Certainty = Literal["affirmed", "uncertain", "negated", "history"]
_SEPARATORS = re.compile(r"[\s\-]+")
_ACRONYM = re.compile(r"^[A-Z]{2,5}$")
_WORD = re.compile(r"\w+")
# (matcher, text) -> matches, while `remembering_texts()` is active.
_TEXT_MEMO: ContextVar[dict[tuple[object, str], Any] | None] = ContextVar("text_memo", default=None)


@contextmanager
def remembering_texts() -> Iterator[None]:
    """Within this block each matcher scans a given text once: a heavy record repeats the same drug
    and condition names thousands of times. Scoped to the block (one evaluation), so no patient text
    outlives it; the memo holds whole element texts only, so it is bounded by the record's size."""
    token = _TEXT_MEMO.set({})
    try:
        yield
    finally:
        _TEXT_MEMO.reset(token)


def normalise_name(text: str) -> str:
    return _SEPARATORS.sub(" ", text.casefold()).strip()


@dataclass(frozen=True)
class TextMatch(Generic[T]):
    value: T
    start: int
    end: int


@dataclass(frozen=True)
class _Group:
    """The names of one case rule (capital-only acronyms, or case-insensitive names): one pattern per
    leading word, so that a text is scanned only for the names whose leading word it contains, and
    one pattern of them all for texts where words cannot be compared reliably (non-ASCII)."""

    folded: bool
    heads: frozenset[str]
    by_head: dict[str, re.Pattern[str]]
    headless: re.Pattern[str] | None  # names with no ASCII leading word: always scanned
    everything: re.Pattern[str]


def _alternation(patterns: list[str], flags: int) -> re.Pattern[str]:
    # Longest first: at one position the longest name wins ("hepatic encephalopathy" over
    # "encephalopathy").
    return re.compile(rf"(?<!\w)(?:{'|'.join(sorted(patterns, key=len, reverse=True))})(?!\w)", flags)


class TextMatcher(Generic[T]):
    """Finds any of many names in free text: whole words, leftmost and longest name first."""

    def __init__(self, names: Iterable[tuple[str, T]]) -> None:
        self._values: dict[str, T] = {}
        grouped: list[dict[str | None, list[str]]] = [{}, {}]
        for name, value in names:
            self._values.setdefault(normalise_name(name), value)
            tokens = [token for token in _SEPARATORS.split(name.strip()) if token]
            pattern = r"[\s\-]+".join(re.escape(token) for token in tokens)
            kind = 0 if _ACRONYM.match(name.strip()) else 1
            head = _WORD.match(name.strip())
            key = None
            if head is not None and head.group(0).isascii() and head.end() == len(tokens[0]):
                key = head.group(0) if kind == 0 else head.group(0).lower()
            grouped[kind].setdefault(key, []).append(pattern)
        self._groups = [
            _Group(
                folded=folded,
                heads=frozenset(head for head in heads if head is not None),
                by_head={head: _alternation(p, flags) for head, p in heads.items() if head is not None},
                headless=_alternation(heads[None], flags) if None in heads else None,
                everything=_alternation([p for group in heads.values() for p in group], flags),
            )
            for heads, flags, folded in ((grouped[0], 0, False), (grouped[1], re.IGNORECASE, True))
            if heads
        ]

    def find(self, text: str) -> Iterator[TextMatch[T]]:
        memo = _TEXT_MEMO.get()
        if memo is None:
            return iter(self._scan(text))
        key = (self, text)
        found = memo.get(key)
        if found is None:
            found = memo[key] = self._scan(text)
        return iter(found)

    def _scan(self, text: str) -> tuple[TextMatch[T], ...]:
        candidates: list[re.Match[str]] = []
        for group in self._groups:
            if not text.isascii():
                candidates.extend(group.everything.finditer(text))
                continue
            for head in group.heads.intersection(_words(text, group.folded)):
                candidates.extend(group.by_head[head].finditer(text))
            if group.headless is not None:
                candidates.extend(group.headless.finditer(text))
        if not candidates:
            return ()
        if len(candidates) == 1:
            match = candidates[0]
            name = normalise_name(match.group(0))
            return (
                (TextMatch(self._values[name], match.start(), match.end()),) if name in self._values else ()
            )
        # Leftmost, then longest: overlapping candidates from different leading words resolve as one
        # alternation over all names would.
        candidates.sort(key=lambda match: (match.start(), -match.end()))
        found: list[TextMatch[T]] = []
        taken_to = -1
        for match in candidates:
            name = normalise_name(match.group(0))
            if match.start() < taken_to or name not in self._values:
                continue
            found.append(TextMatch(self._values[name], match.start(), match.end()))
            taken_to = match.end()
        return tuple(found)

    def first(self, text: str) -> T | None:
        for match in self.find(text):
            return match.value
        return None


def _words(text: str, folded: bool) -> frozenset[str]:
    """The whole words of a text (lower-cased when `folded`), shared by every matcher within one
    `remembering_texts()` block: many matchers read the same text."""
    memo = _TEXT_MEMO.get()
    key = (folded, text)
    if memo is not None:
        cached = memo.get(key)
        if cached is not None:
            words: frozenset[str] = cached
            return words
    found = frozenset(_WORD.findall(text.lower() if folded else text))
    if memo is not None:
        memo[key] = found
    return found


@dataclass(frozen=True)
class _CueTrack:
    """Positions of one kind of cue in one text, in order (cue matches never overlap)."""

    starts: list[int]
    ends: list[int]

    def any_between(self, lower: int, upper: int) -> bool:
        """A cue lying wholly inside [lower, upper)."""
        index = bisect_left(self.starts, lower)
        return index < len(self.starts) and self.ends[index] <= upper

    def any_starting_between(self, lower: int, upper: int) -> bool:
        index = bisect_left(self.starts, lower)
        return index < len(self.starts) and self.starts[index] < upper


@dataclass(frozen=True)
class ReadText:
    """One text with its phrase boundaries and cue positions, ready for `certainty()` lookups."""

    text: str
    break_starts: list[int]
    break_ends: list[int]
    before: dict[Certainty, _CueTrack]
    after: _CueTrack
    after_uncertain: _CueTrack


class PhraseReader:
    """The context of a name in free text (see the module docstring)."""

    _ORDER: tuple[Certainty, ...] = ("negated", "history", "uncertain")

    def __init__(self, rules: TextMatchingFile) -> None:
        self.max_text_chars = rules.max_text_chars
        words = "|".join(re.escape(word) for word in sorted(rules.phrase_breaks, key=len, reverse=True))
        self._breaks = re.compile(rf"[.;,\n]|(?<!\w)(?:{words})(?!\w)", re.IGNORECASE)
        # One matcher for every cue, each name with its roles: one scan of the text finds them all.
        roles: dict[str, set[str]] = {}
        for role, cues in (
            ("negated", rules.negation_before),
            ("history", rules.history_before),
            ("uncertain", rules.uncertainty_before),
            ("after", rules.qualifier_after),
            ("after_uncertain", rules.uncertainty_after),
        ):
            for cue in cues:
                if cue != "?":
                    roles.setdefault(cue, set()).add(role)
        self._cues: TextMatcher[frozenset[str]] = TextMatcher(
            (cue, frozenset(cue_roles)) for cue, cue_roles in roles.items()
        )
        # "?seizure": a question mark is a cue without a word boundary between it and the name.
        self._query_roles = frozenset(
            role
            for role, cues in (
                ("uncertain", rules.uncertainty_before),
                ("after_uncertain", rules.uncertainty_after),
            )
            if "?" in cues
        )
        self._after_window = rules.qualifier_after_max_chars
        self.absent_values = frozenset(normalise_name(value) for value in rules.absent_values)

    def clip(self, text: str) -> str:
        return text[: self.max_text_chars]

    def read(self, text: str) -> ReadText:
        breaks = list(self._breaks.finditer(text))
        cues = list(self._cues.find(text))
        if self._query_roles and "?" in text:
            queries = [TextMatch(self._query_roles, m.start(), m.end()) for m in _QUERY.finditer(text)]
            cues = sorted([*cues, *queries], key=lambda hit: hit.start)
        by_role: dict[str, list[TextMatch[frozenset[str]]]] = {}
        for cue in cues:
            for role in cue.value:
                by_role.setdefault(role, []).append(cue)
        return ReadText(
            text,
            [match.start() for match in breaks],
            [match.end() for match in breaks],
            {kind: _track(by_role.get(kind, ())) for kind in self._ORDER},
            _track(by_role.get("after", ())),
            _track(by_role.get("after_uncertain", ())),
        )

    def certainty(self, read: ReadText, start: int, end: int) -> Certainty:
        # The phrase holding [start, end): from the end of the last break before it to the next break.
        index = bisect_right(read.break_ends, start) - 1
        phrase_start = read.break_ends[index] if index >= 0 else 0
        following = bisect_left(read.break_starts, end)
        phrase_end = read.break_starts[following] if following < len(read.break_starts) else len(read.text)
        window_end = min(phrase_end, end + self._after_window + 1)
        if read.after_uncertain.any_starting_between(end, window_end):
            return "uncertain"
        if read.after.any_starting_between(end, window_end):
            return "negated"
        for kind in self._ORDER:
            if read.before[kind].any_between(phrase_start, start):
                return kind
        return "affirmed"


_QUERY = re.compile(r"\?")


def _track(matches: Iterable[TextMatch[Any]]) -> _CueTrack:
    starts: list[int] = []
    ends: list[int] = []
    last_end = -1
    for match in matches:
        if match.start >= last_end:  # two cue lists may overlap ("rule out" / "ruled out"): keep the first
            starts.append(match.start)
            ends.append(match.end)
            last_end = match.end
    return _CueTrack(starts, ends)
