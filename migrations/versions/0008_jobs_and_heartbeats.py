"""job_runs (one row per scheduled job and period: the claim that makes a job run once across
processes and the record a restart catches up from), heartbeats (what each running bot
process last did: `bot status`, /healthz), and mails.filing_by/filing_at (the claim on a
decided mail's IMAP MOVE, so that of several processes exactly one moves it) and
mails.reading_by/reading_at (the claim on reading and deciding a stored mail: an attempt is
counted only by its holder)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job", sa.String(40), nullable=False),
        sa.Column("period", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("detail", sa.Text),
        sa.UniqueConstraint("job", "period", name="uq_job_runs_period"),
    )
    op.create_table(
        "heartbeats",
        sa.Column("owner", sa.String(200), primary_key=True),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_fetch_at", sa.DateTime(timezone=True)),
        sa.Column("idle", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("next_jobs", sa.JSON),
    )
    with op.batch_alter_table("mails") as batch:
        batch.add_column(sa.Column("filing_by", sa.String(200)))
        batch.add_column(sa.Column("filing_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("reading_by", sa.String(200)))
        batch.add_column(sa.Column("reading_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("mails") as batch:
        batch.drop_column("reading_at")
        batch.drop_column("reading_by")
        batch.drop_column("filing_at")
        batch.drop_column("filing_by")
    op.drop_table("heartbeats")
    op.drop_table("job_runs")
