"""Service settings, read from environment variables prefixed ``CDS_``.

Every setting is documented in the README. Two profiles exist: ``production`` (the default: nothing is
trusted, no open FHIR servers) and ``development`` (for the CDS Hooks Sandbox: open FHIR servers allowed,
loopback ``http`` allowed, and optionally unauthenticated calls).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The CDS Hooks Sandbox's default FHIR server; allowed by default in the development profile only.
SANDBOX_FHIR_SERVER = "https://launch.smarthealthit.org/v/r4/fhir"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDS_", extra="ignore")

    profile: Literal["production", "development"] = "production"

    # Storage: SQLite file by default; a SQLAlchemy async URL (postgresql+asyncpg://...) in production.
    database_url: str | None = None
    sqlite_path: Path = Path("var/cds-feedback.sqlite3")
    # PostgreSQL connections per worker process: pool_size kept open, up to max_overflow more under
    # load. replicas x workers x (pool_size + max_overflow) must stay below the server's
    # max_connections (README, "Deployment").
    database_pool_size: int = Field(default=5, ge=1)
    database_max_overflow: int = Field(default=2, ge=0)
    # Bound on connecting, on waiting for a pooled connection and on each statement; past it the
    # database counts as unreachable and the service runs without it (README, "When the database is away").
    database_timeout_seconds: float = Field(default=2.0, gt=0)
    # Longest wait between two attempts to reach the database again (exponential backoff up to this).
    database_retry_max_seconds: float = Field(default=30.0, gt=0)
    # JWT ids each worker keeps in memory (replay protection; the only protection while the database
    # is unreachable), and issued-card rows kept while it is unreachable.
    replay_window_max_entries: int = Field(default=100_000, ge=1)
    issued_cards_max_buffered_rows: int = Field(default=10_000, ge=0)

    # Public URL the EHR calls us at (behind a proxy); used for JWT `aud` checks.
    public_base_url: str | None = None

    # Browser clients (the CDS Hooks Sandbox) need CORS.
    cors_allow_origins: list[str] = Field(default_factory=lambda: ["*"])

    # Request limits.
    max_body_bytes: int = 8 * 1024 * 1024

    # FHIR access.
    hook_deadline_seconds: float = 0.9
    fhir_connect_timeout_seconds: float = 0.5
    fhir_read_timeout_seconds: float = 0.8
    fhir_page_size: int = 200
    fhir_max_pages: int = 20
    fhir_max_response_bytes: int = 16 * 1024 * 1024
    fhir_max_concurrent_requests: int = 8
    # FHIR base URLs any caller may name (authenticated clients add their own allowlist).
    fhir_server_allowlist: list[str] | None = None
    # Query a FHIR server without an access token when the EHR sent no fhirAuthorization.
    allow_open_fhir_servers: bool | None = None

    # Authentication.
    trusted_clients_file: Path | None = None
    allow_unauthenticated: bool = False
    jwt_leeway_seconds: int = 30
    jwt_max_lifetime_seconds: int = 3600
    jwks_cache_seconds: int = 3600
    jwks_min_refresh_interval_seconds: float = 10.0

    # Reviewed clinical content.
    knowledge_dir: Path = PROJECT_ROOT / "knowledge"
    cards_dir: Path = PROJECT_ROOT / "cards"

    # Operations.
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    metrics_enabled: bool = True
    # GET /openapi.json and /docs (Swagger UI, assets served by the service itself): on by default in
    # the development profile, off in production unless enabled.
    api_docs_enabled: bool | None = None
    workers: int = 1
    host: str = "127.0.0.1"
    port: int = 8000

    @property
    def is_development(self) -> bool:
        return self.profile == "development"

    @cached_property
    def effective_fhir_server_allowlist(self) -> tuple[str, ...]:
        if self.fhir_server_allowlist is not None:
            return tuple(self.fhir_server_allowlist)
        if self.is_development:
            return (SANDBOX_FHIR_SERVER, "http://127.0.0.1", "http://localhost")
        return ()

    @property
    def open_fhir_servers_allowed(self) -> bool:
        if self.allow_open_fhir_servers is not None:
            return self.allow_open_fhir_servers
        return self.is_development

    @property
    def api_docs_served(self) -> bool:
        if self.api_docs_enabled is not None:
            return self.api_docs_enabled
        return self.is_development

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.sqlite_path}"
