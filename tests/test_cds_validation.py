"""The card validator itself: it accepts a full valid response and catches each rule's breach."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from cds_validation import assert_valid_cds_response, cds_response_problems

CARD_UUID = "6b1c8a52-5a52-4c1e-9d0c-7a1b2c3d4e5f"
SUGGESTION_UUID = "0f3e2d1c-4b5a-4968-8776-5a4b3c2d1e0f"


def valid_response() -> dict[str, Any]:
    return {
        "cards": [
            {
                "uuid": CARD_UUID,
                "summary": "Baseline brain MRI advised before starting pembrolizumab",
                "detail": "No brain imaging in the last 90 days.",
                "indicator": "warning",
                "source": {
                    "label": "Immunotherapy neuroimaging",
                    "url": "https://example.org/guideline",
                    "topic": {"system": "https://example.org/topics", "code": "baseline-mri"},
                },
                "selectionBehavior": "at-most-one",
                "suggestions": [
                    {
                        "label": "Order brain MRI with contrast",
                        "uuid": SUGGESTION_UUID,
                        "isRecommended": True,
                        "actions": [
                            {
                                "type": "create",
                                "description": "Order MRI brain",
                                "resource": {"resourceType": "ServiceRequest", "status": "draft"},
                            },
                            {
                                "type": "delete",
                                "description": "Remove the draft",
                                "resourceId": "MedicationRequest/request-123",
                            },
                        ],
                    }
                ],
                "overrideReasons": [
                    {"system": "https://example.org/override", "code": "recent", "display": "Imaged recently"}
                ],
                "links": [
                    {"label": "Guideline", "url": "https://example.org/g", "type": "absolute"},
                    {
                        "label": "App",
                        "url": "https://app.example.org/launch",
                        "type": "smart",
                        "appContext": "topic=mri",
                    },
                ],
            }
        ]
    }


def test_valid_response_passes() -> None:
    assert_valid_cds_response(valid_response())
    assert_valid_cds_response({"cards": []})


def _card(body: dict[str, Any]) -> dict[str, Any]:
    card: dict[str, Any] = body["cards"][0]
    return card


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value

    return mutate


_DELETE = object()


@pytest.mark.parametrize(
    ("mutate", "expected_problem"),
    [
        pytest.param(lambda body: body.clear(), "$.cards: is required", id="no-cards"),
        pytest.param(_set("cards", {}), "$.cards: must be an array", id="cards-not-array"),
        pytest.param(_set("extra", 1), "$.extra: is not a field", id="unknown-top-level-field"),
        pytest.param(_set("systemActions", []), "$.systemActions: is []", id="empty-system-actions"),
        pytest.param(_set("cards.0.detail", None), "$.cards[0].detail: is null", id="null-optional"),
        pytest.param(_set("cards.0.detail", ""), '$.cards[0].detail: is ""', id="empty-string-optional"),
        pytest.param(_set("cards.0.links", []), "$.cards[0].links: is []", id="empty-list-optional"),
        pytest.param(
            _set("cards.0.suggestions.0.actions.0.resource.meta", {}),
            "$.cards[0].suggestions[0].actions[0].resource.meta: is {}",
            id="empty-object-deep-inside",
        ),
        pytest.param(_set("cards.0.uuid", _DELETE), "$.cards[0].uuid: is required", id="card-without-uuid"),
        pytest.param(_set("cards.0.uuid", "card-1"), "$.cards[0].uuid: must be a UUID", id="card-uuid-bad"),
        pytest.param(
            _set("cards.0.suggestions.0.uuid", CARD_UUID),
            "$.cards[0].suggestions[0].uuid: repeats the uuid",
            id="duplicate-uuid",
        ),
        pytest.param(
            _set("cards.0.suggestions.0.uuid", _DELETE),
            "$.cards[0].suggestions[0].uuid: is required",
            id="suggestion-without-uuid",
        ),
        pytest.param(_set("cards.0.summary", _DELETE), "$.cards[0].summary: is required", id="no-summary"),
        pytest.param(_set("cards.0.summary", "x" * 140), "it must be under 140", id="summary-140-chars"),
        pytest.param(_set("cards.0.summary", "   "), "$.cards[0].summary: must not be blank", id="blank"),
        pytest.param(
            _set("cards.0.indicator", "hard-stop"), "$.cards[0].indicator: must be one of", id="ind"
        ),
        pytest.param(_set("cards.0.indicator", _DELETE), "$.cards[0].indicator: is required", id="no-ind"),
        pytest.param(_set("cards.0.source", _DELETE), "$.cards[0].source: is required", id="no-source"),
        pytest.param(
            _set("cards.0.source.label", _DELETE),
            "$.cards[0].source.label: is required",
            id="no-source-label",
        ),
        pytest.param(
            _set("cards.0.source.url", "/relative"),
            "$.cards[0].source.url: must be an absolute http(s) URL",
            id="source-url-relative",
        ),
        pytest.param(
            _set("cards.0.source.topic", {"display": "x"}),
            "$.cards[0].source.topic.code: is required",
            id="topic-without-code",
        ),
        pytest.param(
            _set("cards.0.selectionBehavior", _DELETE),
            "$.cards[0].selectionBehavior: is required when there are suggestions",
            id="suggestions-without-selection-behavior",
        ),
        pytest.param(
            _set("cards.0.selectionBehavior", "all"),
            "$.cards[0].selectionBehavior: must be one of",
            id="selection-behavior-unknown",
        ),
        pytest.param(
            _set("cards.0.suggestions", _DELETE),
            "$.cards[0].selectionBehavior: is only meaningful with suggestions",
            id="selection-behavior-without-suggestions",
        ),
        pytest.param(
            _set("cards.0.suggestions.0.label", _DELETE),
            "$.cards[0].suggestions[0].label: is required",
            id="suggestion-without-label",
        ),
        pytest.param(
            _set("cards.0.suggestions.0.isRecommended", "yes"),
            "$.cards[0].suggestions[0].isRecommended: must be a boolean",
            id="is-recommended-not-bool",
        ),
        pytest.param(
            _set("cards.0.suggestions.0.actions.0.type", "insert"),
            "$.cards[0].suggestions[0].actions[0].type: must be one of",
            id="action-type-unknown",
        ),
        pytest.param(
            _set("cards.0.suggestions.0.actions.0.description", _DELETE),
            "$.cards[0].suggestions[0].actions[0].description: is required",
            id="action-without-description",
        ),
        pytest.param(
            _set("cards.0.suggestions.0.actions.0.resource", _DELETE),
            "$.cards[0].suggestions[0].actions[0].resource: is required for a create action",
            id="create-without-resource",
        ),
        pytest.param(
            _set("cards.0.suggestions.0.actions.0.resource", {"status": "draft"}),
            "must be a FHIR resource with a resourceType",
            id="create-resource-without-type",
        ),
        pytest.param(
            _set("cards.0.suggestions.0.actions.0.type", "update"),
            "$.cards[0].suggestions[0].actions[0].resource.id: is required for an update action",
            id="update-without-id",
        ),
        pytest.param(
            _set("cards.0.suggestions.0.actions.0.resourceId", "ServiceRequest/1"),
            "$.cards[0].suggestions[0].actions[0].resourceId: is for delete actions",
            id="create-with-resource-id",
        ),
        pytest.param(
            _set("cards.0.suggestions.0.actions.1.resourceId", _DELETE),
            "$.cards[0].suggestions[0].actions[1].resourceId: is required",
            id="delete-without-resource-id",
        ),
        pytest.param(
            _set("cards.0.suggestions.0.actions.1.resourceId", "request-123"),
            "must be a relative reference Type/id",
            id="delete-resource-id-not-relative",
        ),
        pytest.param(
            _set("cards.0.suggestions.0.actions.1.resource", {"resourceType": "MedicationRequest"}),
            "$.cards[0].suggestions[0].actions[1].resource: is not allowed on a delete action",
            id="delete-with-resource",
        ),
        pytest.param(
            _set("cards.0.overrideReasons.0.display", _DELETE),
            "$.cards[0].overrideReasons[0].display: is required",
            id="override-reason-without-display",
        ),
        pytest.param(
            _set("cards.0.overrideReasons", ["recent"]),
            "$.cards[0].overrideReasons[0]: must be an object",
            id="override-reason-not-coding",
        ),
        pytest.param(
            _set("cards.0.links.0.type", "relative"),
            "$.cards[0].links[0].type: must be one of",
            id="link-type",
        ),
        pytest.param(
            _set("cards.0.links.0.url", "javascript:alert(1)"),
            "$.cards[0].links[0].url: must be an absolute http(s) URL",
            id="link-url-not-http",
        ),
        pytest.param(
            _set("cards.0.links.0.label", _DELETE), "$.cards[0].links[0].label: is required", id="link-label"
        ),
        pytest.param(
            _set("cards.0.links.0.appContext", "x"),
            "$.cards[0].links[0].appContext: is only allowed on smart links",
            id="app-context-on-absolute-link",
        ),
        pytest.param(
            _set("cards.0.links.1.autolaunchable", "true"),
            "$.cards[0].links[1].autolaunchable: must be a boolean",
            id="autolaunchable-not-bool",
        ),
        pytest.param(_set("cards.0.title", "x"), "$.cards[0].title: is not a field", id="unknown-card-field"),
    ],
)
def test_invalid_response_is_rejected(
    mutate: Callable[[dict[str, Any]], None], expected_problem: str
) -> None:
    body = copy.deepcopy(valid_response())
    mutate(body)

    problems = cds_response_problems(body)

    assert any(expected_problem in problem for problem in problems), problems
    with pytest.raises(AssertionError, match="invalid CDS Hooks response"):
        assert_valid_cds_response(body)


def test_card_summary_of_139_characters_is_allowed() -> None:
    body = valid_response()
    _card(body)["summary"] = "x" * 139

    assert cds_response_problems(body) == []


def test_body_that_is_not_an_object_is_rejected() -> None:
    assert cds_response_problems([]) == ["$: must be an object, not list"]
