"""mails.solo_deaths and mails.block_deaths (issue 18): a mail is blamed for a bot process's
death only when it was the one mail in that process's hands; `attempts` now counts reader
failures only (it used to count every start, so a daemon killed from outside blamed the mails
it had in flight). outbox.handed_at and outbox.takeovers: how often a sender died after handing
a row to the SMTP server, so a reply is never sent a third time

Stored mails with a start counted under the old rule were in hand at a death or a failed pass:
they become suspects (block_deaths, which counts nothing: decided alone next time) and their
count starts again.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mails") as batch:
        batch.add_column(sa.Column("solo_deaths", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("block_deaths", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("handed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("takeovers", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE mails SET block_deaths = 1, attempts = 0 WHERE status = 'stored' AND attempts > 0")
    # A claim on a mail no longer stored means nothing; left set, a mail put back to be decided
    # again would look held by whoever once decided it.
    op.execute("UPDATE mails SET reading_by = NULL, reading_at = NULL WHERE status <> 'stored'")


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("takeovers")
        batch.drop_column("handed_at")
    with op.batch_alter_table("mails") as batch:
        batch.drop_column("block_deaths")
        batch.drop_column("solo_deaths")
