"""outbox.ref: what a once-only mail is the one of (e.g. the digest of a given day)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("ref", sa.String(length=100), nullable=True))
        batch.create_index("ix_outbox_ref", ["ref"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_ref")
        batch.drop_column("ref")
