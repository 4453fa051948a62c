"""scan_shadows (issue 19 point 6): for every held scan a person finishes (受付, 差戻, 対応済み),
what the reader had read and what the bot would have decided, beside what the person did;
`bot scans report` and the console's 状態 page count how often the two agreed

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scan_shadows",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("mail_id", sa.Integer(), sa.ForeignKey("mails.id"), nullable=False),
        sa.Column("form_kind", sa.String(length=20), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_by", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("bot_decision", sa.String(length=20), nullable=False),
        sa.Column("bot_defects", sa.JSON(), nullable=False),
        sa.Column("person_defects", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        # One row per mail: a retried finish (a crash, a double click) is never counted twice.
        sa.UniqueConstraint("mail_id"),
    )
    # `bot scans report --since D` reads the rows finished since a day.
    op.create_index("ix_scan_shadows_finished_at", "scan_shadows", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_scan_shadows_finished_at", table_name="scan_shadows")
    op.drop_table("scan_shadows")
