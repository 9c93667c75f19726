"""Claims: which run is working on which file, so that concurrent runs never decide a file twice.

See etl/claims.py. Times are seconds since 1970 by the warehouse's clock.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "file_claim",
        sa.Column("claim_key", sa.Text, primary_key=True,
                  comment="file|province|source|sha256, path|relative path|sha256, or publish"),
        sa.Column("relative_path", sa.Text, comment="the claimed file's path under the ingest root"),
        sa.Column("run_id", sa.Text, nullable=False, comment="the run holding the claim"),
        sa.Column("holder", sa.Text, nullable=False, comment="the holding process: host|pid namespace|pid:start|nonce"),
        sa.Column("token", sa.String(32), nullable=False, comment="changes at every taking of the claim"),
        sa.Column("claimed_at", sa.Float, nullable=False, comment="when taken (epoch seconds, warehouse clock)"),
        sa.Column("heartbeat_at", sa.Float, nullable=False, comment="last refreshed by its holder (epoch seconds)"),
        comment="per-file claims of running pipelines (bookkeeping; empty between runs)",
    )


def downgrade() -> None:
    op.drop_table("file_claim")
