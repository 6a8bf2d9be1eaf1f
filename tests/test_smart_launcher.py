"""The SMART app against the SMART reference launcher (github.com/smart-on-fhir/smart-launcher-v2), its
backend run from source: the launcher is the EHR's authorization server and FHIR proxy, in front of the
loopback FHIR server holding a scenario's record. An EHR launch with the launcher's own launch code
(provider EHR launch, patient chosen, login and authorization skipped) ends on the timeline page with
today's card; the launcher checks the PKCE verifier itself.

Runs where SMART_LAUNCHER_DIR names a checkout whose backend dependencies are installed (no network is
needed once they are); skipped otherwise, also under CI. Setting one up:

    git clone https://github.com/smart-on-fhir/smart-launcher-v2.git /tmp/smart-launcher
    mkdir /tmp/smart-launcher-deps && cd /tmp/smart-launcher-deps && echo '{"private":true}' > package.json
    npm install --ignore-scripts express@4.21.2 cors@2.8.5 cross-fetch@3.1.5 jsonwebtoken@8.5.1 \\
        node-jose@2.2.0 ts-node@10.9.1 typescript@4.8.4
    ln -s /tmp/smart-launcher-deps/node_modules /tmp/smart-launcher/node_modules
    SMART_LAUNCHER_DIR=/tmp/smart-launcher .venv/bin/python -m pytest tests/test_smart_launcher.py

(The versions are those of the launcher's package-lock.json; only the backend's packages are installed,
not the React front end, which the EHR launch does not use.)
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fhir_server import FhirTestServer
from smart_auth_server import SCENARIOS, scenario
from smart_support import SCENARIO, Browser, MovableClock, launch_url, running_app, scenario_now

STARTUP_SECONDS = 120


def launcher_dir() -> Path:
    configured = os.environ.get("SMART_LAUNCHER_DIR")
    if not configured:
        pytest.skip("SMART_LAUNCHER_DIR is not set (see this module's docstring to set up the launcher)")
    path = Path(configured)
    if (
        not (path / "backend" / "index.ts").is_file()
        or not (path / "node_modules" / ".bin" / "ts-node").exists()
    ):
        pytest.skip(f"{path} holds no smart-launcher-v2 checkout with its backend dependencies")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def running_launcher(directory: Path, fhir_base: str) -> Iterator[str]:
    port = free_port()
    environment = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "FHIR_SERVER_R4": fhir_base}
    process = subprocess.Popen(
        [
            str(directory / "node_modules" / ".bin" / "ts-node"),
            "--skipProject",
            "--transpile-only",
            "backend/index.ts",
        ],
        cwd=directory,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    iss = f"http://127.0.0.1:{port}/v/r4/fhir"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{iss}/.well-known/smart-configuration", timeout=2).status_code == 200:
                    break
            assert process.poll() is None, "the launcher stopped at start-up"
            assert time.monotonic() < deadline, "the launcher did not start"
            time.sleep(0.5)
        yield iss
    finally:
        process.terminate()
        process.wait(timeout=30)


def ehr_launch_code(patient: str) -> str:
    """The launcher's own launch code (src/isomorphic/codec.ts): provider EHR launch, this patient, a
    provider, no encounter, login and authorization skipped, public client, PKCE checked when sent."""
    fields = [0, patient, "practitioner-1", "NONE", 1, 1, 0, "", "", "", "", "", "", "", 0, 1, ""]
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


def test_an_ehr_launch_from_the_smart_reference_launcher_ends_on_the_timeline(tmp_path: Path) -> None:
    directory = launcher_dir()
    fhir = FhirTestServer.from_bundle_file(SCENARIOS / scenario(SCENARIO)["file"])
    patient = next(r["id"] for r in fhir.resources if r["resourceType"] == "Patient")
    with (
        fhir.running() as fhir_base,
        running_launcher(directory, fhir_base) as iss,
        running_app(tmp_path / "cds.sqlite3", MovableClock(scenario_now())) as app,
    ):
        browser = Browser(app)
        page = browser.follow(launch_url(app, iss, ehr_launch_code(patient)))
        browser.close()

    assert page.status_code == 200, page.text[-2000:]
    assert "CAR-T cell therapy: day +7" in page.text
    assert 'id="card-possible-neurotoxicity"' in page.text
    # The record came through the launcher's FHIR proxy from the FHIR server.
    assert {"/Patient/" + patient, "/Observation", "/Procedure"} <= {r.path for r in fhir.requests}
