"""Reading FHIR resources as plain JSON, defensively: any field may be missing or of the wrong type
in what EHRs send, and a wrong type must read as absent, never raise."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any


def as_dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def as_list(value: Any) -> list[Any]:
    # R4 has several single-object fields that R5 made lists (and some clients send either).
    if isinstance(value, list):
        return value
    if value is None:
        return []
    return [value]


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def get_path(resource: dict[str, Any], path: str) -> Any:
    """Follow a dotted path; list steps take their first element ("dosageInstruction.timing")."""
    current: Any = resource
    for step in path.split("."):
        if isinstance(current, list):
            current = current[0] if current else None
        if not isinstance(current, dict):
            return None
        current = current.get(step)
    return current


# `codings` and `concept_texts` run for every concept every reader looks at: they test types inline
# rather than through as_dict / as_list / as_str (same meaning).


def codings(concept: Any) -> Iterator[tuple[str, str]]:
    """(system, code) of each usable Coding in a CodeableConcept (or a bare Coding)."""
    if not isinstance(concept, dict):
        return
    entries = concept.get("coding", [concept])
    if not isinstance(entries, list):
        entries = [] if entries is None else [entries]
    for coding in entries:
        if isinstance(coding, dict):
            system, code = coding.get("system"), coding.get("code")
            if isinstance(system, str) and system and isinstance(code, str) and code:
                yield system, code


def codes_of(concept: Any) -> set[str]:
    """Every code in a CodeableConcept, with or without a system: for status-like fields
    (verificationStatus, category) whose codes are unambiguous and that some EHRs send bare."""
    holder = as_dict(concept)
    if holder is None:
        return set()
    return {
        coding["code"]
        for coding in as_list(holder.get("coding"))
        if isinstance(coding, dict) and isinstance(coding.get("code"), str)
    }


def concept_texts(concept: Any) -> Iterator[str]:
    """The human-readable text of a CodeableConcept (or Coding): `text` and every `display`."""
    if not isinstance(concept, dict):
        return
    text = concept.get("text")
    if isinstance(text, str) and text:
        yield text
    display = concept.get("display")
    if isinstance(display, str) and display:
        yield display
    entries = concept.get("coding")
    if not isinstance(entries, list):
        entries = [] if entries is None else [entries]
    for coding in entries:
        if isinstance(coding, dict):
            coding_display = coding.get("display")
            if isinstance(coding_display, str) and coding_display:
                yield coding_display


def codeable_reference_concept(value: Any) -> Any:
    """R5 CodeableReference holds its concept under `concept`; R4 fields hold it directly."""
    holder = as_dict(value)
    if holder is not None and "concept" in holder:
        return holder["concept"]
    return value


def parse_date(value: Any) -> date | None:
    """The calendar date of a FHIR date, dateTime or instant ("2024", "2024-03", partial dates
    count from their first day). Garbage reads as None."""
    text = as_str(value)
    if text is None or len(text) < 4:
        return None
    try:
        if len(text) == 4:
            return date(int(text), 1, 1)
        if len(text) == 7:
            return date(int(text[:4]), int(text[5:7]), 1)
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def first_date(resource: dict[str, Any], paths: tuple[str, ...]) -> date | None:
    for path in paths:
        value = get_path(resource, path)
        if isinstance(value, list):  # Timing.event is a list of dateTimes: the first
            value = value[0] if value else None
        found = parse_date(value)
        if found is not None:
            return found
    return None


def status_of(resource: dict[str, Any]) -> str:
    status = resource.get("status")
    return status.lower() if isinstance(status, str) else "unknown"


def reference_label(resource: dict[str, Any]) -> str:
    resource_type = as_str(resource.get("resourceType")) or "Resource"
    resource_id = as_str(resource.get("id"))
    return f"{resource_type}/{resource_id}" if resource_id else f"{resource_type} (no id)"


def bundle_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of a Bundle's entries; entries of the wrong shape are left out."""
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return []
    return [
        entry["resource"]
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
    ]
