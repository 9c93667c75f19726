"""An index on the file and line of each refused row's keys.

The matching stage finds a refused row's keys by its file and line: the new refused rows
(``NOT EXISTS`` in etl/matching/inputs.py) and the suspected ID typos to link again
(etl/suspects.py). PostgreSQL hashes those joins; SQLite looked each row up by scanning
``match_refused``: 16 s of a daily increment's matching on a national warehouse.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ux_match_refused_line", "match_refused", ["file_id", "line_number"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_match_refused_line", table_name="match_refused")
