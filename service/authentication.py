"""Authenticating CDS clients (placeholder interface; the full JWT verification replaces this)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from service.exceptions import Unauthenticated
from service.settings import Settings


@dataclass(frozen=True)
class Caller:
    """Who called: the verified client, or an unauthenticated development caller (issuer None)."""

    issuer: str | None
    tenant: str | None
    fhir_server_allowlist: tuple[str, ...]


class Authenticator:
    def __init__(self, settings: Settings, *, engine: AsyncEngine, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._engine = engine
        self._http = http

    async def authenticate(self, authorization: str | None, audience: str) -> Caller:
        if self._settings.allow_unauthenticated and self._settings.is_development:
            return Caller(None, None, self._settings.effective_fhir_server_allowlist)
        raise Unauthenticated("no_trusted_clients", "no trusted clients are configured")

    async def aclose(self) -> None:
        return None
