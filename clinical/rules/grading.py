"""ASTCT consensus grading of ICANS (Lee et al. 2019): the grade is the worst of its domains: the ICE
score (age 12 and over) or the CAPD (under 12), depressed level of consciousness, seizures, motor
findings, and raised intracranial pressure / cerebral oedema. Each finding kind carries the grade its
domain implies (knowledge/neurological-findings.yaml, `icans_grade`); a coded grade (G92.01-G92.05) is a
floor. Tremor and myoclonus do not grade."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from clinical.timeline import NeurologicalFinding, ScoreReading

ICE_MIN_AGE = 12
_UNAROUSABLE = "stupor-coma"


@dataclass(frozen=True)
class Domain:
    """One ASTCT domain's contribution: an ICE or CAPD score, a finding, or a coded grade."""

    source: Literal["ice", "capd", "finding", "code"]
    finding: str  # the finding's display (source "finding"), else empty
    score: str  # "5/10" (sources "ice" and "capd"), else empty
    grade: int
    on: date | None = None  # the score's date (sources "ice" and "capd"): an old score is said with it


@dataclass(frozen=True)
class IcansGrade:
    grade: int | None  # the worst domain; None: ICANS without a gradable domain on record
    coded: int | None
    documented: bool  # ICANS diagnosed (coded or named, not only suspected)
    score_grade: int | None
    capd_grade_1_or_2: bool  # CAPD 1-8: grade 1 or 2 depending on the level of consciousness
    ice_not_valid_for_age: bool  # an ICE score was charted for a child under 12: not graded
    domains: tuple[Domain, ...]  # worst first
    # The grade a suspected ICANS states ("V.a. ICANS Grad 2"): kept as written, never a domain (a
    # suspicion does not grade), said in the headline when it is above the graded domains.
    suspected: int | None = None


def _is_normal(reading: ScoreReading) -> bool:
    return reading.grade is None


def _worse(reading: ScoreReading) -> int:
    """Higher is worse: a lower ICE score, a higher CAPD score."""
    return -reading.score if reading.kind == "ice" else reading.score


def latest_abnormal_scores(
    scores: tuple[ScoreReading, ...], today: date, new_days: int, age: int | None
) -> list[ScoreReading]:
    """The latest ICE and CAPD (age < 12 or unknown) score when it is recent and abnormal: a later
    normal score means the encephalopathy resolved. An abnormal ICE score in a child under 12 still
    counts as a finding, but it does not grade (the CAPD is the validated tool there)."""
    found = []
    for kind, applies in (("ice", True), ("capd", age is None or age < ICE_MIN_AGE)):
        readings = [reading for reading in scores if reading.kind == kind and reading.on <= today]
        if not applies or not readings:
            continue
        # A day's last score; two charted at the same time (or both without a time): the worse counts.
        latest = max(readings, key=lambda reading: (reading.on, reading.instant, _worse(reading)))
        if (today - latest.on).days <= new_days and not _is_normal(latest):
            found.append(latest)
    return found


def grade_icans(
    findings: list[NeurologicalFinding],
    scores: list[ScoreReading],
    all_scores: tuple[ScoreReading, ...],
    today: date,
    age: int | None,
    new_days: int,
) -> IcansGrade:
    domains: list[Domain] = []
    unarousable = any(f.kind.id == _UNAROUSABLE and not f.uncertain for f in findings)
    score_grades = []
    child = age is not None and age < ICE_MIN_AGE
    for reading in scores:
        if reading.grade is None or (reading.kind == "ice" and child):
            continue
        grade = reading.grade
        if reading.kind == "ice" and reading.score == 0 and unarousable:
            grade = max(grade, 4)
        score_grades.append(grade)
        domains.append(Domain(reading.kind, "", f"{reading.score}/{reading.maximum}", grade, reading.on))
    for finding in findings:
        if finding.kind.icans_grade is not None and not finding.uncertain:
            domains.append(Domain("finding", finding.kind.display, "", finding.kind.icans_grade))
    coded = [f.coded_grade for f in findings if f.coded_grade is not None and not f.uncertain]
    suspected = [f.coded_grade for f in findings if f.coded_grade is not None and f.uncertain]
    if coded:
        domains.append(Domain("code", "", "", max(coded)))
    domains.sort(key=lambda domain: domain.grade, reverse=True)
    recent_ice = any(
        r.kind == "ice" and r.on <= today and (today - r.on).days <= new_days for r in all_scores
    )
    return IcansGrade(
        grade=domains[0].grade if domains else None,
        coded=max(coded) if coded else None,
        documented=any(f.documents_icans for f in findings),
        score_grade=max(score_grades) if score_grades else None,
        capd_grade_1_or_2=any(r.kind == "capd" and r.grade == 1 for r in scores),
        ice_not_valid_for_age=child and recent_ice,
        domains=tuple(dict.fromkeys(domains)),
        suspected=max(suspected) if suspected else None,
    )
