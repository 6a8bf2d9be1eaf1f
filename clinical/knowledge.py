"""The reviewed clinical knowledge in `knowledge/`, loaded once at start-up and indexed for matching.

Matching rules a reviewer should know:
- Codes match on (system, code) after normalising the system (HL7 OIDs and common aliases map to the
  canonical URI) and the code (ICD-10-CM without dots, NDC to 11 digits). A code marked `unverified`
  never matches alone: the same record must also name the agent.
- Names match whole words, case-insensitively, with spaces and hyphens interchangeable
  ("CAR T-cell" = "CAR-T cell"). Short all-capital acronyms ("MR", "ICANS") match only in capitals,
  so "Mr Smith" is not an MRI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml

T = TypeVar("T")
_SEPARATORS = re.compile(r"[\s\-]+")
_ACRONYM = re.compile(r"^[A-Z]{2,5}$")
_WORD = re.compile(r"\w+")
# (matcher, text) -> matches, while `remembering_texts()` is active.
_TEXT_MEMO: ContextVar[dict[tuple[object, str], tuple[Any, ...]] | None] = ContextVar(
    "text_memo", default=None
)


@contextmanager
def remembering_texts() -> Iterator[None]:
    """Within this block each matcher scans a given text once: a heavy record repeats the same drug
    and condition names thousands of times. Scoped to the block (one hook call's evaluation), so no
    patient text outlives the call."""
    token = _TEXT_MEMO.set({})
    try:
        yield
    finally:
        _TEXT_MEMO.reset(token)


class KnowledgeError(ValueError):
    """A knowledge file is missing or does not follow its schema."""


# libyaml's safe loader reads the knowledge files about 15x faster than the pure-Python one.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as handle:
            loaded = yaml.load(handle, Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader)
    except (OSError, yaml.YAMLError) as error:
        raise KnowledgeError(f"cannot read {path}: {error}") from error
    if not isinstance(loaded, dict):
        raise KnowledgeError(f"{path} must hold a mapping at the top level")
    return loaded


def normalise_name(text: str) -> str:
    return _SEPARATORS.sub(" ", text.casefold()).strip()


@dataclass(frozen=True)
class CodeSystems:
    """Canonical system URIs by alias, and every spelling EHRs use for each system."""

    canonical_by_alias: dict[str, str]
    canonical_by_spelling: dict[str, str]

    @classmethod
    def load(cls, path: Path) -> CodeSystems:
        data = load_yaml(path)
        by_alias: dict[str, str] = {}
        by_spelling: dict[str, str] = {}
        for alias, entry in data["systems"].items():
            canonical = entry["uri"]
            by_alias[alias] = canonical
            for spelling in (canonical, *entry.get("aliases", [])):
                by_spelling[spelling.rstrip("/").lower()] = canonical
        return cls(by_alias, by_spelling)

    def canonical(self, system: str) -> str:
        return self.canonical_by_spelling.get(system.rstrip("/").lower(), system)

    def uri(self, alias: str) -> str:
        try:
            return self.canonical_by_alias[alias]
        except KeyError:
            raise KnowledgeError(f"unknown code system alias {alias!r}") from None

    def normalise_code(self, canonical_system: str, code: str) -> str | None:
        code = code.strip()
        if canonical_system == self.canonical_by_alias.get("icd10cm"):
            return code.replace(".", "").upper()
        if canonical_system == self.canonical_by_alias.get("ndc"):
            return _ndc_eleven_digits(code)
        return code


def _ndc_eleven_digits(code: str) -> str | None:
    # 10-digit NDCs (4-4-2, 5-3-2, 5-4-1) only become comparable as 5-4-2 when the hyphens say
    # which segment to pad; an unhyphenated 10-digit code is ambiguous and is not matched.
    parts = code.split("-")
    if len(parts) == 3 and all(part.isdigit() for part in parts):
        return parts[0].zfill(5) + parts[1].zfill(4) + parts[2].zfill(2)
    if len(parts) == 1 and code.isdigit() and len(code) == 11:
        return code
    return None


@dataclass
class CodeIndex(Generic[T]):
    systems: CodeSystems
    entries: dict[tuple[str, str], T] = field(default_factory=dict)

    def add(self, alias: str, code: str, value: T) -> None:
        canonical = self.systems.uri(alias)
        normalised = self.systems.normalise_code(canonical, str(code))
        if normalised is None:
            raise KnowledgeError(f"code {code!r} in {alias} cannot be normalised")
        self.entries[(canonical, normalised)] = value

    def lookup(self, system: str, code: str) -> T | None:
        canonical = self.systems.canonical(system)
        normalised = self.systems.normalise_code(canonical, code)
        if normalised is None:
            return None
        return self.entries.get((canonical, normalised))


@dataclass(frozen=True)
class TextMatch(Generic[T]):
    value: T
    start: int
    end: int


class TextMatcher(Generic[T]):
    """Finds any of many names in free text: whole words, longest name first."""

    def __init__(self, names: Iterable[tuple[str, T]]) -> None:
        self._values: dict[str, T] = {}
        sensitive: list[str] = []
        insensitive: list[str] = []
        # The leading word of every name, per group: in ASCII text a name can only match where its
        # leading word stands as a whole word, so a text holding none of them needs no regex scan.
        heads: list[set[str] | None] = [set(), set()]
        for name, value in names:
            self._values[normalise_name(name)] = value
            tokens = [token for token in _SEPARATORS.split(name.strip()) if token]
            pattern = r"[\s\-]+".join(re.escape(token) for token in tokens)
            kind = 0 if _ACRONYM.match(name.strip()) else 1
            (sensitive, insensitive)[kind].append(pattern)
            head, known = _WORD.match(name.strip()), heads[kind]
            if known is not None and head is not None and head.group(0).isascii():
                known.add(head.group(0) if kind == 0 else head.group(0).lower())
            else:
                heads[kind] = None  # no usable leading word: always scan
        self._patterns = [
            (
                re.compile(rf"(?<!\w)(?:{'|'.join(sorted(group, key=len, reverse=True))})(?!\w)", flags),
                known,
                folded,
            )
            for group, known, flags, folded in (
                (sensitive, heads[0], 0, False),
                (insensitive, heads[1], re.IGNORECASE, True),
            )
            if group
        ]

    def find(self, text: str) -> Iterator[TextMatch[T]]:
        memo = _TEXT_MEMO.get()
        if memo is None:
            return self._scan(text)
        key = (self, text)
        found = memo.get(key)
        if found is None:
            found = memo[key] = tuple(self._scan(text))
        return iter(found)

    def _scan(self, text: str) -> Iterator[TextMatch[T]]:
        ascii_text = text.isascii()
        for pattern, heads, folded in self._patterns:
            if (
                ascii_text
                and heads is not None
                and heads.isdisjoint(_WORD.findall(text.lower() if folded else text))
            ):
                continue
            for match in pattern.finditer(text):
                value = self._values.get(normalise_name(match.group(0)))
                if value is not None:
                    yield TextMatch(value, match.start(), match.end())

    def first(self, text: str) -> T | None:
        for match in self.find(text):
            return match.value
        return None


@dataclass(frozen=True)
class NegationCues:
    """NegEx-style cues: a finding name is not a finding when negated before it in the same
    clause ("no seizure") or qualified after it ("seizure prophylaxis")."""

    before: TextMatcher[str]
    after: TextMatcher[str]
    absent_values: frozenset[str]

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> NegationCues:
        return cls(
            before=TextMatcher((cue, cue) for cue in data["negation_before"]),
            after=TextMatcher((cue, cue) for cue in data["qualifier_after"]),
            absent_values=frozenset(normalise_name(value) for value in data["absent_values"]),
        )

    def negates(self, text: str, start: int, end: int) -> bool:
        clause_start = max(text.rfind(mark, 0, start) for mark in ".;\n") + 1
        if any(True for _ in self.before.find(text[clause_start:start])):
            return True
        clause_end = min((i for i in (text.find(mark, end) for mark in ".;,\n") if i >= 0), default=len(text))
        following = text[end:clause_end]
        return any(match.start <= 12 for match in self.after.find(following))
