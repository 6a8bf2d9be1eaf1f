"""A synthetic oncology cohort written as a FHIR Bulk Data export (one NDJSON file per resource type,
Observations split in two files), for `immuno-cds burden`.

Each patient is bench/generate.py's patient (a typical history around the same clinical story) with
its own seed, its own ids, its clinical story moved in time by up to four months either way, and, for
some patients, parts of the story left out (no CAR-T, no ICE score, no checkpoint inhibitor), so that
cards fire on different days for different patients. A few resources are deliberately broken (a line
that is not JSON, a date that cannot be parsed, an id that is a number) so the report's data-quality
section has something to show.

    .venv/bin/python -m bench.cohort --patients 1000 --out var/cohort-1000
"""

from __future__ import annotations

import argparse
import random
import re
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from bench.generate import PATIENT_ID, SEED, TYPICAL, Mix, _Builder

_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")
# Parts of the clinical story a patient may lack: (label, words that mark its resources, probability).
OPTIONAL_STORY = (
    ("car-t", ("yescarta", "axicabtagene"), 0.45),
    ("ice", ("ice score",), 0.4),
    ("ici", ("pembrolizumab", "keytruda"), 0.25),
    ("tce", ("glofitamab", "columvi"), 0.5),
)
BROKEN_EVERY = 400  # one broken resource per this many


def _shift(value: Any, days: int) -> Any:
    if isinstance(value, dict):
        return {key: _shift(item, days) for key, item in value.items()}
    if isinstance(value, list):
        return [_shift(item, days) for item in value]
    if isinstance(value, str) and (match := _DATE.match(value)):
        try:
            moved = date.fromisoformat(match.group(1)) + timedelta(days=days)
        except ValueError:
            return value
        return moved.isoformat() + value[10:]
    return value


def _renamed(value: Any, patient: str, prefix: str) -> Any:
    """Ids made unique per patient; references follow; shared Medications keep their ids."""
    if isinstance(value, dict):
        renamed = {key: _renamed(item, patient, prefix) for key, item in value.items()}
        reference = renamed.get("reference")
        if isinstance(reference, str) and "/" in reference and not reference.startswith("Medication/"):
            kind, _, ident = reference.partition("/")
            renamed["reference"] = f"Patient/{patient}" if kind == "Patient" else f"{kind}/{prefix}{ident}"
        return renamed
    if isinstance(value, list):
        return [_renamed(item, patient, prefix) for item in value]
    return value


def cohort_patient(index: int, mix: Mix = TYPICAL) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Patient `index`: its resources (Patient first), and the Medications they reference."""
    rng = random.Random(SEED * 7 + index)
    builder = _Builder(mix, SEED + index)
    builder.add({"resourceType": "Patient", "id": PATIENT_ID, "gender": rng.choice(("female", "male"))})
    story = builder.story()
    story_resources = builder.resources[1:]
    builder.history(story)
    dropped_words = [words for _, words, probability in OPTIONAL_STORY if rng.random() < probability]
    patient = f"cohort-{index:05d}"
    prefix = f"c{index}-"
    shift = rng.randrange(-120, 121)
    kept: list[dict[str, Any]] = []
    for resource in builder.resources:
        if any(resource is part for part in story_resources):
            text = orjson.dumps(resource).decode().lower()
            if any(word in text for words in dropped_words for word in words):
                continue
        moved = _shift(_renamed(resource, patient, prefix), shift)
        moved["id"] = patient if moved["resourceType"] == "Patient" else prefix + moved["id"]
        kept.append(moved)
    return kept, list(builder.medications.values())


def _broken(resource: dict[str, Any], rng: random.Random) -> bytes:
    kind = rng.choice(("garbage", "date", "id"))
    if kind == "garbage":
        return orjson.dumps(resource)[: rng.randrange(10, 60)]
    broken = dict(resource)
    if kind == "id":
        broken["id"] = rng.randrange(1, 10**6)
    else:
        for name in ("effectiveDateTime", "authoredOn", "onsetDateTime", "started", "performedDateTime"):
            if name in broken:
                broken[name] = "31/02/2026"
                break
        else:
            broken["meta"] = {"lastUpdated": "yesterday"}
    return orjson.dumps(broken)


def write_export(folder: Path, patients: int, *, broken: bool = True, mix: Mix = TYPICAL) -> dict[str, int]:
    """Write the cohort, streaming: each patient's lines go to their files as the patient is made, so
    memory holds one patient (and the shared Medications), whatever the cohort's size. Returns
    resources per file."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    count = 0
    shared: dict[str, dict[str, Any]] = {}
    written: dict[str, int] = {}
    with ExitStack() as files:
        streams: dict[str, BinaryIO] = {}
        for index in range(patients):
            resources, referenced = cohort_patient(index, mix)
            shared.update((medication["id"], medication) for medication in referenced)
            for resource in resources:
                count += 1
                if broken and count % BROKEN_EVERY == 0 and resource["resourceType"] != "Patient":
                    line = _broken(resource, rng)
                else:
                    line = orjson.dumps(resource)
                resource_type = resource["resourceType"]
                stream = streams.get(resource_type)
                if stream is None:
                    stream = streams[resource_type] = files.enter_context(
                        (folder / f"{resource_type}.ndjson").open("wb")
                    )
                stream.write(line + b"\n")
                written[f"{resource_type}.ndjson"] = written.get(f"{resource_type}.ndjson", 0) + 1
        medications = files.enter_context((folder / "Medication.ndjson").open("wb"))
        medications.writelines(orjson.dumps(medication) + b"\n" for medication in shared.values())
        written["Medication.ndjson"] = len(shared)
    observations = written.get("Observation.ndjson", 0)
    if observations > 1:
        written.pop("Observation.ndjson")
        written.update(_split_in_two(folder / "Observation.ndjson", observations))
    return written


def _split_in_two(path: Path, lines: int) -> dict[str, int]:
    """A Bulk Data server splits a large type over files: the first half of the lines, then the rest."""
    half = lines // 2
    first, second = path.with_name("Observation.000.ndjson"), path.with_name("Observation.001.ndjson")
    with path.open("rb") as source, first.open("wb") as head, second.open("wb") as tail:
        for number, line in enumerate(source):
            (head if number < half else tail).write(line)
    path.unlink()
    return {first.name: half, second.name: lines - half}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    written = write_export(args.out, args.patients)
    print(f"{args.patients} patients, {sum(written.values())} resources in {len(written)} files: {args.out}")


if __name__ == "__main__":
    main()
