"""unis_findings.historic (issue 23 point 5): a finding on a UNIS line confirmed long before the
audit first saw it ([unis] audit_window_days) is kept and counted, never listed to the branches

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("unis_findings") as batch:
        batch.add_column(sa.Column("historic", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("unis_findings") as batch:
        batch.drop_column("historic")
