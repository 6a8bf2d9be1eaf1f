"""Reading the CDS_* settings for a real start, with every configuration error as one line that names
the setting and the reason. Used by the command line and by `uvicorn service.app:app` alike."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from pydantic import ValidationError

from service.security.trusted_clients import TrustedClientsError, load_trusted_clients
from service.settings import Settings, unknown_settings


class ConfigurationError(Exception):
    """A setting is missing, misspelt or invalid: one line, and the process does not start."""


def _one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", "; ", text.strip())


def read_settings(environment: Mapping[str, str] | None = None) -> Settings:
    """The settings from the environment; unknown CDS_* names and invalid values are errors."""
    unknown = unknown_settings(os.environ if environment is None else environment)
    if unknown:
        raise ConfigurationError(f"unknown setting {'; '.join(unknown)}")
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        location = [str(part) for part in first["loc"]]
        name = "CDS_" + "_".join(location).upper() if location else "CDS_*"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigurationError(f"invalid setting {name}: {_one_line(message)}") from None


def check_service_start(settings: Settings) -> None:
    """A production service that would answer every call with 401, keep feedback in a file nobody
    chose, or connect with a placeholder password must not start and report itself ready; a trusted
    clients file that cannot be read stops any profile."""
    problems = settings.production_problems()
    if problems:
        raise ConfigurationError(f"not starting in production: {'; '.join(problems)}")
    try:
        load_trusted_clients(settings.trusted_clients_file)
    except TrustedClientsError as error:
        reason = _one_line(str(error))
        raise ConfigurationError(f"invalid setting CDS_TRUSTED_CLIENTS_FILE: {reason}") from None
