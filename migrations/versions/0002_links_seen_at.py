"""links: the updated_at of each side's version last reconciled

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("intigriti_seen_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("jira_seen_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_column("jira_seen_at")
        batch_op.drop_column("intigriti_seen_at")
