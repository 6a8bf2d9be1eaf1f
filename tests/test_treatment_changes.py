"""Treatment changes on the timeline (clinical/timeline/treatment_changes.py): checkpoint-inhibitor
stops with their reason, and systemic anticancer therapy other than a checkpoint inhibitor
(docs/clinical-rules-v2.md section 4, issue 16 sections 6 and 8)."""

from __future__ import annotations

from typing import Any

import pytest
from clinical_support import SUBJECT, administration, day, draft, order, timeline

ATC = "http://www.whocc.no/atc"


def stopped(reason: str | None = None, status: str = "stopped", **fields: Any) -> dict[str, Any]:
    resource = order("nivolumab 480 mg IV every 4 weeks", -100, status=status)
    if reason is not None:
        resource["statusReason"] = {"text": reason}
    resource.update(fields)
    return resource


# (case, ICI record, expected reasons of the stops read)
STOPS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("progression", stopped("Disease progression"), ["progression"]),
    ("PD shorthand", stopped("PD on restaging"), ["progression"]),
    ("toxicity", stopped("Immune-mediated colitis, grade 3"), ["toxicity"]),
    ("both: progression wins", stopped("pneumonitis; later progression"), ["progression"]),
    ("negated progression: toxicity", stopped("hepatitis, no progression"), ["toxicity"]),
    ("PD-L1 is not PD", stopped("PD-L1 TPS 80%; stopped after 2 years"), ["unstated"]),
    ("progression-free is not progression", stopped("progression-free at 2 years"), ["unstated"]),
    ("reason in a note", stopped(note=[{"text": "Discontinued for iCPD"}]), ["progression"]),
    ("stopped without a reason", stopped(), ["unstated"]),
    ("completed without a reason: each cycle's order", stopped(status="completed"), []),
    ("completed with a reason", stopped("completed 2 years; toxicity none", status="completed"), []),
    ("cancelled for progression", stopped("progressive disease", status="cancelled"), ["progression"]),
    ("cancelled without a reason", stopped(status="cancelled"), []),
    ("active order", stopped("Disease progression", status="active"), []),
    (
        "MedicationStatement stopped (R4 statusReason list)",
        {
            "resourceType": "MedicationStatement",
            "id": "ms-1",
            "status": "stopped",
            "statusReason": [{"text": "immune-related myocarditis"}],
            "medicationCodeableConcept": {"text": "pembrolizumab"},
            "subject": SUBJECT,
            "effectivePeriod": {"start": day(-200), "end": day(-60)},
        },
        ["toxicity"],
    ),
    ("interrupted infusion without a reason", administration("nivolumab 480 mg", -30, status="stopped"), []),
]


@pytest.mark.parametrize(("record", "reasons"), [pytest.param(r, e, id=n) for n, r, e in STOPS])
def test_a_checkpoint_inhibitor_stop_is_read_with_its_reason(
    record: dict[str, Any], reasons: list[str]
) -> None:
    assert [stop.reason for stop in timeline([record]).ici_stops] == reasons


def test_a_stop_carries_its_stated_end() -> None:
    record = stopped(
        "colitis",
        dosageInstruction=[{"timing": {"repeat": {"boundsPeriod": {"start": day(-200), "end": day(-90)}}}}],
    )
    (stop,) = timeline([record]).ici_stops
    assert stop.started is not None and stop.started.isoformat() == day(-200)
    assert stop.ended is not None and stop.ended.isoformat() == day(-90)


# (case, record, expected names of other anticancer therapy)
OTHERS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("chemotherapy by name", administration("Docetaxel 75 mg/m2 IV", -10), ["docetaxel"]),
    ("brand name", order("Tagrisso 80 mg PO daily", -10), ["tagrisso"]),
    (
        "ATC L01 code only",
        {**order("x", -10), "medicationCodeableConcept": {"coding": [{"system": ATC, "code": "L01BC05"}]}},
        ["code l01bc05"],
    ),
    (
        "ATC L01FF (a checkpoint inhibitor) is not another therapy",
        {**order("x", -10), "medicationCodeableConcept": {"coding": [{"system": ATC, "code": "L01FF09"}]}},
        [],
    ),
    (
        "another therapy class of the catalog",
        administration("teclistamab 1.5 mg/kg SC", -10),
        ["teclistamab"],
    ),
    ("a checkpoint inhibitor", administration("pembrolizumab 200 mg", -10), []),
    ("supportive care", administration("ondansetron 8 mg", -10), []),
    ("planned (intent plan)", order("docetaxel", -10, intent="plan"), []),
    ("entered in error", administration("docetaxel", -10, status="entered-in-error"), []),
    (
        "second-line words on an unnamed agent",
        {**order("study drug XY-101", -10), "note": [{"text": "second-line therapy"}]},
        ["study drug xy-101"],
    ),
]


@pytest.mark.parametrize(("record", "names"), [pytest.param(r, e, id=n) for n, r, e in OTHERS])
def test_other_anticancer_therapy_is_read_by_code_name_or_line_words(
    record: dict[str, Any], names: list[str]
) -> None:
    assert [therapy.name for therapy in timeline([record]).other_anticancer_therapy] == names


def test_a_draft_chemotherapy_order_is_other_therapy_today() -> None:
    (therapy,) = timeline([], [draft("docetaxel 75 mg/m2 IV")]).other_anticancer_therapy
    assert therapy.draft_order and therapy.name == "docetaxel"
