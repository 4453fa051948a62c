"""mails (folder, uidvalidity, status) index: the runner's restart query of unfinished rows
reads the index, not every row's raw mail

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""
from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_mails_folder_status", "mails", ["folder", "uidvalidity", "status"])


def downgrade() -> None:
    op.drop_index("ix_mails_folder_status", table_name="mails")
