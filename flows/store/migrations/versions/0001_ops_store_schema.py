"""The ops store schema (accounts through retention items), generated from flows.store.models and reviewed.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 06:35:42.178417
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account", sa.String(length=8), nullable=False),
        sa.Column("clearing_account", sa.String(length=16), nullable=False),
        sa.Column("fdid", sa.String(length=40), nullable=True),
        sa.Column("fdid_pending", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("account", name=op.f("pk_accounts")),
        sa.UniqueConstraint("clearing_account", name=op.f("uq_accounts_clearing_account")),
        sa.UniqueConstraint("fdid", name=op.f("uq_accounts_fdid")),
    )
    op.create_table(
        "bp_snapshots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account", sa.String(length=8), nullable=False),
        sa.Column("clearing_bp", sa.BigInteger(), nullable=False),
        sa.Column("house_bp", sa.BigInteger(), nullable=False),
        sa.Column("haircut_used", sa.BigInteger(), nullable=False),
        sa.Column("reserve", sa.BigInteger(), nullable=False),
        sa.Column("available", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pushed_state_version", sa.BigInteger(), nullable=True),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('ok', 'stale', 'restrictive')", name=op.f("ck_bp_snapshots_status_allowed")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bp_snapshots")),
        sa.UniqueConstraint(
            "business_date", "account", "as_of", name=op.f("uq_bp_snapshots_business_date_account_as_of")
        ),
    )
    op.create_table(
        "cat_submissions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("file_number", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "status IN ('built', 'sealed', 'submitted', 'accepted', 'rejected')",
            name=op.f("ck_cat_submissions_status_allowed"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cat_submissions")),
        sa.UniqueConstraint("business_date", "file_number", name=op.f("uq_cat_submissions_business_date_file_number")),
        sa.UniqueConstraint("file_name", name=op.f("uq_cat_submissions_file_name")),
    )
    op.create_table(
        "control_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("cmd", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("approver", sa.String(length=64), nullable=True),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("state_version", sa.BigInteger(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("endpoint", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_audit")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_control_audit_entry_id")),
    )
    op.create_index("ix_control_audit_ts_ns", "control_audit", ["ts_ns"], unique=False)

    op.create_table(
        "executions",
        sa.Column("epoch", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("trade_date", sa.Date(), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(length=8), nullable=False),
        sa.Column("symbol", sa.String(length=8), nullable=False),
        sa.Column("side", sa.SmallInteger(), nullable=False),
        sa.Column("venue", sa.SmallInteger(), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("leaves_qty", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("venue_order_id", sa.BigInteger(), nullable=False),
        sa.Column("exec_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("epoch", "seq", name=op.f("pk_executions")),
    )
    op.create_index("ix_executions_order_id", "executions", ["order_id"], unique=False)
    op.create_index(
        "ix_executions_trade_date_account_symbol", "executions", ["trade_date", "account", "symbol"], unique=False
    )

    op.create_table(
        "ha_drills",
        sa.Column("drill_id", sa.String(length=64), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("scenario", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.CheckConstraint("result IN ('pass', 'fail', 'aborted')", name=op.f("ck_ha_drills_result_allowed")),
        sa.PrimaryKeyConstraint("drill_id", name=op.f("pk_ha_drills")),
    )
    op.create_index(op.f("ix_ha_drills_business_date"), "ha_drills", ["business_date"], unique=False)

    op.create_table(
        "ingested_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("records", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=64), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('loaded', 'rejected', 'quarantined')", name=op.f("ck_ingested_files_status_allowed")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingested_files")),
        sa.UniqueConstraint("sha256", "business_date", name=op.f("uq_ingested_files_sha256_business_date")),
    )
    op.create_index("ix_ingested_files_date_source", "ingested_files", ["business_date", "source"], unique=False)

    op.create_table(
        "locate_log",
        sa.Column("locate_id", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("account", sa.String(length=8), nullable=False),
        sa.Column("symbol", sa.String(length=8), nullable=False),
        sa.Column("cusip", sa.String(length=9), nullable=False),
        sa.Column("requested", sa.BigInteger(), nullable=False),
        sa.Column("granted", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("expiry", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("order_ids", sa.JSON(), nullable=False),
        sa.CheckConstraint("method IN ('etb', 'preborrow', 'specific')", name=op.f("ck_locate_log_method_allowed")),
        sa.PrimaryKeyConstraint("locate_id", name=op.f("pk_locate_log")),
    )
    op.create_index("ix_locate_log_date_symbol", "locate_log", ["business_date", "symbol"], unique=False)

    op.create_table(
        "locates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("symbol", sa.String(length=8), nullable=False),
        sa.Column("cusip", sa.String(length=9), nullable=False),
        sa.Column("available", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locates")),
        sa.UniqueConstraint("business_date", "symbol", "source", name=op.f("uq_locates_business_date_symbol_source")),
    )
    op.create_table(
        "order_events",
        sa.Column("epoch", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("trade_date", sa.Date(), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("etype", sa.SmallInteger(), nullable=False),
        sa.Column("side", sa.SmallInteger(), nullable=False),
        sa.Column("venue", sa.SmallInteger(), nullable=False),
        sa.Column("flags", sa.SmallInteger(), nullable=False),
        sa.Column("reason", sa.Integer(), nullable=False),
        sa.Column("ord_type", sa.SmallInteger(), nullable=False),
        sa.Column("tif", sa.SmallInteger(), nullable=False),
        sa.Column("account", sa.String(length=8), nullable=False),
        sa.Column("symbol", sa.String(length=8), nullable=False),
        sa.Column("session", sa.String(length=8), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("leaves_qty", sa.BigInteger(), nullable=False),
        sa.Column("last_qty", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("last_px", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("orig_order_id", sa.BigInteger(), nullable=False),
        sa.Column("routed_id", sa.BigInteger(), nullable=False),
        sa.Column("venue_order_id", sa.BigInteger(), nullable=False),
        sa.Column("exec_id", sa.BigInteger(), nullable=False),
        sa.Column("clordid", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("epoch", "seq", name=op.f("pk_order_events")),
    )
    op.create_index("ix_order_events_order_id", "order_events", ["order_id"], unique=False)
    op.create_index("ix_order_events_trade_date", "order_events", ["trade_date"], unique=False)

    op.create_table(
        "positions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("account", sa.String(length=8), nullable=False),
        sa.Column("symbol", sa.String(length=8), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.CheckConstraint("source IN ('core', 'journal', 'clearing')", name=op.f("ck_positions_source_allowed")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
        sa.UniqueConstraint(
            "business_date",
            "account",
            "symbol",
            "source",
            name=op.f("uq_positions_business_date_account_symbol_source"),
        ),
    )
    op.create_table(
        "recon_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "status IN ('running', 'clean', 'breaks', 'failed')", name=op.f("ck_recon_runs_status_allowed")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_runs")),
    )
    op.create_index("ix_recon_runs_business_date", "recon_runs", ["business_date"], unique=False)

    op.create_table(
        "retention_items",
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("record_class", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retain_until", sa.Date(), nullable=False),
        sa.Column("hold", sa.Boolean(), nullable=False),
        sa.Column("hold_reason", sa.Text(), nullable=True),
        sa.Column("archive_path", sa.String(length=512), nullable=True),
        sa.PrimaryKeyConstraint("object_id", name=op.f("pk_retention_items")),
    )
    op.create_index(op.f("ix_retention_items_retain_until"), "retention_items", ["retain_until"], unique=False)

    op.create_table(
        "securities",
        sa.Column("symbol", sa.String(length=8), nullable=False),
        sa.Column("cusip", sa.String(length=9), nullable=False),
        sa.Column("isin", sa.String(length=12), nullable=False),
        sa.Column("listing", sa.String(length=1), nullable=False),
        sa.Column("luld_tier", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", name=op.f("pk_securities")),
        sa.UniqueConstraint("cusip", name=op.f("uq_securities_cusip")),
        sa.UniqueConstraint("isin", name=op.f("uq_securities_isin")),
    )
    op.create_table(
        "sho_list_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("list_type", sa.String(length=16), nullable=False),
        sa.Column("market", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "list_type IN ('threshold', 'etb', 'preborrow')", name=op.f("ck_sho_list_entries_list_type_allowed")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sho_list_entries")),
        sa.UniqueConstraint(
            "business_date",
            "list_type",
            "market",
            "symbol",
            name=op.f("uq_sho_list_entries_business_date_list_type_market_symbol"),
        ),
    )
    op.create_table(
        "cat_feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("error_roe_id", sa.String(length=64), nullable=False),
        sa.Column("error_code", sa.String(length=16), nullable=False),
        sa.Column("firm_roe_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("repair_file", sa.String(length=255), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('open', 'repaired', 'closed')", name=op.f("ck_cat_feedback_status_allowed")),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["cat_submissions.id"], name=op.f("fk_cat_feedback_submission_id_cat_submissions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cat_feedback")),
        sa.UniqueConstraint(
            "business_date",
            "error_roe_id",
            "error_code",
            name=op.f("uq_cat_feedback_business_date_error_roe_id_error_code"),
        ),
    )
    op.create_index(op.f("ix_cat_feedback_submission_id"), "cat_feedback", ["submission_id"], unique=False)

    op.create_table(
        "recon_breaks",
        sa.Column("break_id", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("break_type", sa.String(length=48), nullable=False),
        sa.Column("account", sa.String(length=8), nullable=True),
        sa.Column("symbol", sa.String(length=8), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("first_seen", sa.Date(), nullable=False),
        sa.Column("last_seen", sa.Date(), nullable=False),
        sa.Column("age_days", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("signoff_by", sa.String(length=64), nullable=True),
        sa.Column("signoff_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signoff_note", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'resolved', 'signed_off')", name=op.f("ck_recon_breaks_status_allowed")),
        sa.ForeignKeyConstraint(["run_id"], ["recon_runs.id"], name=op.f("fk_recon_breaks_run_id_recon_runs")),
        sa.PrimaryKeyConstraint("break_id", name=op.f("pk_recon_breaks")),
    )
    op.create_index(op.f("ix_recon_breaks_run_id"), "recon_breaks", ["run_id"], unique=False)
    op.create_index("ix_recon_breaks_status_business_date", "recon_breaks", ["status", "business_date"], unique=False)

    op.create_table(
        "sod_balances",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("account", sa.String(length=8), nullable=False),
        sa.Column("cash", sa.BigInteger(), nullable=False),
        sa.Column("long_market_value", sa.BigInteger(), nullable=False),
        sa.Column("short_market_value", sa.BigInteger(), nullable=False),
        sa.Column("equity", sa.BigInteger(), nullable=False),
        sa.Column("buying_power", sa.BigInteger(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["ingested_files.id"], name=op.f("fk_sod_balances_file_id_ingested_files")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sod_balances")),
        sa.UniqueConstraint("business_date", "account", name=op.f("uq_sod_balances_business_date_account")),
    )
    op.create_index(op.f("ix_sod_balances_file_id"), "sod_balances", ["file_id"], unique=False)

    op.create_table(
        "sod_positions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("account", sa.String(length=8), nullable=False),
        sa.Column("cusip", sa.String(length=9), nullable=False),
        sa.Column("symbol", sa.String(length=8), nullable=False),
        sa.Column("td_qty", sa.BigInteger(), nullable=False),
        sa.Column("sd_qty", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["ingested_files.id"], name=op.f("fk_sod_positions_file_id_ingested_files")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sod_positions")),
        sa.UniqueConstraint(
            "business_date", "account", "cusip", name=op.f("uq_sod_positions_business_date_account_cusip")
        ),
    )
    op.create_index(op.f("ix_sod_positions_file_id"), "sod_positions", ["file_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sod_positions_file_id"), table_name="sod_positions")

    op.drop_table("sod_positions")
    op.drop_index(op.f("ix_sod_balances_file_id"), table_name="sod_balances")

    op.drop_table("sod_balances")
    op.drop_index("ix_recon_breaks_status_business_date", table_name="recon_breaks")
    op.drop_index(op.f("ix_recon_breaks_run_id"), table_name="recon_breaks")

    op.drop_table("recon_breaks")
    op.drop_index(op.f("ix_cat_feedback_submission_id"), table_name="cat_feedback")

    op.drop_table("cat_feedback")
    op.drop_table("sho_list_entries")
    op.drop_table("securities")
    op.drop_index(op.f("ix_retention_items_retain_until"), table_name="retention_items")

    op.drop_table("retention_items")
    op.drop_index("ix_recon_runs_business_date", table_name="recon_runs")

    op.drop_table("recon_runs")
    op.drop_table("positions")
    op.drop_index("ix_order_events_trade_date", table_name="order_events")
    op.drop_index("ix_order_events_order_id", table_name="order_events")

    op.drop_table("order_events")
    op.drop_table("locates")
    op.drop_index("ix_locate_log_date_symbol", table_name="locate_log")

    op.drop_table("locate_log")
    op.drop_index("ix_ingested_files_date_source", table_name="ingested_files")

    op.drop_table("ingested_files")
    op.drop_index(op.f("ix_ha_drills_business_date"), table_name="ha_drills")

    op.drop_table("ha_drills")
    op.drop_index("ix_executions_trade_date_account_symbol", table_name="executions")
    op.drop_index("ix_executions_order_id", table_name="executions")

    op.drop_table("executions")
    op.drop_index("ix_control_audit_ts_ns", table_name="control_audit")

    op.drop_table("control_audit")
    op.drop_table("cat_submissions")
    op.drop_table("bp_snapshots")
    op.drop_table("accounts")
