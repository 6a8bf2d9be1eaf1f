"""Shared fixtures: settings, the app under TestClient, the loopback FHIR server, PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 fork for its TestClient; httpx works the same for these tests.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from fhir_server import FhirTestServer
from hook_requests import SEED_BUNDLE

from service.app import create_app
from service.settings import Settings
from service.storage.database import create_engine, create_schema

FIXED_NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")

SettingsFactory = Callable[..., Settings]
ClientFactory = Callable[..., TestClient]


def fixed_clock() -> datetime:
    return FIXED_NOW


@pytest.fixture(scope="session", autouse=True)
def _hermetic_environment() -> Iterator[None]:
    """Settings read CDS_* variables: a developer's shell must not change what the tests see."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("CDS_"):
                patch.delenv(name)
        yield


def settings_for(sqlite_path: Path, **overrides: Any) -> Settings:
    """Development profile, unauthenticated calls allowed, quiet logs, SQLite at `sqlite_path`."""
    values: dict[str, Any] = {
        "profile": "development",
        "allow_unauthenticated": True,
        "sqlite_path": sqlite_path,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Settings for tests: development profile, unauthenticated calls allowed, SQLite in tmp_path."""

    def factory(**overrides: Any) -> Settings:
        sqlite_path = overrides.pop("sqlite_path", tmp_path / "cds-feedback.sqlite3")
        return settings_for(sqlite_path, **overrides)

    return factory


@pytest.fixture
def make_client(make_settings: SettingsFactory) -> Iterator[ClientFactory]:
    """Build the app (`create_app(settings, clock=fixed_clock)`) and enter a TestClient, lifespan
    included; pass a Settings or setting overrides. Every client is closed after the test."""
    with ExitStack() as stack:

        def factory(settings: Settings | None = None, **overrides: Any) -> TestClient:
            app = create_app(settings or make_settings(**overrides), clock=fixed_clock)
            return stack.enter_context(TestClient(app, raise_server_exceptions=False))

        yield factory


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    """The app with default test settings, fresh for this test."""
    return make_client()


@pytest.fixture(scope="module")
def make_module_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClientFactory]:
    """Like `make_client`, for clients a whole module shares (building an app loads the clinical
    knowledge, which takes a while): for tests that neither change nor depend on its stored state."""
    with ExitStack() as stack:

        def factory(**overrides: Any) -> TestClient:
            sqlite_path = tmp_path_factory.mktemp("app") / "cds-feedback.sqlite3"
            app = create_app(settings_for(sqlite_path, **overrides), clock=fixed_clock)
            return stack.enter_context(TestClient(app, raise_server_exceptions=False))

        yield factory


@pytest.fixture(scope="module")
def shared_client(make_module_client: ClientFactory) -> TestClient:
    """The app with default test settings, shared by a module's tests."""
    return make_module_client()


@pytest.fixture(scope="session")
def _running_fhir_server() -> Iterator[FhirTestServer]:
    server = FhirTestServer.from_bundle_file(SEED_BUNDLE)
    with server.running():
        yield server


@pytest.fixture
def fhir_server(_running_fhir_server: FhirTestServer) -> Iterator[FhirTestServer]:
    """The loopback FHIR server (seed data of patient pt-onc-1) over real HTTP at `.base_url`;
    reset before and after each test, so options and recorded requests never leak between tests."""
    _running_fhir_server.reset()
    yield _running_fhir_server
    _running_fhir_server.reset()


@pytest.fixture
def quiet_fhir_server() -> Iterator[FhirTestServer]:
    """A loopback FHIR server of its own (same seed) for tests that assert it is never contacted: a
    request another test's service sent late (a gather cut short by its deadline) cannot land here."""
    server = FhirTestServer.from_bundle_file(SEED_BUNDLE)
    with server.running():
        yield server


def _postgres_problem(url: str) -> str | None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def probe() -> None:
        connection = await asyncpg.connect(dsn, timeout=3)
        await connection.close()

    try:
        # In a thread of its own: async fixtures ask for this while their event loop runs.
        with ThreadPoolExecutor(max_workers=1) as executor:
            executor.submit(asyncio.run, probe()).result()
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        return f"{type(error).__name__}: {error}"
    return None


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test PostgreSQL's SQLAlchemy URL. Unreachable: skip, but fail when CI=true."""
    problem = _postgres_problem(POSTGRES_URL)
    if problem is not None:
        target = make_url(POSTGRES_URL).render_as_string(hide_password=True)
        message = f"PostgreSQL at {target} is unreachable ({problem})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true requires it")
        pytest.skip(f"{message}; these tests run when it is (and fail under CI=true)")
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """`service.storage.database.create_engine` on each backend, schema created. PostgreSQL runs in a schema
    of its own, dropped afterwards: other tests (and other engineers' runs) share that database."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}")
        try:
            await create_schema(engine)
            yield engine
        finally:
            await engine.dispose()
        return
    base = create_engine(request.getfixturevalue("postgres_url"))
    schema = f"cds_test_{uuid.uuid4().hex[:12]}"
    try:
        async with base.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = base.execution_options(schema_translate_map={None: schema})
        await create_schema(engine)
        yield engine
    finally:
        async with base.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await base.dispose()
