"""The SMART timeline app's server-side sessions (smart_app/sessions.py): a hash of the cookie's value,
the stage (launch, then active), the sealed contents (AES-GCM) and the expiry.

Revision ID: 0003_smart_sessions
Revises: 0002_issued_card_ownership
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_smart_sessions"
down_revision: str | None = "0002_issued_card_ownership"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "smart_sessions"
INDEX = "ix_smart_sessions_expires_at"


def _schema() -> str | None:
    # Named explicitly, as in 0002: tests run each in a PostgreSQL schema of their own.
    schema: str | None = op.get_context().version_table_schema
    return schema


def upgrade() -> None:
    schema = _schema()
    if TABLE in sa.inspect(op.get_bind()).get_table_names(schema=schema):
        return
    op.create_table(
        TABLE,
        sa.Column("session_key", sa.String(64), primary_key=True),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_index(INDEX, TABLE, ["expires_at"], schema=schema)


def downgrade() -> None:
    schema = _schema()
    op.drop_index(INDEX, table_name=TABLE, schema=schema)
    op.drop_table(TABLE, schema=schema)
