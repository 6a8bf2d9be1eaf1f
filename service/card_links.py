"""Every card links to the SMART timeline app when it is enabled (CDS_SMART_APP_ENABLED).

The link is a CDS Hooks 2.0 `smart` link: the EHR launches the app at `url` with its own `iss` and
`launch`, and hands `appContext` back to the app in the token response. `appContext` names the card's
topic and its evidence key (a fingerprint of what the card rests on, never a patient's data), so the
app opens at that card.
"""

from __future__ import annotations

from typing import Any

import orjson

from clinical.acknowledgements import RenderedCard

TIMELINE_LINK_LABEL = "Open the neurotoxicity timeline"
LAUNCH_PATH = "/smart/launch"


def launch_url(public_base: str) -> str:
    return public_base.rstrip("/") + LAUNCH_PATH


def app_context(topic: str, evidence_key: str) -> str:
    return orjson.dumps({"topic": topic, "evidence": evidence_key}).decode()


def with_timeline_link(rendered: RenderedCard, url: str) -> dict[str, Any]:
    """The card with the timeline link added after any link it already has (a new dict: the rendered
    card stays as issued)."""
    link = {
        "label": TIMELINE_LINK_LABEL,
        "url": url,
        "type": "smart",
        "appContext": app_context(rendered.topic, rendered.evidence_key),
    }
    card = dict(rendered.card)
    card["links"] = [*card.get("links", []), link]
    return card
