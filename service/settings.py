"""Service settings, read from environment variables prefixed ``CDS_``.

Every setting is documented in docs/reference.md. Two profiles exist: ``production`` (the default: nothing is
trusted, no open FHIR servers) and ``development`` (for the CDS Hooks Sandbox: open FHIR servers allowed,
loopback ``http`` allowed, and optionally unauthenticated calls).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, FilePath, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The placeholder the deployment templates ship in secrets (deploy/kubernetes/secret.yaml).
PLACEHOLDER_SECRET = "CHANGE-ME"  # noqa: S105 - the placeholder we look for, not a password
SUPPORTED_DATABASE_DRIVERS = ("postgresql+asyncpg", "sqlite+aiosqlite")

# The CDS Hooks Sandbox's default FHIR server; allowed by default in the development profile only.
SANDBOX_FHIR_SERVER = "https://launch.smarthealthit.org/v/r4/fhir"
# The SMART app's session key: 32 characters at least (256 bits when random).
SMART_SESSION_SECRET_MIN_CHARS = 32


class Settings(BaseSettings):
    # An empty variable is an unset one (`make run CDS_TRUSTED_CLIENTS_FILE=` means "no file").
    model_config = SettingsConfigDict(env_prefix="CDS_", extra="ignore", env_ignore_empty=True)

    profile: Literal["production", "development"] = "production"

    # Storage: SQLite file by default; a SQLAlchemy async URL (postgresql+asyncpg://...) in production.
    database_url: str | None = None
    # Where the service and every command keep their files (the SQLite database by default): one
    # absolute directory, so `serve`, `migrate` and `feedback-report` agree from any working directory.
    data_dir: Path = PROJECT_ROOT / "var"
    # The SQLite file when no database URL is set; a relative path is taken inside data_dir.
    sqlite_path: Path = Path("cds-feedback.sqlite3")
    # PostgreSQL connections per worker process: pool_size kept open, up to max_overflow more under
    # load. replicas x workers x (pool_size + max_overflow) must stay below the server's
    # max_connections (docs/deployment.md, "Kubernetes").
    database_pool_size: int = Field(default=5, ge=1)
    database_max_overflow: int = Field(default=2, ge=0)
    # Bound on connecting, on waiting for a pooled connection and on each statement; past it the
    # database counts as unreachable and the service runs without it
    # (docs/deployment.md, "When the database is unreachable").
    database_timeout_seconds: float = Field(default=2.0, gt=0)
    # Longest wait between two attempts to reach the database again (exponential backoff up to this).
    database_retry_max_seconds: float = Field(default=30.0, gt=0)
    # JWT ids each worker keeps in memory (replay protection; the only protection while the database
    # is unreachable), and issued-card rows kept while it is unreachable.
    replay_window_max_entries: int = Field(default=100_000, ge=1)
    issued_cards_max_buffered_rows: int = Field(default=10_000, ge=0)
    # Feedback-aware cards (service/storage/acknowledgements.py): issued cards carry a keyed hash of the FHIR
    # server and patient id, never the id. The key: this secret, the same on every replica (from a
    # Kubernetes Secret); unset, it is derived from the database URL, which every replica of a
    # deployment shares (a warning is logged outside development: an SQLite path is no secret).
    patient_key_secret: SecretStr | None = None
    # How far back overrides are read on each hook call; at least the quiet period of an overridden
    # card (knowledge/timing.yaml, 7 days by default), or overrides would be forgotten too early.
    acknowledgement_lookback_days: int = Field(default=30, ge=1, le=366)
    # How often each worker re-reads which patients have overrides at all; a patient without one is
    # answered without the per-call read. An override stored through another replica or worker quiets
    # its card here at most this much later (until then the card may be shown once more).
    acknowledgement_refresh_seconds: float = Field(default=5.0, ge=0.5, le=300)

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
    # Connections per FHIR server (origin); each server gets its own pool, so one slow EHR fills only its own.
    fhir_max_connections_per_server: int = 64
    # Distinct Medications read per hook call; the rest stay unread (the record is marked truncated).
    fhir_max_medication_reads: int = Field(default=200, ge=0)
    # Bytes read from FHIR servers per hook call, across every search, page and Medication read (the
    # per-answer cap above bounds one answer; this bounds the call: docs/security.md, "Memory per call").
    fhir_max_call_bytes: int = Field(default=16 * 1024 * 1024, ge=1)
    # Every evaluation runs in a worker thread (never on the event loop), bounded in time; at most
    # `evaluation_threads` run and `evaluation_max_queued` wait per process, later calls get 503. 32 waiting
    # typical calls are about 0.15 s of CPU; with 8, 16 concurrent connections to one worker saw 4 calls in
    # 10 refused (docs/performance.md). A queued call whose deadline passes is dropped unstarted.
    evaluation_deadline_seconds: float = 5.0
    evaluation_threads: int = Field(default=2, ge=1)
    evaluation_max_queued: int = Field(default=32, ge=0)
    # CPU budget per call (record and draft orders): resources, and characters of distinct text (each
    # element counted up to the text reader's cap). Over either: 503 too-costly, nothing evaluated.
    evaluation_max_resources: int = Field(default=30_000, ge=1)
    evaluation_max_text_chars: int = Field(default=1_000_000, ge=1)
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
    jwks_max_bytes: int = 256 * 1024

    # Outbound network (FHIR servers and JWKS hosts): an https proxy (e.g. http://proxy.hospital:3128)
    # and a PEM bundle of extra CAs (the hospital's PKI) trusted on top of certifi's roots.
    outbound_https_proxy: str | None = None
    # Hosts reached directly despite the proxy: `fhir.hospital.example`, or `*.hospital.example`.
    outbound_no_proxy: list[str] = Field(default_factory=list)
    outbound_ca_bundle: FilePath | None = None

    # Private Network Access: answer `Access-Control-Request-Private-Network` preflights (a hosted page,
    # such as the CDS Hooks Sandbox, calling a service on localhost or the intranet). Default: development.
    cors_allow_private_network: bool | None = None

    # Feedback: per-client token bucket, per worker process.
    feedback_rate_per_minute: float = 600.0
    feedback_burst: int = 120

    # The SMART timeline app (smart_app/; docs/reference.md, "The SMART timeline app"): off by default.
    # Enabled, every card links to it and /smart/* is served.
    smart_app_enabled: bool = False
    # The client id the EHR registered the app under (a public client: PKCE, no client secret).
    smart_client_id: str = "immuno-cds-timeline"
    # The FHIR server a standalone launch (/smart/standalone, for testing) signs in to; on the allowlist.
    smart_standalone_iss: str | None = None
    # Key of the app's server-side sessions (the tokens are stored encrypted with it, AES-GCM): at least
    # 32 characters, the same on every replica; required in production when the app is enabled.
    smart_session_secret: SecretStr | None = None
    # How long a launch may take to come back and a signed-in session lasts; then launch again.
    smart_session_lifetime_seconds: int = Field(default=900, ge=60, le=43_200)

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
    # uvicorn's HTTP parser. h11 enforces `http_max_header_bytes` (431/400 beyond it); httptools is a
    # little faster but accepts request heads of any size (20 MB was read in a test). Header read
    # timeouts exist in neither: the reverse proxy in front provides them
    # (docs/deployment.md, "Configuration for production").
    http_parser: Literal["h11", "httptools"] = "h11"
    http_max_header_bytes: int = 32 * 1024
    http_keep_alive_timeout_seconds: int = 5
    host: str = "127.0.0.1"
    port: int = 8000

    # Development only: pin the service's clock (ISO 8601; UTC when no zone is given) so that a fixture
    # dated relative to its scenario's "now" gives its expected cards on a live service. A pinned clock
    # in production would date every card wrongly, so the production profile refuses to start with it.
    fixed_now: datetime | None = None

    @field_validator("fixed_now")
    @classmethod
    def _fixed_now_in_development_only(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None:
            return None
        if info.data.get("profile") != "development":
            raise ValueError("pins the service's clock: allowed with CDS_PROFILE=development only")
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    @field_validator("smart_session_secret")
    @classmethod
    def _long_session_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < SMART_SESSION_SECRET_MIN_CHARS:
            raise ValueError(f"must be at least {SMART_SESSION_SECRET_MIN_CHARS} characters long")
        return value

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise ValueError(f"must be an absolute path, not {str(value)!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _async_database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            driver = make_url(value).drivername
        except ArgumentError:
            raise ValueError("is not a database URL (postgresql+asyncpg://USER:PASSWORD@HOST/NAME)") from None
        if driver not in SUPPORTED_DATABASE_DRIVERS:
            raise ValueError(
                f"names the driver {driver!r}; use one of {', '.join(SUPPORTED_DATABASE_DRIVERS)}"
            )
        return value

    @field_validator("outbound_https_proxy")
    @classmethod
    def _proxy_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("outbound_https_proxy must be an http:// or https:// URL")
        return value

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
    def private_network_access_allowed(self) -> bool:
        if self.cors_allow_private_network is not None:
            return self.cors_allow_private_network
        return self.is_development

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
    def effective_sqlite_path(self) -> Path:
        return self.sqlite_path if self.sqlite_path.is_absolute() else self.data_dir / self.sqlite_path

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.effective_sqlite_path}"

    def production_problems(self) -> list[str]:
        """What stops a production start from being truthful: a service nobody can call, a database
        chosen by default, a placeholder secret. Empty outside the production profile."""
        if self.is_development:
            return []
        problems = []
        if self.trusted_clients_file is None:
            problems.append(
                "CDS_TRUSTED_CLIENTS_FILE: not set; in production every call would be refused (401)"
            )
        if self.database_url is None:
            problems.append(
                "CDS_DATABASE_URL: not set; production needs an explicit database "
                "(postgresql+asyncpg://..., or sqlite+aiosqlite:////ABSOLUTE/PATH to choose SQLite)"
            )
        if self.smart_app_enabled and self.smart_session_secret is None:
            problems.append(
                "CDS_SMART_SESSION_SECRET: not set; the SMART app (CDS_SMART_APP_ENABLED) keeps its "
                "sessions' tokens encrypted with it (at least 32 characters, the same on every replica)"
            )
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(value, str) and PLACEHOLDER_SECRET in value:
                problems.append(f"CDS_{name.upper()}: still holds the placeholder {PLACEHOLDER_SECRET}")
        return problems


def unknown_settings(environment: Mapping[str, str]) -> list[str]:
    """One message per CDS_* variable that names no setting, with the closest known name: a typo such
    as CDS_PROFLE would otherwise leave the default (production) in force without a word."""
    known = [f"CDS_{name.upper()}" for name in Settings.model_fields]
    messages = []
    for name in sorted(environment):
        if not name.startswith("CDS_") or name in known:
            continue
        closest = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {closest[0]}?" if closest else ""
        messages.append(f"{name}: no such setting{hint}")
    return messages
