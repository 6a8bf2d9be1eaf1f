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

from service.workbench.export import READ_TYPES

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
                }
                for problem, count in self.ranked()
            ],
        }

    def ranked(self) -> list[tuple[Problem, int]]:
        return sorted(
            self.problems.items(), key=lambda item: (-item[1], item[0].resource_type, item[0].element)
        )


def _element(location: tuple[int | str, ...]) -> str:
    # fhir.resources reports choice types and nested models with their pydantic field names; the
    # JSON element name is the same for the R4B models (camelCase aliases are the field names).
    path = ".".join(str(part) for part in location)
    return _LIST_INDEX.sub("", path) or "(resource)"


def reservoir(
    items: Iterable[dict[str, Any]], size: int, rng: random.Random
) -> tuple[list[dict[str, Any]], int]:
    """A uniform random sample of `size` items of a stream of unknown length (Algorithm R), and how
    many items the stream held."""
    sample: list[dict[str, Any]] = []
    seen = 0
    for item in items:
        seen += 1
        if len(sample) < size:
            sample.append(item)
            continue
        slot = rng.randrange(seen)
        if slot < size:
            sample[slot] = item
    return sample, seen


def validate_sample(
    resources_by_type: Mapping[str, Iterable[dict[str, Any]]], per_type: int, seed: int = SAMPLE_SEED
) -> ValidationReport:
    """Validate a random sample of `per_type` resources of each type the rules read."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    report = ValidationReport(per_type=per_type, seed=seed)
    for resource_type, resources in sorted(resources_by_type.items()):
        if resource_type not in READ_TYPES or per_type <= 0:
            continue
        model = get_fhir_model_class(resource_type)
        rng = random.Random(f"{seed}:{resource_type}")  # noqa: S311 -- a reproducible sample, no secret
        sample, available = reservoir(resources, per_type, rng)
        report.available[resource_type] = available
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
