"""The clearing firm"s FIX drop copy (fix_executions, unique by ExecID), its session"s committed inbound
sequence (fix_sessions) and intraday recon breaks (intraday_breaks). Generated from flows.store.models and
reviewed; the same on SQLite and PostgreSQL.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fix_executions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("exec_id", sa.String(length=40), nullable=False),
        sa.Column("ref_exec_id", sa.String(length=40), nullable=False),
        sa.Column("exec_type", sa.String(length=1), nullable=False),
        sa.Column("ord_status", sa.String(length=1), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("clordid", sa.String(length=40), nullable=False),
        sa.Column("account", sa.String(length=16), nullable=False),
        sa.Column("exec_broker", sa.String(length=8), nullable=False),
        sa.Column("clearing_firm", sa.String(length=8), nullable=False),
        sa.Column("clearing_account", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=8), nullable=False),
        sa.Column("side", sa.String(length=1), nullable=False),
        sa.Column("last_qty", sa.BigInteger(), nullable=False),
        sa.Column("last_px", sa.BigInteger(), nullable=False),
        sa.Column("transact_ns", sa.BigInteger(), nullable=False),
        sa.Column("trade_date", sa.Date(), nullable=False),
        sa.Column("last_mkt", sa.String(length=4), nullable=False),
        sa.Column("msg_seq", sa.BigInteger(), nullable=False),
        sa.Column("poss_dup", sa.Boolean(), nullable=False),
        sa.Column("received_ns", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("eff_qty", sa.BigInteger(), nullable=False),
        sa.Column("eff_px", sa.BigInteger(), nullable=False),
        sa.Column("eff_account", sa.String(length=16), nullable=False),
        sa.Column("eff_clearing_account", sa.String(length=16), nullable=False),
        sa.Column("applied_ns", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("state IN ('new', 'busted', 'corrected')", name=op.f("ck_fix_executions_state_allowed")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fix_executions")),
        sa.UniqueConstraint("exec_id", name=op.f("uq_fix_executions_exec_id")),
    )
    with op.batch_alter_table("fix_executions", schema=None) as batch_op:
        batch_op.create_index("ix_fix_executions_trade_date_ref_exec_id", ["trade_date", "ref_exec_id"], unique=False)

    op.create_table(
        "fix_sessions",
        sa.Column("session_id", sa.String(length=80), nullable=False),
        sa.Column("last_seq_in", sa.BigInteger(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.Column("garbled", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_fix_sessions")),
    )
    op.create_table(
        "intraday_breaks",
        sa.Column("break_id", sa.String(length=16), nullable=False),
        sa.Column("trade_date", sa.Date(), nullable=False),
        sa.Column("btype", sa.String(length=32), nullable=False),
        sa.Column("exec_id", sa.String(length=40), nullable=False),
        sa.Column("account", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=8), nullable=False),
        sa.Column("internal_qty", sa.BigInteger(), nullable=True),
        sa.Column("clearing_qty", sa.BigInteger(), nullable=True),
        sa.Column("internal_price", sa.BigInteger(), nullable=True),
        sa.Column("clearing_price", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.Column("event_ns", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_ns", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ns", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("closed_ns", sa.BigInteger(), nullable=True),
        sa.Column("close_reason", sa.String(length=32), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'closed', 'signed_off')", name=op.f("ck_intraday_breaks_status_allowed")
        ),
        sa.PrimaryKeyConstraint("break_id", name=op.f("pk_intraday_breaks")),
    )
    with op.batch_alter_table("intraday_breaks", schema=None) as batch_op:
        batch_op.create_index("ix_intraday_breaks_trade_date_status", ["trade_date", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("intraday_breaks", schema=None) as batch_op:
        batch_op.drop_index("ix_intraday_breaks_trade_date_status")

    op.drop_table("intraday_breaks")
    op.drop_table("fix_sessions")
    with op.batch_alter_table("fix_executions", schema=None) as batch_op:
        batch_op.drop_index("ix_fix_executions_trade_date_ref_exec_id")

    op.drop_table("fix_executions")
