"""The export partitioned by patient on disk, so that memory holds one partition at a time, not the
cohort. `read_export` streams the export once into a `PartitionStore` (each patient's resources go to
the partition its id hashes to); each partition is then loaded, evaluated and let go.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import orjson

from workbench.export import shard_of
from workbench.ndjson_files import is_ndjson_name

# A partition of about this many bytes of export holds a few thousand patients: small enough that one
# partition's resources and timelines stay well under a gigabyte.
PARTITION_BYTES = 16 * 1024 * 1024


def partitions_for(export: Path, shards: int = 1) -> int:
    """Enough partitions that each holds about PARTITION_BYTES of the export (gzip counted x8); a shard
    keeps one in `shards` of the patients, so fewer partitions of the same size."""
    files = [export] if export.is_file() else [path for path in export.iterdir() if is_ndjson_name(path.name)]
    size = sum(path.stat().st_size * (8 if path.name.endswith(".gz") else 1) for path in files)
    return max(1, math.ceil(size / shards / PARTITION_BYTES))


class PartitionStore:
    """Writes each patient's resources to partition file `shard_of(id, parts)` as [id, resource] lines;
    the Patient resource marked to come first."""

    def __init__(self, folder: Path, parts: int) -> None:
        self.folder = folder
        self.parts = parts
        folder.mkdir(parents=True, exist_ok=True)
        self.files = [folder / f"partition-{index:04d}.ndjson" for index in range(parts)]
        self._streams: dict[int, BinaryIO] = {}

    def add(self, patient_id: str, resource: dict[str, Any], *, first: bool) -> None:
        index = shard_of(patient_id, self.parts)
        stream = self._streams.get(index)
        if stream is None:
            stream = self.files[index].open("ab")
            self._streams[index] = stream
        stream.write(orjson.dumps([patient_id, first, resource]) + b"\n")

    def close(self) -> None:
        for stream in self._streams.values():
            stream.close()
        self._streams.clear()

    def __enter__(self) -> PartitionStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def load_partition(path: Path) -> dict[str, list[dict[str, Any]]]:
    """One partition's patients and their resources, in export order with the Patient first."""
    patients: dict[str, list[dict[str, Any]]] = {}
    if not path.exists():
        return patients
    with path.open("rb") as stream:
        for line in stream:
            patient_id, first, resource = orjson.loads(line)
            resources = patients.setdefault(patient_id, [])
            if first:
                resources.insert(0, resource)
            else:
                resources.append(resource)
    return patients
