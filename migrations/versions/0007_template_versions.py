"""template_versions: every version of an admin mail template saved from the console's
テンプレート page (bot/templating/store.py); reverts are new rows, history is never rewritten

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "template_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("reverted_from", sa.Integer(), sa.ForeignKey("template_versions.id"), nullable=True),
    )
    # The editor's history and the list's "last version" read a name's rows newest first.
    op.create_index("ix_template_versions_name", "template_versions", ["name", "id"])


def downgrade() -> None:
    op.drop_index("ix_template_versions_name", table_name="template_versions")
    op.drop_table("template_versions")
