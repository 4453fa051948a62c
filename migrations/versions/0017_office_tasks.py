"""office_tasks (issue 23 point 4): work a mail leaves to 事務センター itself (an Original SSID to
confirm in UNIS, a 登録通知書 to send again), open until a person marks it done

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "office_tasks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("customer_code", sa.String(length=9), nullable=False),
        sa.Column("mail_id", sa.Integer, sa.ForeignKey("mails.id"), nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(length=100), nullable=True),
    )
    op.create_index("ix_office_tasks_open", "office_tasks", ["done_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_office_tasks_open", table_name="office_tasks")
    op.drop_table("office_tasks")
