"""What authentication costs: a fresh ES384 JWT per request, as every EHR sends, on SQLite and on
PostgreSQL, against the same service process answering unauthenticated calls.

The service (bench/servers.py, development profile) trusts one client whose key is made here; the
tokens are minted before each load round (each with its own `jti`, valid for 10 minutes) and sent by
wrk, one per request (bench/post_auth.lua). Unauthenticated calls to the same process are the
baseline, so the ratio is the cost of the Authorization check alone: parsing, ES384 verification and
the replay check on the shared `seen_jtis` table.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy.engine import make_url

ISSUER = "https://ehr.bench.example"
KID = "bench-es384"
PUBLIC_BASE_URL = "http://cds.bench.example"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


class TokenMinter:
    def __init__(self, directory: Path) -> None:
        self.key = ec.generate_private_key(ec.SECP384R1())
        self.directory = directory

    def trusted_clients_file(self) -> Path:
        public = ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        entry = {
            "iss": ISSUER,
            "jwks": {"keys": [{**public, "kid": KID, "use": "sig", "alg": "ES384"}]},
            "algorithms": ["ES384"],
            "fhir_server_allowlist": [],
        }
        path = self.directory / "bench-trusted-clients.json"
        path.write_text(json.dumps({"clients": [entry]}), encoding="utf-8")
        return path

    def tokens_file(self, path: str, count: int) -> Path:
        """`count` tokens for POSTs to `path`, each with a jti of its own."""
        now = int(time.time())
        audience = PUBLIC_BASE_URL + path
        lines = [
            jwt.encode(
                {"iss": ISSUER, "aud": audience, "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex},
                self.key,
                algorithm="ES384",
                headers={"kid": KID, "typ": "JWT"},
            )
            for _ in range(count)
        ]
        tokens = self.directory / "bench-tokens.txt"
        tokens.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return tokens


def _dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def _admin(statement: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(_dsn(POSTGRES_URL), timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def postgres_database() -> Iterator[str | None]:
    """A database of the benchmark's own on the test PostgreSQL (dropped after), or None when that
    server is unreachable (the PostgreSQL rows are then left out, with a note)."""
    name = f"cds_bench_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError, Exception):
        yield None
        return
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
