"""An index on feedback.received_at: each worker's list of patients with overrides
(service/storage/acknowledgements.py, `OverriddenPatients`) reads the feedback received since its last
look every few seconds, which without it would scan the whole feedback table each time.

Revision ID: 0004_feedback_received_at
Revises: 0003_smart_sessions
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004_feedback_received_at"
down_revision: str | None = "0003_smart_sessions"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "feedback"
INDEX = "ix_feedback_received_at"


def _schema() -> str | None:
    # Named explicitly, as in 0002: tests run each in a PostgreSQL schema of their own.
    schema: str | None = op.get_context().version_table_schema
    return schema


def upgrade() -> None:
    schema = _schema()
    # A database the service made with create_all before this revision was stamped may have it already.
    existing = {index["name"] for index in sa.inspect(op.get_bind()).get_indexes(TABLE, schema=schema)}
    if INDEX not in existing:
        op.create_index(INDEX, TABLE, ["received_at"], schema=schema)


def downgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE, schema=_schema())
