"""The language of the cards for one hook call (issue 19 section 3): the client's own setting in the
trusted-clients file, else the request's Accept-Language, else English."""

from __future__ import annotations

from typing import Literal

CardLanguage = Literal["en", "de"]
CARD_LANGUAGES: tuple[CardLanguage, ...] = ("en", "de")
DEFAULT_CARD_LANGUAGE: CardLanguage = "en"


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return 0.0
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0


def language_from_accept_language(header: str | None) -> CardLanguage:
    """The best-liked language we have cards in: "de", "de-DE", "de-CH" are German; a range we have no
    cards for (fr, *), or q=0, counts for nothing; ties go to the one named first; nothing usable is
    English. Malformed parts are skipped, never an error (the header is a preference)."""
    best: CardLanguage = DEFAULT_CARD_LANGUAGE
    best_quality = 0.0
    for part in (header or "")[:1000].split(","):
        tag, *parameters = part.split(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in CARD_LANGUAGES:
            continue
        quality = _quality(parameters)
        if quality > best_quality:
            best, best_quality = ("de" if primary == "de" else "en"), quality
    return best


def card_language(client_language: CardLanguage | None, accept_language: str | None) -> CardLanguage:
    if client_language is not None:
        return client_language
    return language_from_accept_language(accept_language)
