"""Code systems and code lookup: (system, code) after normalising the system (HL7 OIDs and national
aliases map to the canonical URI) and the code (ICD-10-CM and ICD-10-GM without dots, NDC to 11
digits, OPS without dots, PZN to 8 digits). Entries
marked `match: prefix` stand for an ICD-10-CM family (I63 = every cerebral infarction code)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Generic, TypeVar

from clinical.knowledge.loading import KnowledgeError
from clinical.knowledge.schema import CodeMatch, CodeSystemsFile

T = TypeVar("T")


@dataclass(frozen=True)
class CodeSystems:
    """Canonical system URIs by alias, and every spelling EHRs use for each system."""

    canonical_by_alias: dict[str, str]
    canonical_by_spelling: dict[str, str]

    @classmethod
    def from_file(cls, data: CodeSystemsFile) -> CodeSystems:
        by_alias: dict[str, str] = {}
        by_spelling: dict[str, str] = {}
        for alias, entry in data.systems.items():
            by_alias[alias] = entry.uri
            for spelling in (entry.uri, *entry.aliases):
                by_spelling[spelling.rstrip("/").lower()] = entry.uri
        return cls(by_alias, by_spelling)

    def canonical(self, system: str) -> str:
        return self.canonical_by_spelling.get(system.rstrip("/").lower(), system)

    def uri(self, alias: str) -> str:
        try:
            return self.canonical_by_alias[alias]
        except KeyError:
            raise KnowledgeError(
                f"unknown code system alias {alias!r} (known: {sorted(self.canonical_by_alias)})"
            ) from None

    def normalise_code(self, canonical_system: str, code: str) -> str | None:
        code = code.strip()
        normalise = self._code_forms.get(canonical_system)
        return code if normalise is None else normalise(code)

    @cached_property
    def _code_forms(self) -> dict[str, Callable[[str], str | None]]:
        """How each system that writes its codes in several ways has them normalised, by canonical URI
        (looked up once per code: every coding of a record is normalised)."""
        forms: dict[str, Callable[[str], str | None]] = {}
        for alias, normalise in _CODE_FORMS:
            canonical = self.canonical_by_alias.get(alias)
            if canonical is not None:
                forms.setdefault(canonical, normalise)
        return forms


def _icd10cm(code: str) -> str:
    return code.replace(".", "").upper()


def _icd10gm(code: str) -> str:
    # ICD-10-GM marks a dagger (+), asterisk (*) or exclamation (!) code after the code itself.
    return code.rstrip("+*!\u2020 ").replace(".", "").upper()


def _ops(code: str) -> str:
    return code.replace(".", "").lower()


def _pzn(code: str) -> str | None:
    return code.zfill(8) if code.isdigit() and len(code) <= 8 else None


def _ndc_eleven_digits(code: str) -> str | None:
    # 10-digit NDCs (4-4-2, 5-3-2, 5-4-1) only become comparable as 5-4-2 when the hyphens say
    # which segment to pad; an unhyphenated 10-digit code is ambiguous and is not matched.
    parts = code.split("-")
    if len(parts) == 3 and all(part.isdigit() for part in parts):
        return parts[0].zfill(5) + parts[1].zfill(4) + parts[2].zfill(2)
    if len(parts) == 1 and code.isdigit() and len(code) == 11:
        return code
    return None


# By system alias, first listed first: a system two aliases named would be normalised by the first.
_CODE_FORMS: tuple[tuple[str, Callable[[str], str | None]], ...] = (
    ("icd10cm", _icd10cm),
    ("ndc", _ndc_eleven_digits),
    ("icd10gm", _icd10gm),
    ("ops", _ops),
    ("pzn", _pzn),
)


@dataclass
class CodeIndex(Generic[T]):
    systems: CodeSystems
    entries: dict[tuple[str, str], T] = field(default_factory=dict)
    prefixes: dict[tuple[str, str], T] = field(default_factory=dict)
    # The lengths of the `match: prefix` codes of each canonical system, longest first.
    prefix_lengths: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def add(self, alias: str, code: str, value: T, match: CodeMatch = "exact") -> None:
        canonical = self.systems.uri(alias)
        normalised = self.systems.normalise_code(canonical, str(code))
        if normalised is None:
            raise KnowledgeError(f"code {code!r} in {alias} cannot be normalised")
        if match == "prefix":
            self.prefixes[(canonical, normalised)] = value
            lengths = {*self.prefix_lengths.get(canonical, ()), len(normalised)} - {0}
            self.prefix_lengths[canonical] = tuple(sorted(lengths, reverse=True))
        else:
            self.entries[(canonical, normalised)] = value

    def exact_keys(self) -> frozenset[tuple[str, str]]:
        """Every (canonical system, normalised code) looked up exactly."""
        return frozenset(self.entries)

    def prefix_keys(self) -> frozenset[tuple[str, str]]:
        """Every (canonical system, normalised code prefix) of a `match: prefix` family."""
        return frozenset(self.prefixes)

    def lookup(self, system: str, code: str) -> T | None:
        canonical = self.systems.canonical(system)
        normalised = self.systems.normalise_code(canonical, code)
        if normalised is None:
            return None
        found = self.entries.get((canonical, normalised))
        if found is not None or not self.prefixes:
            return found
        # Only the lengths some prefix of this system has, longest first (as trying every length would).
        for length in self.prefix_lengths.get(canonical, ()):
            if length <= len(normalised):
                found = self.prefixes.get((canonical, normalised[:length]))
                if found is not None:
                    return found
        return None
