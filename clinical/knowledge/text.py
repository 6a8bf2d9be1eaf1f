"""Free-text matching, linear in the length of the text.

- Names match whole words, case-insensitively, with spaces and hyphens interchangeable ("CAR T-cell" =
  "CAR-T cell"). Short all-capital acronyms ("MR", "ICANS", "PRES") match only in capitals, so "Mr Smith"
  is not an MRI.
- A name's *context* is read NegEx-style within its phrase: a phrase ends at `. ; ,`, a line break, or a
  phrase-breaking word ("but", "however"). A cue before the name in the same phrase makes it negated
  ("no seizure", "monitor for ICANS", "chemotherapy-induced neuropathy"), historical ("history of
  seizures", "family history", "pre-existing") or uncertain ("r/o ICANS"); a history cue's scope ends at
  a word that starts the present ("history of seizure in 2019 and new seizure today"). A qualifier right
  after it ("seizure prophylaxis", "ICANS monitoring", "seizures in mother"), a form answer ("Seizure:
  no", "Seizure? No") or a named alternative cause ("confusion due to opioid toxicity") negates it.
- A noun of exclusion before the name ("Ausschluss einer Enzephalitis mittels LP erfolgt") negates it,
  unless the phrase says the exclusion is still to come ("... geplant"): then it is uncertain.
- A negation runs on over a comma-separated list of short items when the list is closed ("no headache,
  confusion or seizure") or the cue opens lists by itself ("denies confusion, seizures, weakness"); a
  word that starts a new statement ends the list ("No fever, new generalized seizure").
- Each text element is read up to `max_text_chars`: the cap bounds the work one element can cause.
  Coded concepts, displays and short result strings, which is what the rules read, are far below it.

Every text is scanned once per matcher: cue positions are found in one pass and looked up by bisection,
so a long text with many names and cues costs O(n log n), never O(n^2).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
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
    outlives it; the memo holds whole element texts only, so it is bounded by the record's size. A
    block within another shares the outer block's memo (a burden run reads one patient's chart again on
    each day something entered it, and keeps one memo for the patient)."""
    active = _TEXT_MEMO.get()
    token = _TEXT_MEMO.set({} if active is None else active)
    try:
        yield
    finally:
        _TEXT_MEMO.reset(token)


def remembered(owner: object, text: str, compute: Callable[[str], T]) -> T:
    """`compute(text)`, once per (owner, text) within a `remembering_texts()` block: a reader that
    derives something from a whole text (its not-exposure mentions, its response statement) reads a
    repeated text once, like the matchers do."""
    memo = _TEXT_MEMO.get()
    if memo is None:
        return compute(text)
    key = (owner, text)
    if key in memo:
        found: T = memo[key]
        return found
    value = memo[key] = compute(text)
    return value


def normalise_name(text: str) -> str:
    return _SEPARATORS.sub(" ", _fold_umlauts(text.casefold())).strip()


# German umlauts and their ASCII spellings are the same letters ("Hirnödem" = "Hirnoedem"); casefold
# already writes "ß" as "ss". A name written with an umlaut matches both spellings in a text.
_UMLAUT_ASCII = {"ä": "ae", "ö": "oe", "ü": "ue"}
_UMLAUT_FOLD = str.maketrans(_UMLAUT_ASCII)
_UMLAUT_PATTERN = {"ä": "(?:ä|ae)", "ö": "(?:ö|oe)", "ü": "(?:ü|ue)", "ß": "(?:ß|ss)"}


def _fold_umlauts(folded: str) -> str:
    return folded.translate(_UMLAUT_FOLD)


def _token_pattern(token: str) -> str:
    """A name's word as a pattern: an umlaut (or ß) matches its ASCII spelling too."""
    return "".join(_UMLAUT_PATTERN.get(char.lower(), re.escape(char)) for char in token)


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
        headless: list[tuple[str, str]] = []
        for name, value in names:
            self._values.setdefault(normalise_name(name), value)
            tokens = [token for token in _SEPARATORS.split(name.strip()) if token]
            pattern = r"[\s\-]+".join(_token_pattern(token) for token in tokens)
            kind = 0 if _ACRONYM.match(name.strip()) else 1
            head = _WORD.match(name.strip())
            key = None
            if head is not None and head.group(0).isascii() and head.end() == len(tokens[0]):
                key = head.group(0) if kind == 0 else head.group(0).lower()
            grouped[kind].setdefault(key, []).append(pattern)
            if key is None:
                headless.append((name, pattern))
        # What the fast reject (clinical/knowledge/catalog.py) needs to rule a text out: each name's
        # pattern by its leading word (lower-cased) and case rule, and the names without one.
        self.patterns_by_head = tuple(
            (head.lower(), kind == 1, pattern)
            for kind, group in enumerate(grouped)
            for head, patterns in group.items()
            if head is not None
            for pattern in patterns
        )
        self.headless_names = tuple(headless)
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
        # Every leading word in lower case, when every name has one: an ASCII text none of whose
        # lower-cased words is among them holds no name of either group (a capital-only word is in the
        # lower-cased text too), so it is ruled out with one look at its words.
        self._lower_heads: frozenset[str] | None = (
            frozenset(head.lower() for group in self._groups for head in group.heads)
            if all(group.headless is None for group in self._groups)
            else None
        )

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
        ascii_only = text.isascii()
        if ascii_only and self._lower_heads is not None and self._lower_heads.isdisjoint(_words(text, True)):
            return ()
        candidates: list[re.Match[str]] = []
        for group in self._groups:
            if not ascii_only:
                candidates.extend(group.everything.finditer(text))
                continue
            words = _words(text, group.folded)
            if not group.heads.isdisjoint(words):  # most texts hold no leading word: no set is made
                for head in group.heads.intersection(words):
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


class QualifierMatcher(TextMatcher[T]):
    """Words read only around a name another matcher found in the same text ("as needed" before a
    finding in an order's instructions, "before" after a bridging label and before a therapy, "not
    present" near a device): on their own they are no fact. The fast reject's catalog leaves them out,
    as it leaves out a phrase reader's cues, so an instruction such as "10 mg PO before meals" does
    not keep an unrelated medication."""


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

    def covers(self, position: int) -> bool:
        """A cue starting before `position` and running past it."""
        index = bisect_right(self.starts, position - 1) - 1
        return index >= 0 and self.ends[index] > position

    def first_starting_between(self, lower: int, upper: int) -> tuple[int, int] | None:
        index = bisect_left(self.starts, lower)
        if index < len(self.starts) and self.starts[index] < upper:
            return self.starts[index], self.ends[index]
        return None

    def last_between(self, lower: int, upper: int) -> tuple[int, int] | None:
        """The last cue lying wholly inside [lower, upper), as (start, end)."""
        index = bisect_right(self.ends, upper) - 1
        if index >= 0 and self.starts[index] >= lower:
            return self.starts[index], self.ends[index]
        return None

    def last_end_between(self, lower: int, upper: int) -> int | None:
        """The end of the last cue lying wholly inside [lower, upper)."""
        index = bisect_right(self.ends, upper) - 1
        if index >= 0 and self.starts[index] >= lower:
            return self.ends[index]
        return None


@dataclass(frozen=True)
class ReadText:
    """One text with its phrase boundaries and cue positions, ready for `certainty()` lookups."""

    text: str
    break_starts: list[int]
    break_ends: list[int]
    break_is_comma: list[bool]
    before: dict[Certainty, _CueTrack]
    after: _CueTrack
    after_uncertain: _CueTrack
    extra: dict[str, _CueTrack]  # the roles of _EXTRA_ROLES


class PhraseReader:
    """The context of a name in free text (see the module docstring)."""

    _ORDER: tuple[Certainty, ...] = ("negated", "history", "uncertain")

    def __init__(self, rules: TextMatchingFile) -> None:
        self.max_text_chars = rules.max_text_chars
        words = "|".join(re.escape(word) for word in sorted(rules.phrase_breaks, key=len, reverse=True))
        # An abbreviation's own full stops ("V.a.", "Z.n.") are matched first and are no break.
        abbreviations = "|".join(
            r"\s*".join(re.escape(part) for part in abbreviation.split())
            for abbreviation in sorted(rules.abbreviations, key=len, reverse=True)
        )
        no_break = rf"(?<!\w)(?P<abbreviation>{abbreviations})(?!\w)|" if abbreviations else ""
        self._breaks = re.compile(rf"{no_break}[.;,\n]|(?<!\w)(?:{words})(?!\w)", re.IGNORECASE)
        # Sentence ends for quoting a report: a full stop, "!" or "?" before white space, or a line break;
        # an abbreviation's stops ("V.a. Progress", "Dr. Meier", "li. frontal") end no sentence.
        # The white space after an abbreviation is taken with it, so its stop is not seen from there.
        no_end = rf"(?<!\w)(?P<abbreviation>{abbreviations})(?!\w)[ \t]*|" if abbreviations else ""
        self._sentence_ends = re.compile(rf"{no_end}(?<=[.!?])\s+|\n+", re.IGNORECASE)
        # One matcher for every cue, each name with its roles: one scan of the text finds them all.
        roles: dict[str, set[str]] = {}
        causes = rules.alternative_cause_after
        lists = rules.negated_lists
        reported = rules.reported_by_others
        flare = rules.flare_of_known_disease
        exclusion = rules.exclusion_before
        for role, cues in (
            ("negated", rules.negation_before),
            ("adjacent_before", rules.alternative_cause_before),
            ("history", rules.history_before),
            ("uncertain", rules.uncertainty_before),
            ("after", rules.qualifier_after),
            ("after_uncertain", rules.uncertainty_after),
            ("history_end", rules.history_scope_ends),
            ("adjacent", rules.qualifier_adjacent_after),
            ("connector", causes.connectors if causes else []),
            ("cause", causes.causes if causes else []),
            ("list_cue", lists.list_cues if lists else []),
            ("closer", lists.closers if lists else []),
            ("reset", lists.resets if lists else []),
            ("joiner", lists.joiners if lists else []),
            ("blocker", rules.qualifier_after_blockers),
            ("not_cause", causes.not_causes if causes else []),
            ("reporting", reported.reporting if reported else []),
            ("reporter_before", reported.reporter_prepositions if reported else []),
            ("flare", flare.words if flare else []),
            ("chronic", flare.chronicity_cues if flare else []),
            ("exclusion", exclusion.cues if exclusion else []),
            ("exclusion_pending", exclusion.pending if exclusion else []),
            # A pseudo-negation is matched only so that, being longer, it hides the negation word it
            # starts with ("no improvement" over "no"); nothing reads its own role.
            ("pseudo", rules.pseudo_negations),
        ):
            for cue in cues:
                if cue != "?":
                    roles.setdefault(cue, set()).add(role)
        # A history cue that names another person ("mother has", "sister:"): that person's condition,
        # unless the person reports the patient's event.
        persons = frozenset(normalise_name(person) for person in (reported.persons if reported else []))
        for cue in rules.history_before:
            first = _WORD_RUN.search(cue)
            if first is not None and normalise_name(first.group(0)) in persons:
                roles.setdefault(cue, set()).add("person")
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
        self._cause_window = causes.max_chars_to_cause if causes else 0
        self._connectors = tuple(normalise_name(c) for c in (causes.connectors if causes else []))
        self._lists = lists
        self._answer: re.Pattern[str] | None = None
        self._absent_answers: frozenset[str] = frozenset()
        self.present_values: frozenset[str] = frozenset()
        answers = rules.answer_after
        if answers is not None:
            answer_words = sorted([*answers.absent, *answers.present], key=len, reverse=True)
            alternatives = "|".join(r"[\s\-]+".join(map(re.escape, word.split())) for word in answer_words)
            self._answer = re.compile(
                rf"[ \t]*[{re.escape(answers.separators)}]+[ \t]*({alternatives})(?!\w)", re.IGNORECASE
            )
            self._absent_answers = frozenset(normalise_name(word) for word in answers.absent)
            self.present_values = frozenset(normalise_name(word) for word in answers.present)
        self.absent_values = frozenset(normalise_name(value) for value in rules.absent_values)

    def clip(self, text: str) -> str:
        return text[: self.max_text_chars]

    def sentence_starts(self, text: str) -> list[int]:
        """Where each sentence of `text` starts (0 first); the abbreviations' stops start none."""
        ends = (match for match in self._sentence_ends.finditer(text) if match.lastgroup != "abbreviation")
        return [0, *(match.end() for match in ends)]

    def read(self, text: str) -> ReadText:
        breaks = [match for match in self._breaks.finditer(text) if match.lastgroup != "abbreviation"]
        is_comma = [match.group(0) == "," for match in breaks]
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
            is_comma,
            {kind: _track(by_role.get(kind, ())) for kind in self._ORDER},
            _track(by_role.get("after", ())),
            _track(by_role.get("after_uncertain", ())),
            {role: _track(by_role.get(role, ())) for role in _EXTRA_ROLES},
        )

    def certainty(self, read: ReadText, start: int, end: int) -> Certainty:
        # The phrase holding [start, end): from the end of the last break before it to the next break.
        index = bisect_right(read.break_ends, start) - 1
        phrase_start = read.break_ends[index] if index >= 0 else 0
        following = bisect_left(read.break_starts, end)
        phrase_end = read.break_starts[following] if following < len(read.break_starts) else len(read.text)
        answer = self._answer.match(read.text, end) if self._answer is not None else None
        if answer is not None:  # "Seizure: no", "Seizure? Yes"
            return "negated" if normalise_name(answer.group(1)) in self._absent_answers else "affirmed"
        window_end = min(phrase_end, end + self._after_window + 1)
        if read.after_uncertain.any_starting_between(end, window_end):
            return "uncertain"
        qualifier = read.after.first_starting_between(end, window_end)
        if (
            qualifier is not None
            and not read.extra["blocker"].any_starting_between(end, qualifier[0])
            and not self._cause_disputed(read, qualifier, phrase_end)
        ):
            return "negated"  # "seizure prophylaxis"; not "seizure despite prophylaxis"
        if read.extra["adjacent"].any_starting_between(end, min(phrase_end, end + _ADJACENT_CHARS + 1)):
            return "negated"  # "ICANS monitoring", "ICANS education"
        if self._explained_after(read, end, window_end, phrase_end):
            return "negated"
        cause_end = read.extra["adjacent_before"].last_end_between(phrase_start, start)
        if cause_end is not None and start - cause_end <= _ADJACENT_CHARS:
            return "negated"  # "chemotherapy-induced neuropathy", "diabetic polyneuropathy"
        exclusion = read.extra["exclusion"].last_between(phrase_start, start)
        if exclusion is not None:
            # "Ausschluss einer Enzephalitis erfolgt": excluded; "... geplant", "Geplant: Ausschluss ...":
            # still to be excluded (a pending word anywhere in the phrase keeps the doubt).
            pending = read.extra["exclusion_pending"].any_starting_between(phrase_start, phrase_end)
            return "uncertain" if pending else "negated"
        if read.before["negated"].any_between(phrase_start, start):
            return "negated"
        if read.extra["pseudo"].covers(start):
            # The pseudo-negation runs into the name: "no change in mental status" says it is unchanged.
            return "negated"
        history = read.before["history"].last_between(phrase_start, start)
        # The scope ends at a word of the present that does not follow the cue at once ("history of
        # seizure in 2019 and new seizure today"; "history of new-onset seizures" stays history).
        scope_ends = read.extra["history_end"]
        if (
            history is not None
            and not scope_ends.any_starting_between(history[1] + _ADJACENT_CHARS, start)
            and not self._history_cancelled(read, history, phrase_start, start, end, phrase_end)
        ):
            return "history"
        if read.before["uncertain"].any_between(phrase_start, start):
            return "uncertain"
        if index >= 0 and self._in_negated_list(read, index, phrase_start, end, phrase_end):
            return "negated"
        return "affirmed"

    def phrase_start(self, read: ReadText, start: int) -> int:
        """Where the phrase holding the name that starts at `start` begins."""
        index = bisect_right(read.break_ends, start) - 1
        return read.break_ends[index] if index >= 0 else 0

    def explained(self, read: ReadText, start: int, end: int) -> bool:
        """The name is explained by a named alternative cause: a cause adjective right before it
        ("vincristine-induced neuropathy") or a connector and a cause after it ("neuropathy due to
        oxaliplatin"). A coded Condition whose own text says so is explained too."""
        index = bisect_right(read.break_ends, start) - 1
        phrase_start = read.break_ends[index] if index >= 0 else 0
        following = bisect_left(read.break_starts, end)
        phrase_end = read.break_starts[following] if following < len(read.break_starts) else len(read.text)
        cause_end = read.extra["adjacent_before"].last_end_between(phrase_start, start)
        if cause_end is not None and start - cause_end <= _ADJACENT_CHARS:
            return True
        window_end = min(phrase_end, end + self._after_window + 1)
        return self._explained_after(read, end, window_end, phrase_end)

    def _history_cancelled(
        self, read: ReadText, cue: tuple[int, int], phrase_start: int, start: int, end: int, phrase_end: int
    ) -> bool:
        """The history cue does not make the name another time's or another person's: a person cue
        ("mother has") with a reporting word before the name ("mother has noticed he is confused",
        "witnessed by mother with ..."), or a flare of a known disease ("exacerbation of previously
        stable myasthenia", "pre-existing myasthenia with acute exacerbation")."""
        extra = read.extra
        if extra["person"].any_between(cue[0], cue[1]):
            # "mother has noticed he is confused"; not "patient reports his mother had seizures".
            if extra["reporting"].any_starting_between(cue[1], start):
                return True
            preposition_end = extra["reporter_before"].last_end_between(phrase_start, cue[0])
            return preposition_end is not None and cue[0] - preposition_end <= _REPORTER_GAP_CHARS
        if extra["flare"].any_starting_between(phrase_start, cue[0]):
            return True  # the flare heads the phrase: "worsening of chronic CIDP"
        if not extra["chronic"].any_between(cue[0], cue[1]):
            return False  # "history of myasthenia gravis with exacerbation" stays the past
        flare = extra["flare"].first_starting_between(start, phrase_end)  # also in the name: "MG flare"
        # "chronic myasthenia without exacerbation": a negated flare is none.
        return flare is not None and not read.before["negated"].any_between(end, flare[0])

    def _cause_disputed(self, read: ReadText, qualifier: tuple[int, int], phrase_end: int) -> bool:
        """A cause qualifier ("due to sepsis") with CRS or ICANS named in the rest of the phrase
        ("confusion due to sepsis vs CRS"): ICANS is not excluded."""
        words = normalise_name(read.text[qualifier[0] : qualifier[1]])
        if not any(words.startswith(connector + " ") for connector in self._connectors):
            return False
        return read.extra["not_cause"].any_starting_between(qualifier[1], phrase_end)

    def _explained_after(self, read: ReadText, end: int, window_end: int, phrase_end: int) -> bool:
        """A connector ("due to", "secondary to") right after the name, then a named alternative cause,
        and no immune-effector cause in the rest of the phrase: ICANS follows or accompanies CRS, so
        "confusion in the setting of CRS with hypotension" stays a finding."""
        connector = read.extra["connector"].first_starting_between(end, window_end)
        if connector is None:
            return False
        cause_end = min(phrase_end, connector[1] + self._cause_window + 1)
        if not read.extra["cause"].any_starting_between(connector[1], cause_end):
            return False
        return not read.extra["not_cause"].any_starting_between(connector[1], phrase_end)

    def _short_item(self, read: ReadText, lower: int, upper: int) -> bool:
        """A list item: at most `max_words` words and no word that starts a new statement."""
        assert self._lists is not None
        if read.extra["reset"].any_starting_between(lower, upper):
            return False
        for words, _ in enumerate(_WORD_RUN.finditer(read.text, lower, upper), start=1):
            if words > self._lists.max_words:
                return False
        return True

    def _in_negated_list(
        self, read: ReadText, index: int, phrase_start: int, end: int, phrase_end: int
    ) -> bool:
        """The name is an item of a negated comma-separated list that began in an earlier phrase."""
        if self._lists is None or not read.break_is_comma[index]:
            return False
        if not self._short_item(read, phrase_start, phrase_end):
            return False  # "No fever, seizure overnight": a statement, not a list item
        if not self._ends_item(read, end, phrase_end):
            return False  # "Denies fever, seizure at 3 am": words after the name make it a statement
        negated = read.before["negated"]
        for step in range(_MAX_LIST_ITEMS):
            j = index - step  # the comma that ends the earlier phrase
            if j < 0 or not read.break_is_comma[j]:
                return False
            earlier_start = read.break_ends[j - 1] if j > 0 else 0
            earlier_end = read.break_starts[j]
            cue_end = negated.last_end_between(earlier_start, earlier_end)
            if cue_end is not None:
                if not self._short_item(read, cue_end, earlier_end):
                    return False
                if read.extra["list_cue"].any_between(earlier_start, earlier_end):
                    return True
                # The closer belongs to the list after the cue's phrase: "no fever or chills, seizure
                # overnight" is no list.
                return read.extra["closer"].any_starting_between(
                    earlier_end, self._list_end(read, phrase_end)
                )
            if not self._short_item(read, earlier_start, earlier_end):
                return False
        return False

    def _ends_item(self, read: ReadText, end: int, phrase_end: int) -> bool:
        """Nothing after the name in its item, or a joiner next ("confusion or seizure")."""
        after = _WORD_RUN.search(read.text, end, phrase_end)
        if after is None:
            return True
        return read.extra["joiner"].any_starting_between(after.start(), after.start() + 1)

    def _list_end(self, read: ReadText, end: int) -> int:
        """Where the list ends: on from `end` (the end of the name's phrase) through later
        comma-separated short items."""
        next_break = bisect_left(read.break_starts, end)
        for _ in range(_MAX_LIST_ITEMS):
            if next_break >= len(read.break_starts) or not read.break_is_comma[next_break]:
                return end
            item_start = read.break_ends[next_break]
            following = next_break + 1
            item_end = read.break_starts[following] if following < len(read.break_starts) else len(read.text)
            if not self._short_item(read, item_start, item_end):
                return end
            end, next_break = item_end, following
        return end


_QUERY = re.compile(r"\?")
_NO_CUES = _CueTrack([], [])  # shared by every role without a cue in a text (read-only)
_WORD_RUN = re.compile(r"\w+")
_REPORTER_GAP_CHARS = 6  # "by daughter", "per his mother": a possessive at most between
_ADJACENT_CHARS = 2  # "ICANS monitoring", "ICANS-education": only a space or hyphen between
_MAX_LIST_ITEMS = 8  # a negated list is followed back over at most this many commas
_EXTRA_ROLES = (
    "history_end",
    "adjacent",
    "adjacent_before",
    "connector",
    "cause",
    "list_cue",
    "closer",
    "reset",
    "joiner",
    "blocker",
    "pseudo",
    "not_cause",
    "reporting",
    "flare",
    "chronic",
    "person",
    "reporter_before",
    "exclusion",
    "exclusion_pending",
)


def _track(matches: Sequence[TextMatch[Any]]) -> _CueTrack:
    if not matches:
        return _NO_CUES
    starts: list[int] = []
    ends: list[int] = []
    last_end = -1
    for match in matches:
        if match.start >= last_end:  # two cue lists may overlap ("rule out" / "ruled out"): keep the first
            starts.append(match.start)
            ends.append(match.end)
            last_end = match.end
    return _CueTrack(starts, ends)
