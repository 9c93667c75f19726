"""The initial warehouse: reference tables, the file manifest, records, quarantine, people, views.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

VIEWS_DIR = Path(__file__).resolve().parents[2] / "views"
VIEWS = ("rpt_province_summary", "rpt_quarantine_summary", "rpt_loan_cap_breaches", "rpt_monthly_loans")


def _date_columns(name: str) -> list[sa.Column]:
    """A date stored as the Gregorian date plus its Jalali year and month."""
    return [
        sa.Column(name, sa.Date),
        sa.Column(f"{name}_jalali_year", sa.Integer),
        sa.Column(f"{name}_jalali_month", sa.Integer),
    ]


def _lineage_columns() -> list[sa.Column]:
    """Where the current version of a record came from."""
    return [
        sa.Column("extra", sa.Text, comment="unknown extra columns as sent (JSON)"),
        sa.Column("file_id", sa.BigInteger, sa.ForeignKey("ingest_file.file_id"), nullable=False),
        sa.Column("file_seq", sa.BigInteger, nullable=False),
        sa.Column("line_number", sa.Integer, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "ref_province",
        sa.Column("province_code", sa.String(8), primary_key=True),
        sa.Column("sci_code", sa.String(2), nullable=False),
        sa.Column("name_fa", sa.Text, nullable=False),
        sa.Column("name_en", sa.Text, nullable=False),
        sa.Column("center_fa", sa.Text, nullable=False),
        sa.Column("center_en", sa.Text, nullable=False),
    )
    op.create_table(
        "ref_loan_cap",
        sa.Column("jalali_year", sa.Integer, primary_key=True),
        sa.Column("loan_type", sa.String(16), primary_key=True),
        sa.Column("cap_rial", sa.BigInteger, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
    )
    op.create_table(
        "ingest_sighting",
        sa.Column("relative_path", sa.Text, primary_key=True),
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("seen_seq", sa.BigInteger, nullable=False, unique=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "ingest_file",
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("seen_seq", sa.BigInteger, nullable=False),
        sa.Column("province_code", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("relative_path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("identity", sa.Text, unique=True,
                  comment="province|source|sha256 of a file that counts as seen; NULL otherwise"),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("file_reason", sa.String(32)),
        sa.Column("detail", sa.Text),
        sa.Column("encoding", sa.String(16)),
        sa.Column("delimiter", sa.String(4)),
        sa.Column("header", sa.Text),
        sa.Column("rows_read", sa.Integer, nullable=False),
        sa.Column("rows_loaded", sa.Integer, nullable=False),
        sa.Column("rows_rejected", sa.Integer, nullable=False),
        sa.Column("rejected_by_reason", sa.Text, nullable=False),
        sa.Column("warnings_by_reason", sa.Text, nullable=False),
        sa.Column("archive_path", sa.Text, nullable=False),
        sa.Column("receipt_path", sa.Text, nullable=False),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_ingest_file_status", "ingest_file", ["status"])

    op.create_table(
        "registration",
        sa.Column("province_code", sa.String(8), primary_key=True),
        sa.Column("application_key", sa.Text, primary_key=True),
        sa.Column("application_id", sa.Text, nullable=False),
        sa.Column("national_id", sa.String(10), nullable=False),
        sa.Column("first_name", sa.Text, nullable=False),
        sa.Column("last_name", sa.Text, nullable=False),
        sa.Column("father_name", sa.Text),
        sa.Column("gender", sa.String(8)),
        *_date_columns("birth_date"),
        sa.Column("mobile", sa.String(11)),
        sa.Column("county", sa.Text),
        sa.Column("business_category", sa.Text),
        *_date_columns("registered_at"),
        sa.Column("supporter_id", sa.Text),
        *_lineage_columns(),
    )
    op.create_index("ix_registration_national_id", "registration", ["national_id"])

    op.create_table(
        "loan",
        sa.Column("bank_key", sa.Text, primary_key=True),
        sa.Column("loan_key", sa.Text, primary_key=True),
        sa.Column("bank", sa.Text, nullable=False),
        sa.Column("loan_id", sa.Text, nullable=False),
        sa.Column("province_code", sa.String(8), nullable=False),
        sa.Column("national_id", sa.String(10), nullable=False),
        sa.Column("first_name", sa.Text),
        sa.Column("last_name", sa.Text),
        sa.Column("loan_type", sa.String(16), nullable=False),
        sa.Column("amount_rial", sa.BigInteger, nullable=False),
        *_date_columns("approved_at"),
        *_date_columns("disbursed_at"),
        *_date_columns("loan_date"),
        sa.Column("status", sa.String(16), nullable=False),
        *_lineage_columns(),
    )
    op.create_index("ix_loan_national_id", "loan", ["national_id"])
    op.create_index("ix_loan_province_status", "loan", ["province_code", "status"])

    op.create_table(
        "training_enrollment",
        sa.Column("province_code", sa.String(8), primary_key=True),
        sa.Column("enrollment_key", sa.Text, primary_key=True),
        sa.Column("enrollment_id", sa.Text, nullable=False),
        sa.Column("national_id", sa.String(10), nullable=False),
        sa.Column("first_name", sa.Text),
        sa.Column("last_name", sa.Text),
        sa.Column("course_title", sa.Text, nullable=False),
        sa.Column("course_type", sa.String(16)),
        sa.Column("provider", sa.Text),
        sa.Column("hours", sa.Numeric(10, 2)),
        *_date_columns("start_date"),
        *_date_columns("end_date"),
        sa.Column("completed", sa.Boolean, nullable=False),
        *_lineage_columns(),
    )
    op.create_index("ix_training_national_id", "training_enrollment", ["national_id"])

    op.create_table(
        "rejected_row",
        sa.Column("file_id", sa.BigInteger, sa.ForeignKey("ingest_file.file_id"), primary_key=True),
        sa.Column("line_number", sa.Integer, primary_key=True),
        sa.Column("reasons", sa.Text, nullable=False, comment="reason codes separated by ';'"),
        sa.Column("raw", sa.Text, nullable=False, comment="the row as sent: JSON list in header order"),
    )
    op.create_table(
        "rejected_row_reason",
        sa.Column("file_id", sa.BigInteger, primary_key=True),
        sa.Column("line_number", sa.Integer, primary_key=True),
        sa.Column("reason", sa.String(32), primary_key=True),
        sa.ForeignKeyConstraint(["file_id", "line_number"],
                                ["rejected_row.file_id", "rejected_row.line_number"]),
    )

    op.create_table(
        "person",
        sa.Column("national_id", sa.String(10), primary_key=True),
        sa.Column("home_province_code", sa.String(8), nullable=False),
        sa.Column("registrations", sa.Integer, nullable=False),
        sa.Column("live_loans", sa.Integer, nullable=False),
        sa.Column("completed_trainings", sa.Integer, nullable=False),
        sa.Column("has_supporter", sa.Boolean, nullable=False),
        sa.Column("multi_registration", sa.Boolean, nullable=False),
        sa.Column("loan_only", sa.Boolean, nullable=False),
        sa.Column("unregistered_borrower", sa.Boolean, nullable=False),
    )
    op.create_index("ix_person_home_province", "person", ["home_province_code"])

    for view in VIEWS:
        op.execute((VIEWS_DIR / f"{view}.v1.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    for view in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {view}")
    for table in ("person", "rejected_row_reason", "rejected_row", "training_enrollment", "loan",
                  "registration", "ingest_file", "ingest_sighting", "ref_loan_cap", "ref_province"):
        op.drop_table(table)
