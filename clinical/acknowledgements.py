"""Cards a clinician has already answered for this patient: an override with a reason. The service reads
them from its feedback store and passes them in; the clinical core stays free of storage and HTTP.

A card is identified across days by its topic and an evidence key: a fingerprint of the evidence the
card rests on (findings, scores, the therapy dates and windows), not of its wording or of the day it is
shown. New evidence gives a new key, so an acknowledged card returns as soon as something new is charted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Acknowledgement:
    topic: str  # the card's source.topic.code, e.g. "possible-neurotoxicity"
    evidence_key: str  # RenderedCard.evidence_key of the card that was overridden
    acknowledged_on: date  # the day the override was recorded


@dataclass(frozen=True)
class RenderedCard:
    card: dict[str, Any]
    topic: str
    evidence_key: str


def fingerprint(parts: Iterable[str]) -> str:
    """A short stable key for an ordered collection of evidence descriptions."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:32]


def is_acknowledged(
    rendered: RenderedCard, acknowledgements: Iterable[Acknowledgement], today: date, quiet_days: int
) -> bool:
    """An override of the same card (topic and evidence) within `quiet_days` before today."""
    return any(
        ack.topic == rendered.topic
        and ack.evidence_key == rendered.evidence_key
        and 0 <= (today - ack.acknowledged_on).days < quiet_days
        for ack in acknowledgements
    )


__all__ = ["Acknowledgement", "RenderedCard", "fingerprint", "is_acknowledged"]
