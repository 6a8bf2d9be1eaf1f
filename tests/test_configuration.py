"""Configuration at start-up: a production start that refuses to lie, misspelt and empty settings, one
line per configuration error with exit status 2, one data directory, and the start-up log line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ops_support import CLI, base_environment, free_port, running_service, serve_argv
from security_support import client_entry, ec_key, write_clients

from service.configuration import ConfigurationError, check_service_start, read_settings
from service.settings import PROJECT_ROOT, Settings, unknown_settings

POSTGRES_URL = "postgresql+asyncpg://cds:s3cret@db.example.org:5432/cds"


@pytest.fixture(autouse=True)
def _no_cds_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in __import__("os").environ if name.startswith("CDS_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def clients_file(tmp_path: Path) -> Path:
    return write_clients(tmp_path, client_entry(ec_key()))


# --- production must not start untruthfully ------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"database_url": POSTGRES_URL}, "CDS_TRUSTED_CLIENTS_FILE: not set"),
        ({"trusted_clients_file": "CLIENTS"}, "CDS_DATABASE_URL: not set"),
        (
            {"trusted_clients_file": "CLIENTS", "database_url": POSTGRES_URL.replace("s3cret", "CHANGE-ME")},
            "CDS_DATABASE_URL: still holds the placeholder CHANGE-ME",
        ),
        (
            {
                "trusted_clients_file": "CLIENTS",
                "database_url": POSTGRES_URL,
                "patient_key_secret": "CHANGE-ME-to-a-random-string-of-at-least-32-bytes",
            },
            "CDS_PATIENT_KEY_SECRET: still holds the placeholder CHANGE-ME",
        ),
    ],
    ids=["no-trusted-clients", "no-database-url", "placeholder-password", "placeholder-secret"],
)
def test_production_names_each_missing_piece(
    overrides: dict[str, str], problem: str, clients_file: Path
) -> None:
    values = {key: str(clients_file) if value == "CLIENTS" else value for key, value in overrides.items()}
    settings = Settings(profile="production", **values)  # type: ignore[arg-type]
    assert problem in "\n".join(settings.production_problems())
    with pytest.raises(ConfigurationError, match="not starting in production"):
        check_service_start(settings)


def test_production_with_clients_and_an_explicit_database_starts(clients_file: Path) -> None:
    settings = Settings(profile="production", trusted_clients_file=clients_file, database_url=POSTGRES_URL)
    assert settings.production_problems() == []
    check_service_start(settings)


def test_sqlite_in_production_when_chosen_explicitly(clients_file: Path, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cds.sqlite3'}"
    settings = Settings(profile="production", trusted_clients_file=clients_file, database_url=url)
    assert settings.production_problems() == []


def test_development_needs_none_of_it() -> None:
    assert Settings(profile="development").production_problems() == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "does not exist"),
        ("clients: [{iss: 42}]", "clients"),
        ("{not yaml", "CDS_TRUSTED_CLIENTS_FILE"),
    ],
    ids=["missing", "invalid-entry", "unreadable"],
)
def test_a_bad_trusted_clients_file_is_one_line(content: str | None, reason: str, tmp_path: Path) -> None:
    path = tmp_path / "clients.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    settings = Settings(profile="development", trusted_clients_file=path)
    with pytest.raises(ConfigurationError) as raised:
        check_service_start(settings)
    message = str(raised.value)
    assert message.startswith("invalid setting CDS_TRUSTED_CLIENTS_FILE")
    assert reason in message
    assert "\n" not in message


# --- settings the environment names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("CDS_PROFLE", "CDS_PROFILE"),
        ("CDS_DATABSE_URL", "CDS_DATABASE_URL"),
        ("CDS_TRUSTED_CLIENT_FILE", "CDS_TRUSTED_CLIENTS_FILE"),
    ],
)
def test_a_misspelt_setting_is_an_error_naming_the_closest(name: str, suggestion: str) -> None:
    (message,) = unknown_settings({name: "development", "CDS_PORT": "8000", "HOME": "/root"})
    assert message == f"{name}: no such setting; did you mean {suggestion}?"


def test_a_misspelt_setting_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_PROFLE", "development")
    with pytest.raises(ConfigurationError, match="CDS_PROFLE: no such setting; did you mean CDS_PROFILE"):
        read_settings()


def test_an_empty_setting_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_TRUSTED_CLIENTS_FILE", "")
    monkeypatch.setenv("CDS_DATABASE_URL", "")
    settings = read_settings()
    assert settings.trusted_clients_file is None
    assert settings.database_url is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://cds@db/cds", "names the driver 'mysql'"),
        ("postgresql://cds@db/cds", "names the driver 'postgresql'"),
    ],
)
def test_a_bad_database_url_is_one_line(url: str, reason: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", url)
    with pytest.raises(ConfigurationError) as raised:
        read_settings()
    assert str(raised.value).startswith("invalid setting CDS_DATABASE_URL")
    assert reason in str(raised.value)


def test_the_data_directory_is_absolute_and_holds_the_default_database() -> None:
    settings = Settings()
    assert settings.data_dir.is_absolute()
    assert settings.data_dir == PROJECT_ROOT / "var"
    assert settings.effective_sqlite_path == settings.data_dir / "cds-feedback.sqlite3"


def test_a_relative_data_directory_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_DATA_DIR", "var")
    with pytest.raises(ConfigurationError, match="CDS_DATA_DIR: must be an absolute path"):
        read_settings()


def test_the_database_does_not_depend_on_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CDS_DATA_DIR", str(tmp_path / "data"))
    from_root = read_settings().effective_database_url
    monkeypatch.chdir(tmp_path)
    assert read_settings().effective_database_url == from_root
    assert from_root.endswith(str(tmp_path / "data" / "cds-feedback.sqlite3"))


# --- the real commands: one line, exit status 2 ---------------------------------------------------------


def _serve(env: dict[str, str], port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        serve_argv(port, workers=1),
        env=base_environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "not starting in production: CDS_TRUSTED_CLIENTS_FILE: not set"),
        ({"CDS_PROFLE": "development"}, "CDS_PROFLE: no such setting; did you mean CDS_PROFILE?"),
        (
            {"CDS_PROFILE": "development", "CDS_TRUSTED_CLIENTS_FILE": "/nonexistent/clients.yaml"},
            "invalid setting CDS_TRUSTED_CLIENTS_FILE: /nonexistent/clients.yaml: the trusted clients "
            "file does not exist",
        ),
        ({"CDS_DATABASE_URL": "postgres://x"}, "invalid setting CDS_DATABASE_URL"),
    ],
    ids=["production-bare", "misspelt-profile", "missing-clients-file", "bad-database-url"],
)
def test_serve_refuses_with_one_line_and_status_2(env: dict[str, str], expected: str) -> None:
    result = _serve(env, free_port())
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_the_uvicorn_entry_refuses_in_one_line_too() -> None:
    env = base_environment(CDS_PROFILE="production")
    result = subprocess.run(
        [sys.executable, "-c", "import service.app as m; m.app"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        next(line for line in result.stderr.splitlines() if "not starting in production" in line)
    ]


def test_the_start_up_line_names_profile_database_clients_and_workers(
    tmp_path: Path, clients_file: Path
) -> None:
    port = free_port()
    database = f"sqlite+aiosqlite:///{tmp_path / 'cds.sqlite3'}"
    env = base_environment(
        CDS_PROFILE="production",
        CDS_TRUSTED_CLIENTS_FILE=str(clients_file),
        CDS_DATABASE_URL=database,
        CDS_LOG_FORMAT="json",
    )
    log_path = tmp_path / "service.log"
    with running_service(serve_argv(port, workers=1), env, f"http://127.0.0.1:{port}", log_path):
        pass
    # Every line is JSON in production, uvicorn's own lines included.
    every_line = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert any(line.get("logger") == "uvicorn.error" for line in every_line)
    (started,) = [line for line in every_line if line["event"] == "service_started"]
    assert started["profile"] == "production"
    assert started["database"] == database
    assert started["trusted_clients"] == 1
    assert started["workers"] == 1
    assert started["fast_reject_walk"] in ("compiled", "python")


def test_the_start_up_line_never_shows_the_database_password() -> None:
    from service.app import database_description

    assert database_description(POSTGRES_URL) == "postgresql+asyncpg://cds:***@db.example.org:5432/cds"


def test_version_and_module_entry() -> None:
    for argv in ([str(CLI), "--version"], [sys.executable, "-m", "service", "--version"]):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("immuno-cds 0.1.0"), result.stdout
