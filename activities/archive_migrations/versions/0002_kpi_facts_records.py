"""KPI facts as columns (cycles aggregate them in SQL) and the finished plans, cycles and outages.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FACTS: list[tuple[str, Any]] = [
    ("kind", sa.String(32)), ("at_fault", sa.Boolean), ("resolved_at", sa.DateTime(timezone=True)),
    ("resolve_deadline", sa.DateTime(timezone=True)),
    ("withdrawn", sa.Boolean), ("resolved", sa.Boolean), ("first_contact", sa.Boolean), ("reopened", sa.Boolean),
    ("remedy", sa.String(64)), ("handling_seconds", sa.BigInteger), ("first_response_business", sa.BigInteger),
    ("first_response_wall", sa.BigInteger), ("major", sa.Boolean), ("resolved_in_time", sa.Boolean),
    ("major_breaches", sa.Integer), ("minor_breaches", sa.Integer), ("csat", sa.Integer), ("nps", sa.Integer),
    ("ces", sa.Integer),
]


def upgrade() -> None:
    with op.batch_alter_table("complaints") as batch:
        for name, kind in FACTS:
            batch.add_column(sa.Column(name, kind))
    op.create_table(
        "complaint_clocks",
        sa.Column("complaint_id", sa.String(200), primary_key=True),
        sa.Column("first_run_id", sa.String(64), primary_key=True),
        sa.Column("clock", sa.String(64), primary_key=True),
        sa.Column("met", sa.Integer, nullable=False),
        sa.Column("breached", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(["complaint_id", "first_run_id"],
                                ["complaints.complaint_id", "complaints.first_run_id"], ondelete="CASCADE"),
    )
    _backfill()
    op.create_table(
        "records",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("record_id", sa.String(255), primary_key=True),
        sa.Column("first_run_id", sa.String(64), primary_key=True),
        sa.Column("contract", sa.String(200), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
    )


def _backfill() -> None:
    """Complaints archived under 0001 get their facts and clock tallies from the outcome they kept."""
    from sla.archive import outcome_facts
    from sla.outcomes import ComplaintOutcome

    complaints = sa.table("complaints", sa.column("complaint_id"), sa.column("first_run_id"),
                          sa.column("outcome", sa.JSON), *(sa.column(name) for name, _ in FACTS))
    clocks = sa.table("complaint_clocks", sa.column("complaint_id"), sa.column("first_run_id"), sa.column("clock"),
                      sa.column("met"), sa.column("breached"))
    connection = op.get_bind()
    rows = []
    for cid, first_run, raw in connection.execute(
            sa.select(complaints.c.complaint_id, complaints.c.first_run_id, complaints.c.outcome)).all():
        outcome = ComplaintOutcome.model_validate(raw)
        connection.execute(complaints.update().where(complaints.c.complaint_id == cid,
                                                     complaints.c.first_run_id == first_run)
                           .values(**outcome_facts(outcome)))
        rows += [{"complaint_id": cid, "first_run_id": first_run, "clock": clock.value, "met": tally.met,
                  "breached": tally.breached} for clock, tally in outcome.clocks.items()]
    if rows:
        connection.execute(clocks.insert(), rows)


def downgrade() -> None:
    op.drop_table("records")
    op.drop_table("complaint_clocks")
    with op.batch_alter_table("complaints") as batch:
        for name, _ in reversed(FACTS):
            batch.drop_column(name)
