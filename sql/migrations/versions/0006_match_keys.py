"""Incremental matching: comparison keys kept in the warehouse, and the national IDs waiting for a match.

``match_identity`` holds the comparison and blocking keys of every identity row
(etl/matching/prepare.py), ``match_refused`` those of every row refused only for
``invalid_national_id``, and ``match_pending`` the national IDs whose person was
recomputed since the last published match (the resolve stage appends them). The
matching stage recomputes the keys of the pending IDs and scores only the pairs
with a pending side, instead of every person on every run (etl/suspects.py). On
PostgreSQL the three land in ``personal``: they hold names and birth dates.

Every ID already in the warehouse starts pending: the first match after the
upgrade builds the keys and scores everyone once.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

KEYS = (
    ("first_key", "first name as compared (etl.persian.name_key)"),
    ("first_given", "'1' when the first name is a common given name"),
    ("last_key", "last name as compared"),
    ("father_key", "father's name as compared"),
    ("father_given", "'1' when the father's name is a common given name"),
    ("birth_date", "birth date, ISO text"),
    ("birth_jalali", "birth date, Jalali text YYYY-MM-DD"),
    ("mobile", "mobile, 11 digits"),
    ("county_key", "county as compared"),
    ("id_digits", "the national ID's digits as sent"),
    ("id_padded", "the digits with leading zeros restored when 8 or 9 were sent"),
)
PERSON_BLOCKS = ("bk_last_birth", "bk_first_father_birth", "bk_mobile", "bk_names_year", "bk_names_day")
REFUSED_BLOCKS = ("id_head", "id_tail", "id_ends", "id_head_sent")


def _keys() -> list[sa.Column]:
    return [sa.Column(name, sa.Text, comment=comment) for name, comment in KEYS]


def _blocks(names: tuple[str, ...]) -> list[sa.Column]:
    return [sa.Column(name, sa.Text, comment="blocking key, before the cap on its block size") for name in names]


def upgrade() -> None:
    op.create_table(
        "match_pending",
        sa.Column("national_id", sa.String(10), nullable=False,
                  comment="a national ID whose matches the next matching run recomputes (may repeat)"),
        comment="national IDs recomputed by a resolve since the last published match (bookkeeping, a log)",
    )
    op.create_table(
        "match_identity",
        sa.Column("unique_id", sa.Text, primary_key=True, comment="national ID, '#' and the identity's rank"),
        sa.Column("national_id", sa.String(10), nullable=False),
        sa.Column("province_code", sa.Text),
        *_keys(),
        *_blocks(PERSON_BLOCKS + REFUSED_BLOCKS),
        comment="comparison and blocking keys of each identity row (one per national ID and distinct identity)",
    )
    op.create_index("ix_match_identity_national_id", "match_identity", ["national_id"])
    op.create_table(
        "match_refused",
        sa.Column("unique_id", sa.Text, primary_key=True, comment="file_id ':' line_number"),
        sa.Column("file_id", sa.BigInteger, nullable=False),
        sa.Column("line_number", sa.Integer, nullable=False),
        sa.Column("province_code", sa.Text),
        sa.Column("source", sa.Text),
        sa.Column("national_id", sa.Text, comment="the national ID as sent"),
        *_keys(),
        *_blocks(("bk_last_birth", *REFUSED_BLOCKS)),
        comment="comparison and blocking keys of each row refused only for invalid_national_id",
    )
    op.execute(
        "INSERT INTO match_pending (national_id)"
        " SELECT national_id FROM person UNION SELECT national_id FROM person_pending"
    )


def downgrade() -> None:
    op.drop_table("match_refused")
    op.drop_index("ix_match_identity_national_id", table_name="match_identity")
    op.drop_table("match_identity")
    op.drop_table("match_pending")
