"""Session contents sealed with AES-256-GCM: the access token, the PKCE verifier and the patient id are
stored encrypted, under a key derived from CDS_SMART_SESSION_SECRET (HKDF-SHA256).

Each sealed value is bound to its session row and stage (the associated data): a value copied into
another row, or a launch's contents presented as a signed-in session, does not open."""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
_KEY_INFO = b"immuno-cds smart session v1"


class SessionCipher:
    def __init__(self, secret: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(secret)
        self._aead = AESGCM(key)

    @classmethod
    def from_secret(cls, secret: str) -> SessionCipher:
        return cls(secret.encode("utf-8", "surrogatepass"))

    def seal(self, contents: dict[str, Any], bound_to: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, orjson.dumps(contents), bound_to.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, sealed: str, bound_to: str) -> dict[str, Any] | None:
        """The contents, or None when the value was not sealed by this key for `bound_to` (tampered,
        moved, another key)."""
        try:
            raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], bound_to.encode())
        except (InvalidTag, ValueError, binascii.Error):
            return None
        contents = orjson.loads(plain)
        return contents if isinstance(contents, dict) else None
