"""Issued cards know their client, the override reasons they offered, the patient (keyed hash) and
their evidence key: feedback is tied to the issuing client (issue 17 item 6) and overridden cards stay
quiet for a while (feedback-aware cards, issue 16 section 7).

Rows issued before this revision get the client "unauthenticated": feedback on them from an
authenticated client is refused like feedback on a card never issued (they are days old at most when a
deployment upgrades; feedback arrives within minutes of a card).

Each step looks first: a database made by `metadata.create_all` before migrations existed (adopted by
stamping 0001) may already have the columns.

Revision ID: 0002_issued_card_ownership
Revises: 0001_initial
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002_issued_card_ownership"
down_revision: str | None = "0001_initial"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "ix_issued_cards_patient_key_issued_at"


def _new_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("client", sa.String(512), nullable=False, server_default="unauthenticated"),
        sa.Column("offered_override_reasons", sa.JSON(), nullable=True),
        sa.Column("patient_key", sa.String(64), nullable=True),
        sa.Column("evidence_key", sa.String(64), nullable=True),
    ]


def _schema() -> str | None:
    # Named explicitly: Alembic's ALTER statements do not follow a schema_translate_map (tests run each
    # in a PostgreSQL schema of their own); None in production, the default schema.
    schema: str | None = op.get_context().version_table_schema
    return schema


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    schema = _schema()
    present = {column["name"] for column in inspector.get_columns("issued_cards", schema=schema)}
    with op.batch_alter_table("issued_cards", schema=schema) as batch:
        for column in _new_columns():
            if column.name not in present:
                batch.add_column(column)
    indexes = {index["name"] for index in inspector.get_indexes("issued_cards", schema=schema)}
    if INDEX not in indexes:
        op.create_index(INDEX, "issued_cards", ["patient_key", "issued_at"], schema=schema)


def downgrade() -> None:
    schema = _schema()
    op.drop_index(INDEX, table_name="issued_cards", schema=schema)
    with op.batch_alter_table("issued_cards", schema=schema) as batch:
        for column in reversed(_new_columns()):
            batch.drop_column(column.name)
