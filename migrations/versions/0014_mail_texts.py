"""mail_texts (issue 21 point 4): each mail's subject, sender, body text and attachment names,
NFKC-folded, for the console's search; filled by the console (bot/web/search.py)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_texts",
        sa.Column("mail_id", sa.Integer(), sa.ForeignKey("mails.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("text", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mail_texts")
