"""Closed complaints and their events (the hash-chained audit trail).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "complaints",
        sa.Column("complaint_id", sa.String(200), primary_key=True),
        sa.Column("first_run_id", sa.String(64), primary_key=True),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("contract", sa.String(200), nullable=False),
        sa.Column("severity", sa.String(32), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32)),
        sa.Column("category", sa.String(200)),
        sa.Column("customer_id", sa.String(200)),
        sa.Column("policy_version", sa.String(200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("snapshot", sa.Boolean, nullable=False),
        sa.Column("breached", sa.Boolean, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("chain_head", sa.String(64), nullable=False),
        sa.Column("status", sa.JSON, nullable=False),  # the status view without its timeline (rebuilt from events)
        sa.Column("outcome", sa.JSON, nullable=False),  # sla.outcomes.ComplaintOutcome
        sa.Column("deliveries", sa.JSON, nullable=False),  # action id -> {fired_at, key}
    )
    op.create_index("complaints_received", "complaints", ["contract", "received_at"])
    op.create_index("complaints_customer", "complaints", ["customer_id"])
    op.create_table(
        "complaint_events",
        sa.Column("complaint_id", sa.String(200), primary_key=True),
        sa.Column("first_run_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(200)),
        sa.Column("details", sa.JSON, nullable=False),  # every field but personal data and free text
        sa.Column("sealed", sa.Text),  # those, encrypted: "kid:base64(nonce + AES-GCM)"
        sa.Column("hash", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["complaint_id", "first_run_id"],
                                ["complaints.complaint_id", "complaints.first_run_id"], ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("complaint_events")
    op.drop_table("complaints")
