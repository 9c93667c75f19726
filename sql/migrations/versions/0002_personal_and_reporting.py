"""Person pseudonyms; on PostgreSQL, personal data apart from the reporting layer, with roles and grants.

Every record table and ``person`` get ``person_pseudonym`` (filled by the pipeline,
whose key never reaches the warehouse; only its fingerprint is kept in
``pseudonym_key``). On PostgreSQL, tables move into the schemas ``personal`` and
``reporting``, the analysts' pseudonymised views are created, and the access
rules of etl/access.py are applied.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import op

from etl.access import PERSONAL_SCHEMA, REPORTING_SCHEMA, SEARCH_PATH, apply_access_rules, run_plain_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ANALYST_VIEWS_DIR = Path(__file__).resolve().parents[2] / "views" / "reporting"
PSEUDONYMISED = ("registration", "loan", "training_enrollment", "person")
PERSONAL_TABLES = ("registration", "loan", "training_enrollment", "person", "rejected_row", "ingest_sighting",
                   "pseudonym_key")
REPORTING_TABLES = ("ref_province", "ref_loan_cap", "ingest_file", "rejected_row_reason")
REPORTING_VIEWS = ("rpt_province_summary", "rpt_quarantine_summary", "rpt_monthly_loans")
ANALYST_VIEWS = ("registration", "loan", "training_enrollment", "person", "rpt_loan_cap_breaches")


def upgrade() -> None:
    for table in PSEUDONYMISED:
        op.add_column(table, sa.Column("person_pseudonym", sa.String(32),
                                       comment="keyed hash of the national ID (etl/pseudonym.py)"))
        # Rows still to be given a pseudonym (loaded before this revision, or after a change of key).
        op.create_index(f"ix_{table}_pseudonym_missing", table, ["national_id"],
                        postgresql_where=sa.text("person_pseudonym IS NULL"),
                        sqlite_where=sa.text("person_pseudonym IS NULL"))
    op.create_index("ix_person_pseudonym", "person", ["person_pseudonym"])
    op.create_table(
        "pseudonym_key",
        sa.Column("id", sa.Integer, primary_key=True, comment="always 1: one key per warehouse"),
        sa.Column("fingerprint", sa.String(32), nullable=False, comment="public fingerprint of the key in use"),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {PERSONAL_SCHEMA}")
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {REPORTING_SCHEMA}")
    for table in PERSONAL_TABLES:
        op.execute(f"ALTER TABLE public.{table} SET SCHEMA {PERSONAL_SCHEMA}")
    for table in REPORTING_TABLES:
        op.execute(f"ALTER TABLE public.{table} SET SCHEMA {REPORTING_SCHEMA}")
    for view in REPORTING_VIEWS:
        op.execute(f"ALTER VIEW public.{view} SET SCHEMA {REPORTING_SCHEMA}")
    op.execute(f"ALTER VIEW public.rpt_loan_cap_breaches SET SCHEMA {PERSONAL_SCHEMA}")
    op.execute(f"SET LOCAL search_path = {SEARCH_PATH}")
    for view in ANALYST_VIEWS:
        op.execute((ANALYST_VIEWS_DIR / f"{view}.v1.sql").read_text(encoding="utf-8"))
    apply_access_rules(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for view in ANALYST_VIEWS:
            op.execute(f"DROP VIEW IF EXISTS {REPORTING_SCHEMA}.{view}")
        op.execute(f"ALTER VIEW {PERSONAL_SCHEMA}.rpt_loan_cap_breaches SET SCHEMA public")
        for view in REPORTING_VIEWS:
            op.execute(f"ALTER VIEW {REPORTING_SCHEMA}.{view} SET SCHEMA public")
        for table in REPORTING_TABLES:
            op.execute(f"ALTER TABLE {REPORTING_SCHEMA}.{table} SET SCHEMA public")
        for table in PERSONAL_TABLES:
            op.execute(f"ALTER TABLE {PERSONAL_SCHEMA}.{table} SET SCHEMA public")
        run_plain_sql(op.get_bind(), "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET search_path',"
                                     " current_database()); END $$")
        op.execute("SET LOCAL search_path = public")
    op.drop_table("pseudonym_key")
    op.drop_index("ix_person_pseudonym", table_name="person")
    for table in PSEUDONYMISED:
        op.drop_index(f"ix_{table}_pseudonym_missing", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("person_pseudonym")
