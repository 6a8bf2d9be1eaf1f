"""Shortening text for card fields with a length limit (the CDS Hooks summary, a study's name) without
cutting a word in half: the cut falls at a word boundary and an ellipsis says something was left out."""

from __future__ import annotations

ELLIPSIS = "…"
_TRAILING = " ,;:-(/\u2013"


def shorten(text: str, limit: int) -> str:
    """`text` with its whitespace collapsed, at most `limit` characters long. Only a single word longer
    than the limit is cut inside the word (nothing else fits)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    head = text[:room]
    if text[room] != " " and " " in head:
        head = head.rsplit(" ", 1)[0]
    head = head.rstrip(_TRAILING) or text[:room]
    return head + ELLIPSIS


__all__ = ["ELLIPSIS", "shorten"]
