"""The SMART app in headless Chromium: a real browser follows the EHR launch through the test
authorization server (authorize, code and state back, the token exchanged server-side) to the timeline
page, keeping the session cookie as browsers do (httpOnly, Secure on loopback, SameSite=Lax). No page of
the app carries a script and its Content-Security-Policy lets none run (tests/test_smart_app.py), so the
browser draws it exactly as with JavaScript off. The page shows the therapy day, the scores and today's
card; a screenshot is kept in var/test-artifacts/smart-timeline.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from smart_auth_server import SmartTestServer
from smart_support import SCENARIO, MovableClock, launch_url, running_app, scenario_now
from test_report_browser import ARTIFACTS, browser, chromium


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, SmartTestServer]]:
    server = SmartTestServer.for_scenario(SCENARIO)
    clock = MovableClock(scenario_now())
    with (
        server.running() as iss,
        running_app(tmp_path_factory.mktemp("smart-browser") / "cds.sqlite3", clock) as app,
    ):
        yield launch_url(app, iss, server.launch_id), server


def test_a_browser_following_the_card_link_sees_the_timeline_with_todays_card(
    launched: tuple[str, SmartTestServer], tmp_path: Path
) -> None:
    binary = browser()
    url, server = launched

    dom = chromium(binary, tmp_path / "profile", "--dump-dom", url).stdout

    assert "Today's cards" in dom, dom[-3000:]
    assert "CAR-T cell therapy: day +7" in dom
    assert "ICE score" in dom
    assert re.search(r'<div class="card today critical" id="card-possible-neurotoxicity">', dom)
    assert server.access_token not in dom and "<script" not in dom
    assert [path for method, path in server.requests] == ["/authorize", "/token"]


def test_the_timeline_page_is_kept_as_a_screenshot(
    launched: tuple[str, SmartTestServer], tmp_path: Path
) -> None:
    binary = browser()
    url, _ = launched
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / "smart-timeline.png"
    target.unlink(missing_ok=True)

    chromium(
        binary,
        tmp_path / "profile",
        f"--screenshot={target}",
        "--window-size=1200,1400",
        "--hide-scrollbars",
        url,
    )

    assert target.is_file() and target.stat().st_size > 10_000, f"no screenshot at {target}"
