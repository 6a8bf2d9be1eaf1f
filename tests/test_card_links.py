"""Every card links to the SMART timeline app when the app is enabled: a CDS Hooks 2.0 `smart` link to
the launch URL (under CDS_PUBLIC_BASE_URL when set), with the card's topic and evidence key as
`appContext`; with the app off (the default) cards carry no link. Responses stay valid CDS Hooks."""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cds_validation import assert_valid_cds_response
from conftest import settings_for
from smart_support import SESSION_SECRET, scenario_now
from starlette.exceptions import StarletteDeprecationWarning

from clinical.acknowledgements import RenderedCard
from service import cli
from service.app import create_app
from service.card_links import TIMELINE_LINK_LABEL, app_context, launch_url, with_timeline_link

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

SCENARIO = "car-t-day5-new-ice6-order-select"
SERVICE = "/cds-services/immunotherapy-brain-mri-order-select"


@pytest.fixture(scope="module")
def hook_request() -> dict[str, Any]:
    """The scenario's hook request as `immuno-cds request` builds it, at the scenario's own dates."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["request", SCENARIO, "--on-date", "scenario"]) == 0
    request: dict[str, Any] = json.loads(out.getvalue())
    return request


@contextmanager
def service(tmp_path: Path, **overrides: Any) -> Iterator[TestClient]:
    now = scenario_now(SCENARIO)
    app = create_app(settings_for(tmp_path / "cds.sqlite3", **overrides), clock=lambda: now)
    with TestClient(app) as client:
        yield client


def cards(client: TestClient, request: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(SERVICE, json=request)
    assert response.status_code == 200, response.text
    assert_valid_cds_response(response.json())
    found: list[dict[str, Any]] = response.json()["cards"]
    assert found, "the scenario must answer with a card"
    return found


@pytest.mark.parametrize(
    ("overrides", "url"),
    [
        ({}, "http://testserver/smart/launch"),
        (
            {"public_base_url": "https://cds.hospital.example/immuno/"},
            "https://cds.hospital.example/immuno/smart/launch",
        ),
    ],
    ids=["request-base", "public-base"],
)
def test_with_the_app_enabled_every_card_links_to_its_launch_url(
    tmp_path: Path, hook_request: dict[str, Any], overrides: dict[str, Any], url: str
) -> None:
    with service(
        tmp_path, smart_app_enabled=True, smart_session_secret=SESSION_SECRET, **overrides
    ) as client:
        found = cards(client, hook_request)

    for card in found:
        (link,) = [link for link in card["links"] if link["type"] == "smart"]
        assert link["label"] == TIMELINE_LINK_LABEL
        assert link["url"] == url
        context = json.loads(link["appContext"])
        assert context["topic"] == card["source"]["topic"]["code"]
        assert len(context["evidence"]) == 32
        assert set(context) == {"topic", "evidence"}


def test_with_the_app_off_cards_carry_no_timeline_link(tmp_path: Path, hook_request: dict[str, Any]) -> None:
    with service(tmp_path) as client:
        found = cards(client, hook_request)

    assert all(
        "links" not in card or all(link["type"] != "smart" for link in card["links"]) for card in found
    )


def test_the_link_is_added_after_the_cards_own_links_and_the_issued_card_is_unchanged() -> None:
    own = {"label": "Guideline", "url": "https://guideline.example/", "type": "absolute"}
    card = {"uuid": "u", "summary": "s", "indicator": "info", "source": {"label": "x"}, "links": [own]}
    rendered = RenderedCard(card, "interval-imaging", "f" * 32)

    linked = with_timeline_link(rendered, launch_url("https://cds.example/"))

    assert linked["links"][0] == own
    assert linked["links"][1]["url"] == "https://cds.example/smart/launch"
    assert linked["links"][1]["appContext"] == app_context("interval-imaging", "f" * 32)
    assert card["links"] == [own]
