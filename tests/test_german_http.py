"""The cards' language over HTTP (issue 19 section 3): the client's `language` in the trusted-clients
file, else the request's Accept-Language (de, de-DE, de-CH ... German; anything else English; q-values
respected), else English; the chosen language in the audit line."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from security_support import (
    ISSUER,
    bearer,
    claims,
    client_entry,
    complete_prefetch,
    ec_key,
    hook_body,
    mint,
    running_app,
    service_path,
    settings_for,
    write_clients,
)

from service.card_language import language_from_accept_language
from service.security.trusted_clients import TrustedClientsError, parse_trusted_clients

KEY = ec_key("german-k1")
GERMAN_ISSUER = "https://klinikum.example.de/cds-client"
PATIENT = {"resourceType": "Patient", "id": "pt-onc-1", "birthDate": "1961-04-02"}

# (case, header, language)
HEADERS: list[tuple[str, str | None, str]] = [
    ("no header", None, "en"),
    ("de", "de", "de"),
    ("de-DE with q-values", "de-DE,de;q=0.9,en;q=0.8", "de"),
    ("de-CH", "de-CH", "de"),
    ("fr", "fr", "en"),
    ("fr first, then German", "fr, de;q=0.5", "de"),
    ("English preferred over German", "de;q=0.4, en;q=0.9", "en"),
    ("German refused with q=0", "de;q=0, fr", "en"),
    ("wildcard", "*", "en"),
    ("malformed q", "de;q=abc", "en"),
    ("empty", "", "en"),
]


@pytest.mark.parametrize(("header", "language"), [pytest.param(*row[1:], id=row[0]) for row in HEADERS])
def test_accept_language_picks_the_language(header: str | None, language: str) -> None:
    assert language_from_accept_language(header) == language


def test_a_client_language_other_than_en_or_de_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TrustedClientsError) as refused:
        parse_trusted_clients({"clients": [client_entry(KEY, language="fr")]}, tmp_path / "clients.yaml")
    assert "language" in str(refused.value)


async def _call(
    tmp_path: Path, issuer: str, headers: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    clients = write_clients(
        tmp_path,
        client_entry(KEY),
        client_entry(KEY, iss=GERMAN_ISSUER, language="de"),
    )
    settings = settings_for(tmp_path, trusted_clients_file=clients)
    path = service_path("order-select")
    token = mint(KEY, claims(audience=f"http://testserver{path}", issuer=issuer, iat=int(time.time())))
    async with running_app(settings) as client:
        response = await client.post(
            path,
            json=hook_body("order-select", prefetch=complete_prefetch([PATIENT])),
            headers={"Authorization": bearer(token), **headers},
        )
    assert response.status_code == 200, response.text
    output = capfd.readouterr()
    lines = [
        json.loads(line)
        for line in (output.out + output.err).splitlines()
        if line.startswith("{") and '"hook_call"' in line
    ]
    (audit,) = lines
    cards: list[dict[str, Any]] = response.json()["cards"]
    return cards, audit


# (case, issuer, request headers, language)
CALLS: list[tuple[str, str, dict[str, str], str]] = [
    ("client language: de", GERMAN_ISSUER, {}, "de"),
    ("client language: de over Accept-Language: en", GERMAN_ISSUER, {"Accept-Language": "en"}, "de"),
    ("Accept-Language de-DE", ISSUER, {"Accept-Language": "de-DE,de;q=0.9,en;q=0.8"}, "de"),
    ("Accept-Language fr", ISSUER, {"Accept-Language": "fr"}, "en"),
    ("no header", ISSUER, {}, "en"),
]

SUMMARY = {
    "de": "Baseline-MRT des Schädels vor Pembrolizumab (Checkpoint-Inhibitor) erwägen",
    "en": "Consider a baseline brain MRI before pembrolizumab (checkpoint inhibitor)",
}


@pytest.mark.parametrize(
    ("issuer", "headers", "language"), [pytest.param(*row[1:], id=row[0]) for row in CALLS]
)
async def test_the_hook_answers_in_the_chosen_language(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], issuer: str, headers: dict[str, str], language: str
) -> None:
    cards, audit = await _call(tmp_path, issuer, headers, capfd)
    assert [card["summary"] for card in cards] == [SUMMARY[language]]
    assert audit["card_language"] == language
