"""management and risk: decisions of the management rules, user commands (halt, resume, reject), risk state

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 09:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_OPEN = sa.text("status IN ('pending', 'approved')")


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("con_id", sa.Integer(), nullable=False),
        sa.Column("local_symbol", sa.String(length=32), nullable=False),
        sa.Column("right", sa.String(length=1), nullable=False),
        sa.Column("strike", sa.Float(), nullable=False),
        sa.Column("expiry", sa.String(length=8), nullable=False),
        sa.Column("contracts", sa.Integer(), nullable=False),
        sa.Column("credit", sa.Float(), nullable=False),
        sa.Column("mark", sa.Float(), nullable=True),
        sa.Column("profit_fraction", sa.Float(), nullable=True),
        sa.Column("dte", sa.Integer(), nullable=False),
        sa.Column("delta", sa.Float(), nullable=True),
        sa.Column("underlying_price", sa.Float(), nullable=True),
        sa.Column("itm", sa.Boolean(), nullable=False),
        sa.Column("limit_price", sa.Float(), nullable=True),
        sa.Column("new_con_id", sa.Integer(), nullable=True),
        sa.Column("new_local_symbol", sa.String(length=32), nullable=True),
        sa.Column("new_expiry", sa.String(length=8), nullable=True),
        sa.Column("new_strike", sa.Float(), nullable=True),
        sa.Column("net_credit", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("intent_key", sa.String(length=64), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("updated_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_decisions_status"), "decisions", ["status"], unique=False)
    op.create_index(
        "uq_decision_open",
        "decisions",
        ["con_id", "rule"],
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )
    op.create_table(
        "commands",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("con_id", sa.Integer(), nullable=True),
        sa.Column("opportunity_id", sa.Integer(), nullable=True),
        sa.Column("expiry", sa.String(length=8), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("done_at", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_commands_created_at"), "commands", ["created_at"], unique=False)
    op.create_table(
        "risk_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trading_day", sa.String(length=10), nullable=True),
        sa.Column("day_start_net_liquidation", sa.Float(), nullable=True),
        sa.Column("net_liquidation", sa.Float(), nullable=True),
        sa.Column("daily_pnl", sa.Float(), nullable=True),
        sa.Column("daily_loss_halt", sa.Boolean(), nullable=False),
        sa.Column("daily_loss_reason", sa.Text(), nullable=False),
        sa.Column("tws_time", sa.String(length=40), nullable=True),
        sa.Column("clock_offset_seconds", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("risk_state")
    op.drop_index(op.f("ix_commands_created_at"), table_name="commands")
    op.drop_table("commands")
    op.drop_index("uq_decision_open", table_name="decisions", sqlite_where=_OPEN, postgresql_where=_OPEN)
    op.drop_index(op.f("ix_decisions_status"), table_name="decisions")
    op.drop_table("decisions")
