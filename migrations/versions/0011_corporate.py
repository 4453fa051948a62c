"""corporate_sites + corporate_numbers: 法人一括発注依頼 (manual §IX), its sites and their 6-digit
management numbers (管理番号), linked to the router's serial once UNIS confirms it

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "corporate_sites",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("mail_id", sa.Integer, sa.ForeignKey("mails.id")),
        sa.Column("list_row", sa.Integer, nullable=False),
        sa.Column("customer_code", sa.String(9)),
        sa.Column("site_key", sa.Text, nullable=False),
        sa.Column("shop_name", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("phone", sa.Text, nullable=False),
        sa.Column("parent_units", sa.Integer, nullable=False),
        sa.Column("child_units", sa.Integer, nullable=False),
        sa.Column("enterprise", sa.Boolean, nullable=False),
        sa.Column("ssid", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_corporate_sites_key", "corporate_sites", ["site_key"])
    op.create_index("ix_corporate_sites_customer_code", "corporate_sites", ["customer_code"])
    op.create_table(
        "corporate_numbers",
        sa.Column("number", sa.String(6), primary_key=True),
        sa.Column("site_id", sa.Integer, sa.ForeignKey("corporate_sites.id"), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("vendor_row_id", sa.Integer, sa.ForeignKey("vendor_rows.id")),
        sa.Column("serial", sa.String(40)),
        sa.Column("unis_contract_no", sa.String(20)),
        sa.Column("unis_line_no", sa.String(20)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_corporate_numbers_site_id", "corporate_numbers", ["site_id"])


def downgrade() -> None:
    op.drop_index("ix_corporate_numbers_site_id", table_name="corporate_numbers")
    op.drop_table("corporate_numbers")
    op.drop_index("ix_corporate_sites_customer_code", table_name="corporate_sites")
    op.drop_index("ix_corporate_sites_key", table_name="corporate_sites")
    op.drop_table("corporate_sites")
