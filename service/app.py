"""The ASGI application: `service.app:app`, or `create_app(settings)` for tests and the CLI."""

from __future__ import annotations

import gc
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from clinical.evaluation import Evaluator
from clinical.knowledge import KnowledgeError
from clinical.timeline.relevance import WALK_COMPILED
from service.api_docs import install_api_docs
from service.audit import AuditMiddleware
from service.configuration import ConfigurationError, check_service_start, read_settings
from service.errors import install_error_handlers
from service.evaluation_pool import EvaluationBudget, EvaluationPool
from service.fhir_access.fhir_client import FhirClient
from service.fhir_access.outbound import outbound_client, tls_context
from service.health import router as health_router
from service.logs import configure_logging, get_logger
from service.metrics import install_metrics
from service.openapi import install_openapi
from service.routes import router
from service.security.authentication import Authenticator
from service.security.replay_store import ReplayStore
from service.settings import Settings
from service.storage.acknowledgements import OverriddenPatients, PatientKeys
from service.storage.database import DatabaseStatus, create_engine, create_schema
from service.storage.feedback import FeedbackRateLimiter
from service.storage.issued_cards import IssuedCardsRecorder
from smart_app.routes import install_smart_app
from smart_app.session_crypto import SessionCipher
from smart_app.sessions import SessionStore

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def freeze_startup_heap() -> None:
    """Exempt everything start-up made from the cycle collector for the life of the process.

    Modules, models, the catalog, the database engine: about 110k long-lived objects. Left in the
    collector's oldest generation, every full collection walks all of them again (about 45 ms each on
    the benchmark machine, set off every hundred or so typical hook calls) and they show up in the
    p99 latency. Frozen, a full collection walks only what the calls in flight made.
    """
    gc.collect()
    gc.freeze()


def _http_client(settings: Settings, max_connections: int = 100) -> httpx.AsyncClient:
    timeout = httpx.Timeout(
        connect=settings.fhir_connect_timeout_seconds,
        read=settings.fhir_read_timeout_seconds,
        write=settings.fhir_read_timeout_seconds,
        pool=settings.fhir_connect_timeout_seconds,
    )
    # Redirects are never followed: a FHIR server or JWKS host must not steer us elsewhere. No cookie
    # jar, no proxy from the environment: only what the settings say.
    return outbound_client(
        timeout=timeout,
        max_connections=max_connections,
        max_keepalive_connections=min(20, max_connections),
        tls=tls_context(settings.outbound_ca_bundle),
        https_proxy=settings.outbound_https_proxy,
        no_proxy=settings.outbound_no_proxy,
    )


def _fhir_client(settings: Settings) -> FhirClient:
    return FhirClient(
        page_size=settings.fhir_page_size,
        max_pages=settings.fhir_max_pages,
        max_response_bytes=settings.fhir_max_response_bytes,
        max_concurrent_requests=settings.fhir_max_concurrent_requests,
        new_http=lambda: _http_client(settings, settings.fhir_max_connections_per_server),
        max_connections_per_server=settings.fhir_max_connections_per_server,
        max_call_bytes=settings.fhir_max_call_bytes,
    )


# A migration may run statements far longer than a hook call's bound (an index on a large table).
MIGRATION_STATEMENT_TIMEOUT_SECONDS = 600.0


async def migrate_schema(settings: Settings) -> None:
    """Migrate on an engine of its own: one connection, the long statement timeout, then closed."""
    engine = create_engine(
        settings.effective_database_url,
        pool_size=1,
        max_overflow=0,
        timeout_seconds=settings.database_timeout_seconds,
        statement_timeout_seconds=MIGRATION_STATEMENT_TIMEOUT_SECONDS,
    )
    try:
        await create_schema(engine)
    finally:
        await engine.dispose()


def database_description(url: str) -> str:
    """The database URL for logs: driver, host, port and name, never the password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def checked_settings() -> Settings:
    """The environment's settings for a real start (`uvicorn service.app:app`, `immuno-cds serve`'s
    workers): every configuration error is one line naming the setting, and the process stops."""
    try:
        settings = read_settings()
        check_service_start(settings)
    except ConfigurationError as error:
        raise SystemExit(f"immuno-cds: error: {error}") from None
    return settings


def create_app(settings: Settings | None = None, clock: Clock = system_clock) -> FastAPI:
    settings = settings or Settings()
    if settings.fixed_now is not None and clock is system_clock:
        pinned = settings.fixed_now  # CDS_FIXED_NOW, development profile only (see settings.py)
        clock = lambda: pinned  # noqa: E731
    configure_logging(settings.log_level, settings.log_format)
    log = get_logger("service.app")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(
            settings.effective_database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            timeout_seconds=settings.database_timeout_seconds,
        )
        # Start-up does not wait for the database: the schema is prepared in the background, retried
        # with backoff, and hook calls are answered meanwhile (service/storage/database.py, DatabaseStatus).
        database = DatabaseStatus(
            engine,
            prepare=lambda _engine: migrate_schema(settings),
            timeout_seconds=settings.database_timeout_seconds,
            retry_max_seconds=settings.database_retry_max_seconds,
        )
        http = _http_client(settings)
        app.state.engine = engine
        app.state.database = database
        app.state.issued_cards = IssuedCardsRecorder(
            engine, status=database, max_buffered_rows=settings.issued_cards_max_buffered_rows
        )
        replays = ReplayStore(engine, status=database, max_local_entries=settings.replay_window_max_entries)
        await database.start()
        app.state.overridden_patients = OverriddenPatients(
            database,
            lookback_days=settings.acknowledgement_lookback_days,
            refresh_seconds=settings.acknowledgement_refresh_seconds,
            clock=clock,
        )
        app.state.overridden_patients.start()
        app.state.http = http
        app.state.fhir_client = _fhir_client(settings)
        app.state.evaluation_pool = EvaluationPool(
            settings.evaluation_threads, settings.evaluation_max_queued
        )
        app.state.authenticator = Authenticator(settings, engine=engine, http=http, replays=replays)
        if settings.smart_app_enabled:
            app.state.smart_sessions = smart_session_store(settings, database)
        log.info(
            "service_started",
            profile=settings.profile,
            database=database_description(settings.effective_database_url),
            trusted_clients=app.state.authenticator.trusted_client_count,
            card_language="en",
            workers=settings.workers,
            # "python": tools/compile_walk.py did not run (or the source changed since): same answers, slower.
            fast_reject_walk="compiled" if WALK_COMPILED else "python",
        )
        freeze_startup_heap()
        try:
            yield
        finally:
            await app.state.issued_cards.aclose()
            await app.state.overridden_patients.aclose()
            await app.state.authenticator.aclose()
            await app.state.fhir_client.aclose()
            app.state.evaluation_pool.shutdown()
            await replays.aclose()
            await database.aclose()
            await http.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Immunotherapy neuroimaging CDS service",
        version="0.1.0",
        description="CDS Hooks 2.0 service for brain MRI advice around ICI, CAR-T and T-cell engagers.",
        lifespan=lifespan,
        # The document only where enabled (off in production by default); FastAPI's own Swagger UI and
        # ReDoc pages load their scripts from a CDN: ours (service/api_docs.py) serves packaged assets.
        openapi_url="/openapi.json" if settings.api_docs_served else None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.patient_keys = PatientKeys.from_settings(settings)
    app.state.feedback_limiter = FeedbackRateLimiter(
        settings.feedback_rate_per_minute, settings.feedback_burst
    )
    # Loaded once at start-up: the catalog, code indexes and card templates are read-only after this.
    app.state.evaluator = Evaluator.load(settings.knowledge_dir, settings.cards_dir)
    # The fast reject and the budget's text count (one walk, clinical/timeline/relevance.py).
    app.state.vocabularies = app.state.evaluator.vocabularies
    app.state.evaluation_budget = EvaluationBudget(
        max_resources=settings.evaluation_max_resources,
        max_text_chars=settings.evaluation_max_text_chars,
        element_cap=app.state.evaluator.knowledge.text.max_text_chars,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_allow_origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        # Private Network Access (Starlette >= 0.51): a hosted page (the CDS Hooks Sandbox) calling a
        # service on localhost or an intranet gets `Access-Control-Allow-Private-Network: true` on its
        # preflight; refused preflights asking for it are answered 400.
        allow_private_network=settings.private_network_access_allowed,
        max_age=600,
    )
    install_error_handlers(app)
    app.add_middleware(AuditMiddleware)
    app.include_router(health_router)
    install_metrics(app, settings.metrics_enabled)
    app.include_router(router)
    install_openapi(app)
    if settings.api_docs_served:
        install_api_docs(app, "/openapi.json")
    if settings.smart_app_enabled:
        install_smart_app(app)
    return app


def smart_session_store(settings: Settings, database: DatabaseStatus) -> SessionStore:
    """The SMART app's sessions, sealed under CDS_SMART_SESSION_SECRET. Unset (development only: the
    production profile refuses to start without it) a random key per process: sessions end with it."""
    secret = settings.smart_session_secret
    key = secret.get_secret_value() if secret is not None else secrets.token_urlsafe(32)
    return SessionStore(database, SessionCipher.from_secret(key), settings.smart_session_lifetime_seconds)


def __getattr__(name: str) -> FastAPI:
    # `service.app:app` is built on first access so that importing this module for create_app in
    # tests does not read the environment or the knowledge files twice.
    if name == "app":
        try:
            application = create_app(checked_settings())
        except KnowledgeError as error:
            # A reviewer's typo in knowledge/ or cards/ stops the service with the file, key path and
            # allowed values, not a traceback (and never a 500 in front of a clinician later).
            raise SystemExit(f"immuno-cds: invalid clinical knowledge, not starting:\n{error}") from None
        globals()["app"] = application
        return application
    raise AttributeError(name)
