"""Every code and every name the clinical knowledge matches, in one place: the fast reject (issue 21).

Most of a real record is irrelevant to the rules (antihypertensives, weights, unrelated diagnoses). Built
once at start-up from the matchers themselves (every `CodeIndex` and `TextMatcher` the vocabularies
hold), a `TermCatalog` answers two questions cheaply, and only ever errs towards "maybe":

- `names_code(system, code)`: whether any code index would find this coding (exact codes in one set,
  `match: prefix` families by their prefix lengths), with the same system and code normalisation;
- `may_name(text)`: whether any text matcher could find a name in this text. A `TextMatcher` only
  looks for a name whose leading word stands as a whole word in the text, so a text none of whose
  words is a leading word of some name (after case and umlaut folding) names nothing. Names without an
  ASCII leading word are looked for with one pattern of them all; a text that stays non-ASCII after
  folding, or that holds markup (an entity or a tag could hide a word), answers "maybe".

A catalog built from a knowledge change picks up its new codes and names by itself: nothing here lists
them. The cue matchers of a `PhraseReader` (negation, history, ...) and every `QualifierMatcher` (words
read only around another matcher's name: "as needed", "before", "not present") are left out: a cue or a
qualifier alone finds nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from clinical.knowledge.codes import CodeIndex, CodeSystems
from clinical.knowledge.text import (
    _SEPARATORS,
    PhraseReader,
    QualifierMatcher,
    TextMatcher,
    _fold_umlauts,
    normalise_name,
)

_WORD = re.compile(r"\w+")
# A FHIR date, dateTime or instant without fractional seconds ("2026-04-28T10:45:00-05:00"), most of
# the distinct texts of a large record. Its words are only ever of the shapes of `_DATE_WORD` ("2026",
# "04", "28t10", "00z"): when no name starts with such a word, a date names nothing.
_DATE_TIME = re.compile(
    r"[0-9]{4}(?:-[0-9]{2}(?:-[0-9]{2}(?:T[0-9]{2}:[0-9]{2}(?::[0-9]{2})?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?"
)
_DATE_WORD = re.compile(r"[0-9]{4}|[0-9]{2}|[0-9]{2}t[0-9]{2}|[0-9]{2}z")


@dataclass(frozen=True)
class _CodeSet:
    systems: CodeSystems
    exact: frozenset[tuple[str, str]]
    prefixes: frozenset[tuple[str, str]]
    prefix_lengths: tuple[int, ...]

    def names(self, system: str, code: str) -> bool:
        canonical = self.systems.canonical(system)
        normalised = self.systems.normalise_code(canonical, code)
        if normalised is None:
            return False
        if (canonical, normalised) in self.exact:
            return True
        return any(
            (canonical, normalised[:length]) in self.prefixes
            for length in self.prefix_lengths
            if length <= len(normalised)
        )


@dataclass(frozen=True)
class TermCatalog:
    code_sets: tuple[_CodeSet, ...]
    heads: frozenset[str]
    by_head: dict[str, re.Pattern[str]]
    headless: re.Pattern[str] | None
    dates_may_name: bool  # some name starts with a word a date is made of (or has no leading word)

    @classmethod
    def gathered_from(cls, *holders: object) -> TermCatalog:
        """The catalog of every `CodeIndex` and `TextMatcher` reachable from `holders` (attributes,
        lists, tuples, sets and dict values, followed once each)."""
        indexes: list[CodeIndex[Any]] = []
        matchers: list[TextMatcher[Any]] = []
        for found in _reachable(holders):
            if isinstance(found, CodeIndex):
                indexes.append(found)
            elif isinstance(found, TextMatcher) and not isinstance(found, QualifierMatcher):
                matchers.append(found)
        return cls.of(indexes, matchers)

    @classmethod
    def of(cls, indexes: Iterable[CodeIndex[Any]], matchers: Iterable[TextMatcher[Any]]) -> TermCatalog:
        by_systems: dict[int, tuple[CodeSystems, set[tuple[str, str]], set[tuple[str, str]]]] = {}
        for index in indexes:
            _, exact, prefixes = by_systems.setdefault(id(index.systems), (index.systems, set(), set()))
            exact.update(index.exact_keys())
            prefixes.update(index.prefix_keys())
        code_sets = tuple(
            _CodeSet(
                systems,
                frozenset(exact),
                frozenset(prefixes),
                tuple(sorted({len(code) for _, code in prefixes}, reverse=True)),
            )
            for systems, exact, prefixes in by_systems.values()
        )
        by_head: dict[str, tuple[set[str], set[str]]] = {}
        headless: set[str] = set()
        for matcher in matchers:
            for head, folded, pattern in matcher.patterns_by_head:
                by_head.setdefault(head, (set(), set()))[folded].add(pattern)
            for name, pattern in matcher.headless_names:
                # A name whose first word is not plain ASCII ("Hirnödem", "Bell's palsy") still needs
                # the first word of its folded spelling as a whole word of the folded text.
                first = _SEPARATORS.split(name.strip())[0]
                words = _WORD.findall(normalise_name(first))
                if words:
                    by_head.setdefault(words[0], (set(), set()))[True].add(pattern)
                else:
                    headless.add(pattern)
        patterns = {head: _head_pattern(*groups) for head, groups in by_head.items()}
        everything = re.compile("|".join(sorted(headless)), re.IGNORECASE) if headless else None
        dates_may_name = everything is not None or any(_DATE_WORD.fullmatch(head) for head in patterns)
        return cls(code_sets, frozenset(patterns), patterns, everything, dates_may_name)

    def names_code(self, system: str, code: str) -> bool:
        """Whether some code index of the knowledge holds this coding (or its prefix family)."""
        return any(code_set.names(system, code) for code_set in self.code_sets)

    def may_name(self, text: str) -> bool:
        """False only when no text matcher of the knowledge can find a name in `text`."""
        if not self.dates_may_name and _DATE_TIME.fullmatch(text):
            return False  # what the word test below would answer, at a fraction of its cost
        if text.isascii():
            folded = text.lower()
        else:
            folded = _fold_umlauts(text.casefold())
            if not folded.isascii():
                return True
        if "<" in folded or "&" in folded:
            return True
        if self.headless is not None and self.headless.search(text):
            return True
        words = _WORD.findall(folded)
        if self.heads.isdisjoint(words):
            return False
        # The names of each leading word found, matched as their TextMatcher matches them (in the text
        # as it is: a match there needs its leading word among the folded text's words).
        return any(self.by_head[head].search(text) for head in self.heads.intersection(words))


def _head_pattern(capitals_only: set[str], any_case: set[str]) -> re.Pattern[str]:
    """The names of one leading word as one pattern: acronyms in capitals only, the others in any case,
    whole words (the alternation `TextMatcher` builds)."""
    parts = sorted(capitals_only, key=len, reverse=True)
    if any_case:
        parts.append("(?i:" + "|".join(sorted(any_case, key=len, reverse=True)) + ")")
    return re.compile(rf"(?<!\w)(?:{'|'.join(parts)})(?!\w)")


def _reachable(holders: Iterable[object]) -> Iterator[object]:
    seen: set[int] = set()
    pending: list[object] = list(holders)
    while pending:
        item = pending.pop()
        if id(item) in seen or isinstance(item, (str, bytes, int, float, re.Pattern, PhraseReader)):
            continue
        seen.add(id(item))
        yield item
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            pending.extend(item)
        elif isinstance(item, (CodeIndex, TextMatcher)):
            continue
        elif not isinstance(item, type):
            if hasattr(item, "__dict__"):
                pending.extend(vars(item).values())
            for klass in type(item).__mro__:
                for slot in _slots(klass):
                    if hasattr(item, slot):
                        pending.append(getattr(item, slot))


def _slots(klass: type) -> tuple[str, ...]:
    slots = klass.__dict__.get("__slots__", ())
    return (slots,) if isinstance(slots, str) else tuple(slots)
