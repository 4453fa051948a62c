"""unis_findings: UNIS registration findings (bot/unis/audit.py, manual §VIII and FAQ 4–8),
one row per (rule, UNIS line), refreshed after every UNIS import: open, or resolved when a
later extract no longer shows it

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unis_findings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("customer_code", sa.String(length=9), nullable=False),
        sa.Column("contract_no", sa.String(length=20), nullable=False),
        sa.Column("line_no", sa.String(length=20), nullable=False),
        sa.Column("branch", sa.Text(), nullable=True),
        sa.Column("shop_name", sa.Text(), nullable=True),
        sa.Column("item_code", sa.String(length=20), nullable=True),
        sa.Column("item_name", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("fix", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("rule", "customer_code", "contract_no", "line_no", name="uq_unis_findings_line"),
    )
    # The digest and `bot audit-unis` read the open findings (resolved_at IS NULL) per branch.
    op.create_index("ix_unis_findings_open", "unis_findings", ["resolved_at", "branch"])


def downgrade() -> None:
    op.drop_index("ix_unis_findings_open", table_name="unis_findings")
    op.drop_table("unis_findings")
