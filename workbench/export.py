"""Reading what a hospital hands over: a FHIR Bulk Data export folder (one NDJSON file per resource
type, split files such as ``Observation.000.ndjson`` included), a single NDJSON file, or a Bundle.

Resources are grouped by patient. Nothing is dropped silently: every resource that cannot be read is
counted by reason, and dates the rules read that cannot be parsed are counted by element, so the
report can show what the export gets wrong.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import orjson

from clinical.patient_record import RECORD_TYPES
from clinical.timeline import DATE_ELEMENTS
from workbench.ndjson_files import DEFAULT_MAX_LINE_BYTES, FileReport, file_lines, is_ndjson_name
from workbench.validation import Sampler

# The resource types and date elements the rules read: the clinical core's own lists.
READ_TYPES = RECORD_TYPES
CLINICAL_TYPES = RECORD_TYPES - {"Patient", "Medication"}
# FHIR R4 dateTime (http://hl7.org/fhir/R4/datatypes.html#dateTime), which covers date and instant.
_FHIR_DATE_TIME = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?)?)?"
    r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)?)?)?"
)
# Page file names: what of the id stays readable, and the hash that makes the name unique per id.
_UNREADABLE = re.compile(r"[^A-Za-z0-9-]+")
READABLE_PREFIX_CHARS = 40
PAGE_HASH_HEX_DIGITS = 16
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_RESOURCE_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]+")

# Why a resource was not read, as counted in summary.json (the keys) and shown in the report.
# What each skip reason means is in timeline_view/words.py ("skip.<reason>"), per language.


class ExportError(Exception):
    """The input cannot be read at all (missing, not JSON, not a Bundle): one line for the user."""


@dataclass
class DataQuality:
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> resources
    unreadable_dates: Counter[str] = field(default_factory=Counter)  # "Type.element" -> resources
    ignored_types: Counter[str] = field(default_factory=Counter)  # types the rules do not read
    read: Counter[str] = field(default_factory=Counter)  # resource type -> resources read
    # Resources naming a patient the export holds no Patient resource for (by `Cohort.orphans`).
    orphan_resources: int = 0
    duplicates: Counter[str] = field(default_factory=Counter)  # type -> repeats of a type/id (left out)
    wrong_file: Counter[str] = field(default_factory=Counter)  # file -> resources of another type (read)
    files: FileReport = field(default_factory=FileReport)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def to_json(self) -> dict[str, Any]:
        """Everything, for quality.json: what a merge of shards rebuilds the data quality from."""
        files = self.files
        return {
            "skipped": dict(self.skipped),
            "unreadable_dates": dict(self.unreadable_dates),
            "ignored_types": dict(self.ignored_types),
            "read": dict(self.read),
            "orphan_resources": self.orphan_resources,
            "duplicates": dict(self.duplicates),
            "wrong_file": dict(self.wrong_file),
            "encodings": files.encodings,
            "encoding_errors": dict(files.encoding_errors),
            "oversized_lines": dict(files.oversized_lines),
            "skipped_files": files.skipped_files,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DataQuality:
        files = FileReport(
            encodings=dict(data["encodings"]),
            encoding_errors=Counter(data["encoding_errors"]),
            oversized_lines=Counter(data["oversized_lines"]),
            skipped_files=dict(data["skipped_files"]),
        )
        return cls(
            skipped=Counter(data["skipped"]),
            unreadable_dates=Counter(data["unreadable_dates"]),
            ignored_types=Counter(data["ignored_types"]),
            read=Counter(data["read"]),
            orphan_resources=int(data["orphan_resources"]),
            duplicates=Counter(data["duplicates"]),
            wrong_file=Counter(data["wrong_file"]),
            files=files,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "resources_read": sum(self.read.values()),
            "resources_read_by_type": dict(sorted(self.read.items())),
            "skipped_resources": dict(sorted(self.skipped.items())),
            "skipped_resources_total": self.skipped_total,
            "unreadable_dates": dict(sorted(self.unreadable_dates.items())),
            "ignored_resource_types": dict(sorted(self.ignored_types.items())),
            # The committee's counts (issue 18 section 3), 0 when none; the details beside them.
            "invalid_json": self.skipped["invalid-json"],
            "missing_resource_type": self.skipped["not-a-resource"],
            "wrong_file": sum(self.wrong_file.values()),
            "wrong_file_by_file": dict(sorted(self.wrong_file.items())),
            "duplicates": sum(self.duplicates.values()),
            "duplicates_by_type": dict(sorted(self.duplicates.items())),
            "unparseable_dates": sum(self.unreadable_dates.values()),
            "encoding_errors": dict(sorted(self.files.encoding_errors.items())),
            "encodings": dict(sorted(self.files.encodings.items())),
            "oversized_lines": sum(self.files.oversized_lines.values()),
            "oversized_lines_by_file": dict(sorted(self.files.oversized_lines.items())),
            "skipped_files": [
                {"file": name, "reason": reason} for name, reason in sorted(self.files.skipped_files.items())
            ],
        }


@dataclass
class Cohort:
    """An export's resources by patient id, Medications apart (they name no patient)."""

    source: Path
    patients: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    medications: dict[str, dict[str, Any]] = field(default_factory=dict)
    quality: DataQuality = field(default_factory=DataQuality)
    unassigned: list[dict[str, Any]] = field(default_factory=list)  # no patient named
    # Patient ids that resources name but that have no Patient resource: evaluated and shown, but not
    # patients of the cohort's denominator.
    orphans: set[str] = field(default_factory=set)
    patient_count: int = 0  # patient ids in the whole export (a shard holds only some of them)

    def patient_ids(self) -> list[str]:
        return sorted(self.patients)


def is_readable_date(value: object) -> bool:
    if not isinstance(value, str) or not _FHIR_DATE_TIME.fullmatch(value):
        return False
    if len(value) >= 10:
        try:
            date.fromisoformat(value[:10])
        except ValueError:
            return False  # 2026-02-30 matches the pattern
    return True


def _element(resource: dict[str, Any], path: str) -> tuple[bool, object]:
    """(present, value) of a dotted path; list steps take their first element."""
    current: object = resource
    for step in path.split("."):
        if isinstance(current, list):
            current = current[0] if current else None
        if not isinstance(current, dict) or step not in current:
            return False, None
        current = current[step]
    return True, current


def unreadable_dates(resource: dict[str, Any], resource_type: str) -> Iterator[str]:
    for path in DATE_ELEMENTS.get(resource_type, ()):
        present, value = _element(resource, path)
        if present and not is_readable_date(value):
            yield f"{resource_type}.{path}"


def _patient_of(resource: dict[str, Any]) -> tuple[str | None, bool]:
    """(patient id named by subject/patient, whether the reference was readable)."""
    for name in ("subject", "patient"):
        if name not in resource:
            continue
        holder = resource[name]
        reference = holder.get("reference") if isinstance(holder, dict) else None
        if not isinstance(reference, str):
            return None, False
        if reference.startswith("Patient/") or "/Patient/" in reference:
            patient_id = reference.rsplit("/", 1)[-1]
            return (patient_id, True) if patient_id else (None, False)
        return None, True  # a Group or another subject: not a patient's record
    return None, True


def file_resource_type(name: str) -> str | None:
    """The resource type a Bulk Data file is named after ("Observation.000.ndjson" -> "Observation"),
    or None when the name names no type."""
    stem = name.split(".", 1)[0]
    return stem if _RESOURCE_TYPE_NAME.fullmatch(stem) else None


def shard_of(patient_id: str, shards: int) -> int:
    """The hash partition a patient falls in: stable across processes and machines (CRC-32)."""
    return zlib.crc32(patient_id.encode("utf-8", "surrogatepass")) % shards


class PatientStore(Protocol):
    """Where the reader puts each patient's resources: in memory, or partition files on disk."""

    def add(self, patient_id: str, resource: dict[str, Any], *, first: bool) -> None: ...


class MemoryStore:
    def __init__(self, patients: dict[str, list[dict[str, Any]]]) -> None:
        self.patients = patients

    def add(self, patient_id: str, resource: dict[str, Any], *, first: bool) -> None:
        resources = self.patients.setdefault(patient_id, [])
        if first:
            resources.insert(0, resource)
        else:
            resources.append(resource)


class SeenHashes:
    """A set of 64-bit hashes in about 8 bytes each (a Python set of ints takes about 90): the one
    thing reading an export keeps per resource, so at 100,000 patients (6 million resources) it is
    50 MB, not 500. Sorted arrays in buckets by the hash's low bits; a bucket holds a hundred or so."""

    BUCKET_BITS = 16

    def __init__(self) -> None:
        self._mask = (1 << self.BUCKET_BITS) - 1
        self._buckets: dict[int, array[int]] = {}

    def add(self, value: int) -> bool:
        """Adds the hash; False when it was already there."""
        bucket = self._buckets.get(value & self._mask)
        if bucket is None:
            self._buckets[value & self._mask] = array("q", (value,))
            return True
        index = bisect_left(bucket, value)
        if index < len(bucket) and bucket[index] == value:
            return False
        bucket.insert(index, value)
        return True


class _Reader:
    def __init__(
        self,
        source: Path,
        store: PatientStore | None = None,
        keep: Callable[[str], bool] | None = None,
        sampler: Sampler | None = None,
    ) -> None:
        self.cohort = Cohort(source)
        self.store: PatientStore = store if store is not None else MemoryStore(self.cohort.patients)
        self.keep = keep  # a shard keeps only its patients; every count stays the whole export's
        self.sampler = sampler
        # Hashes of "type/id" seen: a repeated resource is read once.
        self._seen = SeenHashes()
        self._resources_by_patient: Counter[str] = Counter()
        self._with_patient_resource: set[str] = set()

    def _duplicate(self, resource_type: str, resource_id: str) -> bool:
        if self._seen.add(hash(f"{resource_type}/{resource_id}")):
            return False
        self.cohort.quality.duplicates[resource_type] += 1
        return True

    def _store(self, patient_id: str, resource: dict[str, Any], *, first: bool = False) -> None:
        self._resources_by_patient[patient_id] += 1
        if self.keep is None or self.keep(patient_id):
            self.store.add(patient_id, resource, first=first)

    def add(self, resource: object, file_type: str | None = None, file_name: str = "") -> None:
        quality = self.cohort.quality
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            quality.skipped["not-a-resource"] += 1
            return
        resource_type: str = resource["resourceType"]
        if file_type is not None and resource_type != file_type:
            quality.wrong_file[file_name] += 1  # read all the same, and named in the report
        if resource_type not in READ_TYPES:
            quality.ignored_types[resource_type] += 1
            return
        resource_id = resource.get("id")
        if resource_id is not None and not isinstance(resource_id, str):
            quality.skipped["invalid-id"] += 1
            return
        if resource_id and self._duplicate(resource_type, resource_id):
            return
        if resource_type == "Medication":
            if resource_id:
                self.cohort.medications[f"Medication/{resource_id}"] = resource
                quality.read[resource_type] += 1
                self._sample(resource_type, resource)
            else:
                quality.skipped["invalid-id"] += 1
            return
        if resource_type == "Patient":
            if not resource_id:
                quality.skipped["patient-without-id"] += 1
                return
            self._with_patient_resource.add(resource_id)
            self._store(resource_id, resource, first=True)
            quality.read[resource_type] += 1
            self._sample(resource_type, resource)
            return
        patient_id, readable = _patient_of(resource)
        if not readable:
            quality.skipped["invalid-patient-reference"] += 1
            return
        for element in unreadable_dates(resource, resource_type):
            quality.unreadable_dates[element] += 1
        quality.read[resource_type] += 1
        if patient_id is None:
            self.cohort.unassigned.append(resource)
        else:
            self._store(patient_id, resource)
            self._sample(resource_type, resource)

    def _sample(self, resource_type: str, resource: dict[str, Any]) -> None:
        if self.sampler is not None:
            self.sampler.offer(resource_type, resource)

    def add_lines(self, lines: Iterable[bytes], file_name: str = "") -> None:
        file_type = file_resource_type(file_name) if file_name else None
        for line in lines:
            if not line.strip():
                continue
            try:
                resource = orjson.loads(line)
            except orjson.JSONDecodeError:
                self.cohort.quality.skipped["invalid-json"] += 1
                continue
            self.add(resource, file_type, file_name)

    def add_file(self, path: Path, max_line_bytes: int) -> None:
        try:
            self.add_lines(file_lines(path, self.cohort.quality.files, max_line_bytes), path.name)
        except OSError as error:
            raise ExportError(f"{path}: cannot be read ({error.strerror or type(error).__name__})") from None

    def finish(self) -> Cohort:
        cohort = self.cohort
        if cohort.unassigned:
            if len(self._resources_by_patient) == 1:
                # One patient's file (a prefetch-like Bundle): the service reads such resources as
                # that patient's too.
                (only,) = self._resources_by_patient
                for resource in cohort.unassigned:
                    self._store(only, resource)
                    self._sample(str(resource["resourceType"]), resource)
            else:
                cohort.quality.skipped["no-patient-reference"] += len(cohort.unassigned)
                for resource in cohort.unassigned:
                    cohort.quality.read[resource["resourceType"]] -= 1
            cohort.unassigned = []
        cohort.patient_count = len(self._resources_by_patient)
        orphans = set(self._resources_by_patient) - self._with_patient_resource
        # An export with no Patient resource at all (one patient's records, say) has no orphans: there
        # is nothing to tell a patient from an orphan by.
        if self._with_patient_resource:
            cohort.orphans = orphans
            cohort.quality.orphan_resources = sum(self._resources_by_patient[patient] for patient in orphans)
        return cohort


def export_files(folder: Path, report: FileReport | None = None) -> list[Path]:
    """The NDJSON files of an export folder (.ndjson, .jsonl, gzip-compressed or not); every other file
    is named in `report.skipped_files` with the reason."""
    files: list[Path] = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and is_ndjson_name(path.name):
            files.append(path)
        elif report is not None and not path.name.startswith("."):
            kind = "a folder" if path.is_dir() else "not an NDJSON file (.ndjson, .jsonl, .ndjson.gz)"
            report.skipped_files[path.name] = kind
    if not files:
        raise ExportError(f"{folder} holds no .ndjson files (a Bulk Data export has one per resource type)")
    return files


def bundle_entries(document: object, path: Path) -> list[object]:
    resource_type = document.get("resourceType") if isinstance(document, dict) else None
    if resource_type != "Bundle":
        found = f"resourceType {resource_type!r}" if resource_type else "no resourceType"
        raise ExportError(f"{path} is not a FHIR Bundle ({found})")
    assert isinstance(document, dict)
    entries = document.get("entry")
    if not isinstance(entries, list):
        return []
    return [entry.get("resource") if isinstance(entry, dict) else None for entry in entries]


def read_bundle_file(path: Path) -> object:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ExportError(f"{path}: no such file") from None
    except OSError as error:
        raise ExportError(f"{path}: cannot be read ({error.strerror or type(error).__name__})") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ExportError(f"{path} is not valid JSON ({error})") from None


def read_export(
    path: Path,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    *,
    store: PatientStore | None = None,
    keep: Callable[[str], bool] | None = None,
    sampler: Sampler | None = None,
) -> Cohort:
    """A Bulk Data export folder, an NDJSON file (.ndjson, .jsonl, .ndjson.gz) or a Bundle, by patient,
    in one streaming pass. Lines longer than `max_line_bytes` are skipped and counted, never read whole.
    `store`: where the patients' resources go (default: `Cohort.patients`, in memory); `keep`: the
    patients to store (a shard's); `sampler`: offered every resource read (the validation sample).
    Every count in `Cohort.quality` is the whole export's whatever is kept."""
    reader = _Reader(path, store, keep, sampler)
    if path.is_dir():
        for file in export_files(path, reader.cohort.quality.files):
            reader.add_file(file, max_line_bytes)
    elif is_ndjson_name(path.name):
        if not path.exists():
            raise ExportError(f"{path}: no such file")
        reader.add_file(path, max_line_bytes)
    else:
        for resource in bundle_entries(read_bundle_file(path), path):
            reader.add(resource)
    return reader.finish()


def add_resources(resources: Iterable[object], source: Path) -> Cohort:
    """Resources already in memory (a Bundle parsed elsewhere) read as an export."""
    reader = _Reader(source)
    for resource in resources:
        reader.add(resource)
    return reader.finish()


def safe_file_stem(patient_id: str) -> str:
    """A file name for a patient's page, unique per patient id: a readable prefix (the id's letters,
    digits and hyphens, at most 40) and a hash of the whole id.

    The id alone is not enough: `patient-<hash>` (once the name given to ids that are not file-safe) is
    itself a valid FHIR id, and file systems that ignore case would merge `A1` and `a1`. The prefix has
    no dots or separators, so the name never leaves the folder."""
    readable = _UNREADABLE.sub("_", patient_id)[:READABLE_PREFIX_CHARS].strip("_") or "patient"
    digest = hashlib.sha256(patient_id.encode("utf-8", "surrogatepass")).hexdigest()[:PAGE_HASH_HEX_DIGITS]
    return f"{readable}-{digest}"


def colliding_file_stems(patient_ids: Iterable[str]) -> list[str]:
    """The patient ids whose page name another patient's page already has (case ignored, as some file
    systems do): empty unless the hash collides, which a report must refuse rather than overwrite."""
    seen: dict[str, str] = {}
    colliding: list[str] = []
    for patient_id in patient_ids:
        stem = safe_file_stem(patient_id).casefold()
        if stem in seen and seen[stem] != patient_id:
            colliding.append(patient_id)
        seen.setdefault(stem, patient_id)
    return colliding
