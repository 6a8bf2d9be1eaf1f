"""PKCE (RFC 7636, S256 only), `state` and session ids: random values from the operating system."""

from __future__ import annotations

import base64
import hashlib
import secrets

# 32 random bytes: a 43-character verifier, the shortest RFC 7636 allows, and 256 bits.
RANDOM_BYTES = 32


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_verifier() -> str:
    return secrets.token_urlsafe(RANDOM_BYTES)


def challenge(verifier: str) -> str:
    """The S256 code challenge: BASE64URL(SHA256(ASCII(verifier))), without padding."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def new_state() -> str:
    return secrets.token_urlsafe(RANDOM_BYTES)


def new_session_id() -> str:
    return secrets.token_urlsafe(RANDOM_BYTES)


def session_key(session_id: str) -> str:
    """What the database keys a session by: a hash of the cookie's value, never the value itself, so a
    read of the table does not yield cookies to present."""
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()
