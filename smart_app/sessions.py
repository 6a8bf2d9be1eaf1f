"""The app's server-side sessions: one database row per browser, keyed by a hash of its cookie.

A session starts at the launch (stage `launch`: the `state` and PKCE verifier the callback needs, the
FHIR server and its token endpoint) and becomes `active` at the callback (the access token and the
patient). The cookie is the only thing the browser holds; the contents are sealed (session_crypto.py)
and every row lives `lifetime_seconds` from its launch, after which it is refused and deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import CursorResult, Executable, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.storage.database import DatabaseStatus, is_database_unavailable, smart_sessions
from smart_app.pkce import new_session_id, session_key
from smart_app.session_crypto import SessionCipher

Stage = Literal["launch", "active"]
# Expired rows deleted per new launch: enough to keep up, bounded so no launch waits on a big delete.
EXPIRED_ROWS_PER_LAUNCH = 100


class SessionMissing(Exception):
    """No session for this cookie at this stage (never launched here, already used, or tampered)."""


class SessionExpired(Exception):
    """The session was there but its lifetime is over."""


class SessionsUnavailable(Exception):
    """The database is away: no session can be started or read."""


class LaunchSession(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: str
    state: str
    verifier: str
    token_endpoint: str
    redirect_uri: str
    scope: str


class ActiveSession(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: str
    access_token: str
    patient: str
    topic: str | None = None  # the card the app was opened from (appContext), to open the page at


def _aware(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class SessionStore:
    def __init__(self, database: DatabaseStatus, cipher: SessionCipher, lifetime_seconds: int) -> None:
        self._database = database
        self._cipher = cipher
        self.lifetime = timedelta(seconds=lifetime_seconds)

    def _engine(self) -> AsyncEngine:
        if not self._database.available:
            raise SessionsUnavailable
        return self._database.engine

    async def _run(self, during: str, *statements: Executable) -> list[CursorResult[Any]]:
        """The statements in one transaction; an outage is reported and raised as SessionsUnavailable."""
        engine = self._engine()
        try:
            async with engine.begin() as connection:
                return [await self._execute(connection, statement) for statement in statements]
        except Exception as error:
            if not is_database_unavailable(error):
                raise
            self._database.report_failure(error, during=during)
            raise SessionsUnavailable from None

    @staticmethod
    async def _execute(connection: AsyncConnection, statement: Executable) -> CursorResult[Any]:
        result: CursorResult[Any] = await connection.execute(statement)
        return result

    async def begin(self, launch: LaunchSession, now: datetime) -> str:
        """A new session for a launch; returns the cookie's value."""
        session_id = new_session_id()
        key = session_key(session_id)
        await self._delete_expired(now)
        await self._run(
            "smart_session_begin",
            insert(smart_sessions).values(
                session_key=key,
                stage="launch",
                sealed=self._cipher.seal(launch.model_dump(), f"{key}|launch"),
                expires_at=now + self.lifetime,
            ),
        )
        return session_id

    async def _contents(self, session_id: str, stage: Stage, now: datetime) -> dict[str, object]:
        key = session_key(session_id)
        (result,) = await self._run(
            "smart_session_read",
            select(smart_sessions.c.stage, smart_sessions.c.sealed, smart_sessions.c.expires_at).where(
                smart_sessions.c.session_key == key
            ),
        )
        row = result.first()
        if row is None or row.stage != stage:
            raise SessionMissing
        if _aware(row.expires_at) <= now:
            await self.end(session_id)
            raise SessionExpired
        contents = self._cipher.open(row.sealed, f"{key}|{stage}")
        if contents is None:
            raise SessionMissing
        return contents

    async def launch(self, session_id: str, now: datetime) -> LaunchSession:
        try:
            return LaunchSession.model_validate(await self._contents(session_id, "launch", now))
        except ValidationError:
            raise SessionMissing from None

    async def active(self, session_id: str, now: datetime) -> ActiveSession:
        try:
            return ActiveSession.model_validate(await self._contents(session_id, "active", now))
        except ValidationError:
            raise SessionMissing from None

    async def activate(
        self, launch_id: str, signed_in: ActiveSession, token_expires_at: datetime | None = None
    ) -> str | None:
        """The launch ends and a signed-in session under a new id takes its place (the cookie changes
        when the user signs in: a cookie planted before the launch is worth nothing after it), keeping
        the launch's expiry, or the access token's when that comes first. Returns the new cookie value;
        None when the launch was no longer there (a second callback for the same launch)."""
        old_key = session_key(launch_id)
        session_id = new_session_id()
        key = session_key(session_id)
        expiry = select(smart_sessions.c.expires_at).where(
            smart_sessions.c.session_key == old_key, smart_sessions.c.stage == "launch"
        )
        engine = self._engine()
        try:
            async with engine.begin() as connection:
                expires_at = (await connection.execute(expiry)).scalar_one_or_none()
                if expires_at is None:
                    return None
                ended = await self._execute(
                    connection,
                    delete(smart_sessions).where(
                        smart_sessions.c.session_key == old_key, smart_sessions.c.stage == "launch"
                    ),
                )
                if ended.rowcount != 1:  # another callback for this launch won the race
                    return None
                await connection.execute(
                    insert(smart_sessions).values(
                        session_key=key,
                        stage="active",
                        sealed=self._cipher.seal(signed_in.model_dump(), f"{key}|active"),
                        expires_at=min(_aware(expires_at), token_expires_at or _aware(expires_at)),
                    )
                )
        except Exception as error:
            if not is_database_unavailable(error):
                raise
            self._database.report_failure(error, during="smart_session_activate")
            raise SessionsUnavailable from None
        return session_id

    async def end(self, session_id: str) -> None:
        await self._run(
            "smart_session_end",
            delete(smart_sessions).where(smart_sessions.c.session_key == session_key(session_id)),
        )

    async def _delete_expired(self, now: datetime) -> None:
        expired = (
            select(smart_sessions.c.session_key)
            .where(smart_sessions.c.expires_at <= now)
            .limit(EXPIRED_ROWS_PER_LAUNCH)
        )
        await self._run(
            "smart_session_cleanup",
            delete(smart_sessions).where(smart_sessions.c.session_key.in_(expired)),
        )
