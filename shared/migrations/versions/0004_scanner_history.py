"""scanner history and coverage: per-symbol scan results, cached daily bars, earnings dates, scan progress

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 10:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_HISTORY_COLUMNS = (
    ("iv_rank", sa.Float()),
    ("iv_hv_ratio", sa.Float()),
    ("hv", sa.Float()),
    ("next_earnings", sa.String(length=10)),
    ("sma200", sa.Float()),
    ("rsi14", sa.Float()),
)


def upgrade() -> None:
    with op.batch_alter_table("scans") as batch:
        batch.add_column(sa.Column("preview", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(
            sa.Column("trigger", sa.String(length=16), nullable=False, server_default="schedule")
        )
        batch.add_column(sa.Column("progress", sa.String(length=64), nullable=False, server_default=""))
    with op.batch_alter_table("opportunities") as batch:
        for name, type_ in _HISTORY_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    op.create_table(
        "scan_symbols",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("right", sa.String(length=1), nullable=False),
        sa.Column("expiries", sa.Integer(), nullable=False),
        sa.Column("contracts_checked", sa.Integer(), nullable=False),
        sa.Column("candidates", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("iv", sa.Float(), nullable=True),
        sa.Column("iv_rank", sa.Float(), nullable=True),
        sa.Column("hv", sa.Float(), nullable=True),
        sa.Column("iv_hv_ratio", sa.Float(), nullable=True),
        sa.Column("next_earnings", sa.String(length=10), nullable=True),
        sa.Column("sma200", sa.Float(), nullable=True),
        sa.Column("rsi14", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_scan_symbols_scan_id"), "scan_symbols", ["scan_id"], unique=False)
    op.create_table(
        "daily_bars",
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("what", sa.String(length=32), nullable=False),
        sa.Column("date", sa.String(length=10), nullable=False),
        sa.Column("close", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "what", "date"),
    )
    op.create_table(
        "bar_fetches",
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("what", sa.String(length=32), nullable=False),
        sa.Column("trading_day", sa.String(length=10), nullable=False),
        sa.Column("fetched_at", sa.String(length=40), nullable=False),
        sa.Column("bars", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "what"),
    )
    op.create_table(
        "earnings_dates",
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("date", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("fetched_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "date"),
    )


def downgrade() -> None:
    op.drop_table("earnings_dates")
    op.drop_table("bar_fetches")
    op.drop_table("daily_bars")
    op.drop_index(op.f("ix_scan_symbols_scan_id"), table_name="scan_symbols")
    op.drop_table("scan_symbols")
    with op.batch_alter_table("opportunities") as batch:
        for name, _ in reversed(_HISTORY_COLUMNS):
            batch.drop_column(name)
    with op.batch_alter_table("scans") as batch:
        batch.drop_column("progress")
        batch.drop_column("trigger")
        batch.drop_column("preview")
