"""Suspected duplicate identities: scored pairs, refused rows with a likely person, the watch record.

Adds ``person.suspected_duplicate``, the tables the matching stage fills
(etl/suspects.py), the views ``rpt_suspected_duplicates`` and
``rpt_suspected_id_typos``, and version 2 of ``rpt_province_summary`` with
``suspected_duplicate_persons`` as a new last column. On PostgreSQL the tables
and the full views go to ``personal`` and the pseudonymised views to ``reporting``.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import op

from etl.access import PERSONAL_SCHEMA, REPORTING_SCHEMA

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

VIEWS_DIR = Path(__file__).resolve().parents[2] / "views"
NEW_VIEWS = ("rpt_suspected_duplicates", "rpt_suspected_id_typos")


def _view(name: str) -> str:
    return (VIEWS_DIR / name).read_text(encoding="utf-8")


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.add_column("person", sa.Column("suspected_duplicate", sa.Boolean, nullable=False,
                                      server_default=sa.false()))
    op.create_table(
        "match_run",
        sa.Column("match_run_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("persons", sa.Integer, nullable=False),
        sa.Column("refused_rows", sa.Integer, nullable=False),
        sa.Column("comparisons", sa.BigInteger, nullable=False),
        sa.Column("refused_comparisons", sa.BigInteger, nullable=False),
        sa.Column("pairs", sa.Integer, nullable=False),
        sa.Column("refused_links", sa.Integer, nullable=False),
        sa.Column("largest_cluster", sa.Integer, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("max_cluster", sa.Integer, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("published", sa.Boolean, nullable=False),
        sa.Column("detail", sa.Text),
    )
    op.create_table(
        "suspected_duplicate_pair",
        sa.Column("national_id_l", sa.String(10), primary_key=True),
        sa.Column("national_id_r", sa.String(10), primary_key=True),
        sa.Column("match_probability", sa.Float, nullable=False),
        sa.Column("match_weight", sa.Float, nullable=False),
        sa.Column("agreeing_fields", sa.Text, nullable=False),
        sa.Column("similar_fields", sa.Text, nullable=False),
        sa.Column("province_l", sa.String(8)),
        sa.Column("province_r", sa.String(8)),
        sa.Column("cluster_id", sa.String(10), nullable=False),
        sa.Column("match_run_id", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_suspected_duplicate_pair_r", "suspected_duplicate_pair", ["national_id_r"])
    op.create_table(
        "suspected_id_typo",
        sa.Column("file_id", sa.BigInteger, primary_key=True),
        sa.Column("line_number", sa.Integer, primary_key=True),
        sa.Column("province_code", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("national_id_sent", sa.Text),
        sa.Column("national_id", sa.String(10), nullable=False),
        sa.Column("match_probability", sa.Float, nullable=False),
        sa.Column("match_weight", sa.Float, nullable=False),
        sa.Column("agreeing_fields", sa.Text, nullable=False),
        sa.Column("similar_fields", sa.Text, nullable=False),
        sa.Column("id_fix", sa.Text, nullable=False),
        sa.Column("match_run_id", sa.BigInteger, nullable=False),
    )
    summary = _view("rpt_province_summary.v2.sql")
    if _postgres():
        op.execute(f"ALTER TABLE match_run SET SCHEMA {REPORTING_SCHEMA}")  # figures only, no personal data
        # Unqualified names find the personal tables first; the view itself belongs to the reporting layer.
        op.execute(f"SET LOCAL search_path = {PERSONAL_SCHEMA}, {REPORTING_SCHEMA}, public")
        summary = summary.replace("CREATE VIEW rpt_province_summary",
                                  f"CREATE VIEW {REPORTING_SCHEMA}.rpt_province_summary")
    op.execute("DROP VIEW rpt_province_summary")
    op.execute(summary)
    for view in NEW_VIEWS:
        op.execute(_view(f"{view}.v1.sql"))
    if _postgres():
        op.execute(_view("reporting/person.v2.sql").replace("CREATE VIEW", "CREATE OR REPLACE VIEW"))
        for view in NEW_VIEWS:
            op.execute(_view(f"reporting/{view}.v1.sql"))


def downgrade() -> None:
    if _postgres():
        for view in NEW_VIEWS:
            op.execute(f"DROP VIEW IF EXISTS {REPORTING_SCHEMA}.{view}")
        op.execute(f"DROP VIEW {REPORTING_SCHEMA}.person")
        op.execute(f"SET LOCAL search_path = {PERSONAL_SCHEMA}, {REPORTING_SCHEMA}, public")
    for view in reversed(NEW_VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {view}")
    op.execute("DROP VIEW rpt_province_summary")
    summary = _view("rpt_province_summary.v1.sql")
    if _postgres():
        op.execute(_view("reporting/person.v1.sql"))
        summary = summary.replace("CREATE VIEW rpt_province_summary",
                                  f"CREATE VIEW {REPORTING_SCHEMA}.rpt_province_summary")
    op.execute(summary)
    op.drop_table("suspected_id_typo")
    op.drop_index("ix_suspected_duplicate_pair_r", table_name="suspected_duplicate_pair")
    op.drop_table("suspected_duplicate_pair")
    op.drop_table("match_run")
    with op.batch_alter_table("person") as batch:
        batch.drop_column("suspected_duplicate")
