"""Strict FHIR R4B validation of the resources the rules read, with the fhir.resources models.

Offline and off the service's hot path (the service reads defensively and never validates): it runs
once per `burden` report, on a sample of each resource type, and tells an integration team what their
export gets wrong, by resource type and element.

The sample is random across every resource of the type (reservoir sampling, seeded: the same export
gives the same sample), not the first ones of a file: problems planted late in a file are found as
often as early ones. Each failing resource is listed by id.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from clinical.patient_record import RECORD_TYPES as READ_TYPES

SAMPLE_SEED = 18
MAX_FAILURES_LISTED = 200
_LIST_INDEX = re.compile(r"\.\d+(?=\.|$)")


@dataclass(frozen=True)
class Problem:
    resource_type: str
    element: str  # dotted path without list indexes: "dosageInstruction.timing.repeat.boundsPeriod.start"
    problem: str  # pydantic's error type: "value_error", "string_type", "extra_forbidden", ...
    message: str


@dataclass
class ValidationReport:
    validated: Counter[str] = field(default_factory=Counter)  # resource type -> resources validated
    invalid: Counter[str] = field(default_factory=Counter)  # resource type -> resources with a problem
    problems: Counter[Problem] = field(default_factory=Counter)
    examples: dict[Problem, str] = field(default_factory=dict)  # problem -> one resource id
    per_type: int = 0
    seed: int = SAMPLE_SEED
    available: Counter[str] = field(default_factory=Counter)  # resource type -> resources sampled from
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (type, id, first problem)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fhir_version": "R4B",
            "sample": {
                "per_type": self.per_type,
                "seed": self.seed,
                "method": "seeded reservoir sampling across every resource of each type",
                "resources_by_type": dict(sorted(self.available.items())),
            },
            "failures": [
                {"resource_type": kind, "id": ident, "problem": problem}
                for kind, ident, problem in self.failures[:MAX_FAILURES_LISTED]
            ],
            "validated_by_type": dict(sorted(self.validated.items())),
            "invalid_by_type": dict(sorted(self.invalid.items())),
            "problems": [
                {
                    "resource_type": problem.resource_type,
                    "element": problem.element,
                    "problem": problem.problem,
                    "message": problem.message,
                    "resources": count,
                    "example": self.examples.get(problem, ""),
                }
                for problem, count in self.ranked()
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationReport:
        """The report `as_dict` wrote (a merge of shards takes the first shard's: every shard draws the
        same sample from the same export)."""
        sample = data["sample"]
        report = cls(per_type=int(sample["per_type"]), seed=int(sample["seed"]))
        report.available.update(sample["resources_by_type"])
        report.validated.update(data["validated_by_type"])
        report.invalid.update(data["invalid_by_type"])
        for item in data["problems"]:
            problem = Problem(item["resource_type"], item["element"], item["problem"], item["message"])
            report.problems[problem] = int(item["resources"])
            report.examples[problem] = str(item.get("example", ""))
        report.failures = [(item["resource_type"], item["id"], item["problem"]) for item in data["failures"]]
        return report

    def ranked(self) -> list[tuple[Problem, int]]:
        return sorted(
            self.problems.items(), key=lambda item: (-item[1], item[0].resource_type, item[0].element)
        )


def _element(location: tuple[int | str, ...]) -> str:
    # fhir.resources reports choice types and nested models with their pydantic field names; the
    # JSON element name is the same for the R4B models (camelCase aliases are the field names).
    path = ".".join(str(part) for part in location)
    return _LIST_INDEX.sub("", path) or "(resource)"


class Sampler:
    """A uniform random sample of `per_type` resources of each type from a stream of unknown length
    (reservoir sampling, Algorithm R), seeded per type: the export read once, the sample the same on
    every run and in every shard."""

    def __init__(self, per_type: int, seed: int = SAMPLE_SEED) -> None:
        self.per_type = per_type
        self.seed = seed
        self.samples: dict[str, list[dict[str, Any]]] = {}
        self.seen: Counter[str] = Counter()
        self._random: dict[str, random.Random] = {}

    def offer(self, resource_type: str, resource: dict[str, Any]) -> None:
        if self.per_type <= 0:
            return
        self.seen[resource_type] += 1
        sample = self.samples.setdefault(resource_type, [])
        if len(sample) < self.per_type:
            sample.append(resource)
            return
        rng = self._random.get(resource_type)
        if rng is None:
            rng = random.Random(f"{self.seed}:{resource_type}")  # noqa: S311 -- reproducible, no secret
            self._random[resource_type] = rng
        slot = rng.randrange(self.seen[resource_type])
        if slot < self.per_type:
            sample[slot] = resource


def validate_sample(
    resources_by_type: Mapping[str, Iterable[dict[str, Any]]], per_type: int, seed: int = SAMPLE_SEED
) -> ValidationReport:
    """Validate a random sample of `per_type` resources of each type the rules read."""
    sampler = Sampler(per_type, seed)
    for resource_type, resources in resources_by_type.items():
        for resource in resources:
            sampler.offer(resource_type, resource)
    return validate_sampled(sampler)


def validate_sampled(sampler: Sampler) -> ValidationReport:
    """Validate what `sampler` drew."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    report = ValidationReport(per_type=sampler.per_type, seed=sampler.seed)
    for resource_type, sample in sorted(sampler.samples.items()):
        if resource_type not in READ_TYPES:
            continue
        model = get_fhir_model_class(resource_type)
        report.available[resource_type] = sampler.seen[resource_type]
        for resource in sample:
            report.validated[resource_type] += 1
            resource_id = resource.get("id")
            ident = resource_id if isinstance(resource_id, str) else ""
            try:
                model.model_validate(resource)
            except ValidationError as error:
                report.invalid[resource_type] += 1
                first = error.errors()[0] if error.errors() else None
                report.failures.append(
                    (resource_type, ident, f"{_element(first['loc'])}: {first['msg']}"[:160] if first else "")
                )
                seen: set[Problem] = set()
                for item in error.errors():
                    message = str(item["msg"]).removeprefix("Value error, ")
                    problem = Problem(resource_type, _element(item["loc"]), item["type"], message[:160])
                    if problem in seen:
                        continue
                    seen.add(problem)
                    report.problems[problem] += 1
                    report.examples.setdefault(problem, ident)
            except (TypeError, ValueError) as error:
                # Some malformed inputs escape pydantic's error collection in the model's own validators.
                report.invalid[resource_type] += 1
                report.failures.append((resource_type, ident, str(error)[:160]))
                problem = Problem(resource_type, "(resource)", type(error).__name__, str(error)[:160])
                report.problems[problem] += 1
    return report
