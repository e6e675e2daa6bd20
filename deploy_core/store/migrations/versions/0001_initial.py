"""Initial state: deployments, steps, switches, colours, locks.

Revision ID: 0001
Revises:
Create Date: 2026-11-20
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("colour", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(255), nullable=False),
        sa.Column("sha", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("replaces_sha", sa.String(64), nullable=True),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("smoke_ok", sa.Boolean(), nullable=True),
        sa.Column("promotable", sa.Boolean(), nullable=False),
        sa.Column("promotable_note", sa.Text(), nullable=True),
        sa.Column("cancel_requested_by", sa.String(255), nullable=True),
    )
    op.create_index("ix_deployments_colour", "deployments", ["colour"])
    op.create_index("ix_deployments_status", "deployments", ["status"])

    op.create_table(
        "steps",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("deployment_id", sa.Integer(),
                  sa.ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("exit_status", sa.Integer(), nullable=True),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=False),
    )
    op.create_index("ix_steps_deployment_id", "steps", ["deployment_id"])

    op.create_table(
        "switches",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_colour", sa.String(64), nullable=True),
        sa.Column("to_colour", sa.String(64), nullable=False),
        sa.Column("from_sha", sa.String(64), nullable=True),
        sa.Column("to_sha", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=True),
    )
    op.create_index("ix_switches_status", "switches", ["status"])

    op.create_table(
        "colours",
        sa.Column("colour", sa.String(64), primary_key=True),
        sa.Column("sha", sa.String(64), nullable=True),
        sa.Column("deployment_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
    )

    locks = op.create_table(
        "locks",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(32), nullable=True),
        sa.Column("holder", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("since", _utc(), nullable=True),
        sa.Column("lease_until", _utc(), nullable=True),
        sa.Column("hostname", sa.String(255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("deployment_id", sa.Integer(), nullable=True),
        sa.Column("switch_id", sa.Integer(), nullable=True),
    )
    # Locks are taken by compare-and-set on these rows, so they must exist up front.
    op.bulk_insert(locks, [{"name": "operation"}, {"name": "hold"}])


def downgrade() -> None:
    op.drop_table("locks")
    op.drop_table("colours")
    op.drop_index("ix_switches_status", table_name="switches")
    op.drop_table("switches")
    op.drop_index("ix_steps_deployment_id", table_name="steps")
    op.drop_table("steps")
    op.drop_index("ix_deployments_status", table_name="deployments")
    op.drop_index("ix_deployments_colour", table_name="deployments")
    op.drop_table("deployments")
