"""Feedback-aware cards in the clinical core (issue 16, section 7; docs/clinical-rules-v2.md section 5):
each card carries an evidence key made of the evidence it rests on (never its wording or the day
counter); a card a clinician overrode stays quiet for `acknowledgements.quiet_days` (knowledge/timing.yaml)
unless new evidence gives it a new key, and an overridden critical card returns on new evidence only."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from clinical_support import (
    PATIENT,
    TODAY,
    administration,
    condition,
    draft,
    evaluator,
    note,
    order,
    report,
    score,
    timeline,
)

from clinical.acknowledgements import Acknowledgement, RenderedCard, is_acknowledged


def rendered(
    resources: list[dict[str, Any]],
    on: date = TODAY,
    drafts: list[dict[str, Any]] | None = None,
    acknowledgements: tuple[Acknowledgement, ...] = (),
) -> dict[str, RenderedCard]:
    found = evaluator().rendered_from_timeline(
        timeline(resources, drafts, on),
        now=datetime.combine(on, time(10, 0), tzinfo=UTC),
        patient_id=PATIENT,
        user_id="Practitioner/dr-1",
        encounter_id=None,
        acknowledgements=acknowledgements,
    )
    return {item.topic: item for item in found}


def key(
    resources: list[dict[str, Any]], topic: str, on: date = TODAY, drafts: list[dict[str, Any]] | None = None
) -> str:
    return rendered(resources, on, drafts)[topic].evidence_key


NEUROTOXICITY = "possible-neurotoxicity"
INTERVAL = "interval-imaging"
BASELINE = "baseline-brain-mri"

CAR_T = administration("Yescarta", -6)
ICE_5 = score("ICE score", 5, -1)
ICI = administration("pembrolizumab 200 mg IV", -60)
IUPD = report(-10, title="CT chest abdomen pelvis", conclusion="Findings consistent with iUPD.")
PLAN = order("Carvykti", -2, intent="plan")

# (case, topic, record on day A, day A, record on day B, day B, same key?)
KEYS: list[tuple[str, str, list[dict[str, Any]], int, list[dict[str, Any]], int, bool]] = [
    ("neurotoxicity: same finding, the next day", NEUROTOXICITY, [CAR_T, ICE_5], 0, [CAR_T, ICE_5], 1, True),
    (
        "neurotoxicity: same finding, critical today and a stale warning 4 days later",
        NEUROTOXICITY,
        [CAR_T, score("ICE score", 2, 0)],
        0,
        [CAR_T, score("ICE score", 2, 0)],
        4,
        True,
    ),
    (
        "neurotoxicity: a new finding",
        NEUROTOXICITY,
        [CAR_T, ICE_5],
        0,
        [CAR_T, ICE_5, note("new generalized seizure", 0)],
        0,
        False,
    ),
    (
        "neurotoxicity: a new score value",
        NEUROTOXICITY,
        [CAR_T, ICE_5],
        0,
        [CAR_T, ICE_5, score("ICE score", 3, 0)],
        0,
        False,
    ),
    (
        "neurotoxicity: the same finding charted in other words",
        NEUROTOXICITY,
        [CAR_T, note("new generalized seizure", -1)],
        0,
        [CAR_T, note("generalised tonic-clonic seizure this morning", -1)],
        0,
        True,
    ),
    ("window: the day counter moves", INTERVAL, [CAR_T], 0, [CAR_T], 3, True),
    ("window: a new window opens (day +28 response)", INTERVAL, [CAR_T], 0, [CAR_T], 16, False),
    (
        "window: a new CAR-T infusion is a new day 0",
        INTERVAL,
        [CAR_T],
        0,
        [CAR_T, administration("Yescarta", 0)],
        1,
        False,
    ),
    ("iRECIST: planned, then due (same iUPD)", INTERVAL, [ICI, IUPD], 0, [ICI, IUPD], 20, True),
    (
        "iRECIST: a new iUPD report",
        INTERVAL,
        [ICI, IUPD],
        0,
        [
            ICI,
            IUPD,
            report(-1, title="CT chest abdomen pelvis", conclusion="New iUPD, unconfirmed progression."),
        ],
        0,
        False,
    ),
    ("baseline: same plan, the next day", BASELINE, [PLAN], 0, [PLAN], 1, True),
    (
        "baseline: another planned therapy",
        BASELINE,
        [PLAN],
        0,
        [order("Abecma", -2, intent="plan")],
        0,
        False,
    ),
]


@pytest.mark.parametrize(
    ("topic", "first", "first_day", "second", "second_day", "same"),
    [pytest.param(*row[1:], id=row[0]) for row in KEYS],
)
def test_the_evidence_key_follows_the_evidence_not_the_day(
    topic: str,
    first: list[dict[str, Any]],
    first_day: int,
    second: list[dict[str, Any]],
    second_day: int,
    same: bool,
) -> None:
    before = key(first, topic, TODAY + timedelta(days=first_day))
    after = key(second, topic, TODAY + timedelta(days=second_day))
    assert (before == after) is same


def test_the_evidence_key_does_not_depend_on_the_order_of_the_resources() -> None:
    record = [CAR_T, ICE_5, note("new generalized seizure", 0), condition(-2, text="ICANS"), ICI, IUPD]
    expected = {topic: item.evidence_key for topic, item in rendered(record).items()}
    shuffler = random.Random(16)
    for _ in range(5):
        shuffled = record[:]
        shuffler.shuffle(shuffled)
        assert {topic: item.evidence_key for topic, item in rendered(shuffled).items()} == expected


def test_a_draft_baseline_and_the_same_plan_signed_share_the_key() -> None:
    drafted = key([], BASELINE, drafts=[draft("Carvykti")])
    assert drafted == key([], BASELINE, drafts=[draft("Carvykti")])
    assert drafted != key([], BASELINE, drafts=[draft("Abecma")])


def test_evidence_keys_of_other_topics_differ_for_the_same_parts() -> None:
    found = rendered([CAR_T, ICE_5, ICI, IUPD])
    keys = [item.evidence_key for item in found.values()]
    assert len(keys) == len(set(keys))


# --- suppression -------------------------------------------------------------------------------------------

WARNING_RECORD = [CAR_T, score("ICE score", 8, 0)]  # grade 1: a warning


@pytest.mark.parametrize(("days_later", "shown"), [(0, False), (3, False), (6, False), (7, True)])
def test_an_overridden_warning_stays_quiet_for_the_quiet_period(days_later: int, shown: bool) -> None:
    card = rendered(WARNING_RECORD)[NEUROTOXICITY]
    assert card.card["indicator"] == "warning"
    ack = Acknowledgement(NEUROTOXICITY, card.evidence_key, TODAY)
    later = TODAY + timedelta(days=days_later)
    assert (NEUROTOXICITY in rendered(WARNING_RECORD, later, acknowledgements=(ack,))) is shown


def test_new_evidence_brings_an_overridden_card_back_at_once() -> None:
    card = rendered(WARNING_RECORD)[NEUROTOXICITY]
    ack = Acknowledgement(NEUROTOXICITY, card.evidence_key, TODAY)
    worse = [*WARNING_RECORD, note("new generalized seizure", 1)]
    assert NEUROTOXICITY in rendered(worse, TODAY + timedelta(days=1), acknowledgements=(ack,))


@pytest.mark.parametrize("days_later", [0, 1, 3])
def test_an_overridden_critical_card_returns_on_new_evidence_only(days_later: int) -> None:
    record = [CAR_T, score("ICE score", 2, 0)]
    card = rendered(record)[NEUROTOXICITY]
    assert card.card["indicator"] == "critical"
    ack = Acknowledgement(NEUROTOXICITY, card.evidence_key, TODAY - timedelta(days=30))
    later = TODAY + timedelta(days=days_later)
    # Acknowledged long before (the same evidence key): still quiet while critical.
    assert NEUROTOXICITY not in rendered(record, later, acknowledgements=(ack,))
    renewed = [*record, score("ICE score", 1, days_later)]
    assert NEUROTOXICITY in rendered(renewed, later, acknowledgements=(ack,))


def test_an_acknowledgement_of_another_topic_or_patient_key_changes_nothing() -> None:
    found = rendered(WARNING_RECORD)
    other = Acknowledgement(INTERVAL, found[NEUROTOXICITY].evidence_key, TODAY)
    assert NEUROTOXICITY in rendered(WARNING_RECORD, acknowledgements=(other,))


IS_ACKNOWLEDGED: list[tuple[str, int, int, bool, bool]] = [
    # (case, days since the override, quiet days, until new evidence, acknowledged)
    ("same day", 0, 7, False, True),
    ("last quiet day", 6, 7, False, True),
    ("quiet period over", 7, 7, False, False),
    ("quiet period 0 days", 0, 0, False, False),
    ("critical: long ago", 90, 7, True, True),
    ("an override dated after today (replay)", -1, 7, True, False),
]


@pytest.mark.parametrize(
    ("age", "quiet", "until_new", "expected"), [pytest.param(*row[1:], id=row[0]) for row in IS_ACKNOWLEDGED]
)
def test_is_acknowledged(age: int, quiet: int, until_new: bool, expected: bool) -> None:
    item = RenderedCard({}, NEUROTOXICITY, "k1")
    ack = Acknowledgement(NEUROTOXICITY, "k1", TODAY - timedelta(days=age))
    assert is_acknowledged(item, [ack], TODAY, quiet, until_new_evidence=until_new) is expected
    assert not is_acknowledged(RenderedCard({}, NEUROTOXICITY, "k2"), [ack], TODAY, quiet)


def test_the_quiet_period_is_read_from_timing() -> None:
    quiet = evaluator().knowledge.timing.acknowledgements
    assert quiet.quiet_days == 7
    assert quiet.critical_returns_on_new_evidence_only
