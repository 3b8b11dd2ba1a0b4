"""PostgreSQL: sod_positions becomes a LIST-partitioned table, one partition per business date.

Why: a COPY into a table with a foreign key fires the server's RI trigger once per row (~3 s per million
positions, most of the SOD load). The loader now copies a day into a standalone table and attaches it as that
day's partition: PostgreSQL then builds the partition's indexes in bulk and checks the file_id foreign key
with one set-based query. Referential integrity is unchanged: the constraint is on the parent and so on every
partition. A DEFAULT partition takes rows for days without a partition of their own (plain ORM inserts).

A partitioned table's primary key must contain the partition key, so on PostgreSQL it is (id, business_date);
id still comes from the same sequence. SQLite is unchanged (this revision is a no-op there).

Existing rows move into one partition per business date (named sod_positions_YYYYMMDD, as the loader names
them) and keep their ids; downgrade moves them back into a plain table shaped exactly like revision 0001's.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 09:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQ = "sod_positions_id_seq"  # created by revision 0001's SERIAL; both shapes keep using it
COLUMNS = "id, business_date, account, cusip, symbol, td_qty, sd_qty, price, file_id"


def _columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer(), server_default=sa.text(f"nextval('{SEQ}'::regclass)"), autoincrement=False,
                  nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("account", sa.String(length=8), nullable=False),
        sa.Column("cusip", sa.String(length=9), nullable=False),
        sa.Column("symbol", sa.String(length=8), nullable=False),
        sa.Column("td_qty", sa.BigInteger(), nullable=False),
        sa.Column("sd_qty", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
    ]


def _constraints(pk: tuple[str, ...]) -> list[sa.Constraint]:
    return [
        sa.ForeignKeyConstraint(
            ["file_id"], ["ingested_files.id"], name=op.f("fk_sod_positions_file_id_ingested_files")
        ),
        sa.PrimaryKeyConstraint(*pk, name=op.f("pk_sod_positions")),
        sa.UniqueConstraint(
            "business_date", "account", "cusip", name=op.f("uq_sod_positions_business_date_account_cusip")
        ),
    ]


def _set_aside(old_name: str) -> None:
    """Rename sod_positions away with its constraints and indexes (index names are schema-wide; the indexes
    stay usable for the copy) and release its sequence, which the new table takes over."""
    op.execute(f"ALTER TABLE sod_positions RENAME TO {old_name}")
    for name, new in (("pk_sod_positions", "pkey"), ("uq_sod_positions_business_date_account_cusip", "uq"),
                      ("fk_sod_positions_file_id_ingested_files", "fk")):
        op.execute(f"ALTER TABLE {old_name} RENAME CONSTRAINT {name} TO {old_name}_{new}")
    op.execute(f"ALTER INDEX ix_sod_positions_file_id RENAME TO {old_name}_file_id")
    op.execute(f"ALTER TABLE {old_name} ALTER COLUMN id DROP DEFAULT")
    op.execute(f"ALTER SEQUENCE {SEQ} OWNED BY NONE")


def _finish() -> None:
    op.execute(f"ALTER SEQUENCE {SEQ} OWNED BY sod_positions.id")
    op.create_index(op.f("ix_sod_positions_file_id"), "sod_positions", ["file_id"], unique=False)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _set_aside("sod_positions_0001")
    op.create_table("sod_positions", *_columns(), *_constraints(("id", "business_date")),
                    postgresql_partition_by="LIST (business_date)")
    _finish()
    days = bind.execute(sa.text("SELECT DISTINCT business_date FROM sod_positions_0001 ORDER BY 1")).scalars().all()
    for day in days:  # as the loader does it: fill a standalone table, then attach it (no per-row FK trigger)
        part, lit = f"sod_positions_{day:%Y%m%d}", day.isoformat()
        op.execute(f"CREATE TABLE {part} (LIKE sod_positions INCLUDING DEFAULTS, "
                   f"CONSTRAINT {part}_day CHECK (business_date = DATE '{lit}'))")
        op.execute(f"INSERT INTO {part} ({COLUMNS}) SELECT {COLUMNS} FROM sod_positions_0001 "  # noqa: S608
                   f"WHERE business_date = DATE '{lit}'")
        op.execute(f"ALTER TABLE sod_positions ATTACH PARTITION {part} FOR VALUES IN ('{lit}')")
        op.execute(f"ALTER TABLE {part} DROP CONSTRAINT {part}_day")
    op.execute("CREATE TABLE sod_positions_default PARTITION OF sod_positions DEFAULT")
    op.drop_table("sod_positions_0001")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_aside("sod_positions_0002")
    op.create_table("sod_positions", *_columns(), *_constraints(("id",)))
    _finish()
    op.execute(f"INSERT INTO sod_positions ({COLUMNS}) SELECT {COLUMNS} FROM sod_positions_0002")  # noqa: S608
    op.drop_table("sod_positions_0002")  # and with it every partition
