"""Incremental resolve and publish: national IDs waiting for their person row, and a record of publishes.

``person_pending`` holds the national IDs whose person row must be recomputed:
each file's transaction adds the IDs of the records it brings and of the
records it replaces, and the resolve stage recomputes only those persons and
empties it. ``publish_run`` remembers what each publish saw, so that a run
with nothing new leaves people, matches and reports as they are, and a run
under other rules (person SQL, matching model or settings) recomputes everyone. On
PostgreSQL both land in ``personal`` with the rest of the pipeline's bookkeeping.

Every ID already in the warehouse starts pending: the first resolve after the
upgrade recomputes everyone once.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_pending",
        sa.Column("national_id", sa.String(10), nullable=False,
                  comment="a national ID whose person row is recomputed by the next resolve (may repeat)"),
        comment="national IDs with records added or changed since the last resolve (bookkeeping; a log"
                " without a key, so that loads append to it cheaply and never conflict)",
    )
    op.create_table(
        "publish_run",
        sa.Column("publish_run_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True, comment="numbers the publishes"),
        sa.Column("run_id", sa.Text, nullable=False, comment="the pipeline run that published"),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False, comment="when it published"),
        sa.Column("files", sa.BigInteger, nullable=False, comment="rows of ingest_file it saw"),
        sa.Column("last_file_id", sa.BigInteger, nullable=False, comment="the largest file_id it saw (0: none)"),
        sa.Column("rules", sa.String(64), nullable=False,
                  comment="fingerprint of the person rules, the matching model and its settings it used"),
        sa.Column("persons", sa.BigInteger, nullable=False, comment="persons after its resolve"),
        sa.Column("persons_recomputed", sa.BigInteger, nullable=False,
                  comment="person rows its resolve recomputed (the pending national IDs)"),
        comment="one row per publish: what it saw, so that a run with nothing new publishes nothing again",
    )
    op.execute(
        "INSERT INTO person_pending (national_id)"
        " SELECT national_id FROM registration UNION SELECT national_id FROM loan"
        " UNION SELECT national_id FROM training_enrollment"
    )


def downgrade() -> None:
    op.drop_table("publish_run")
    op.drop_table("person_pending")
