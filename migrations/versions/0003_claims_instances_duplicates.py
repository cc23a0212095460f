"""claims on links, unmapped values, the instances registry, duplicate tags found in Jira

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("claim_instance", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("claim_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("unmapped", sa.Text(), nullable=True))

    op.create_table(
        "instances",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("command", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("role_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )

    op.create_table(
        "tag_duplicates",
        sa.Column("submission_code", sa.String(length=100), nullable=False),
        sa.Column("issue_keys", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("submission_code"),
    )


def downgrade() -> None:
    op.drop_table("tag_duplicates")
    op.drop_table("instances")
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_column("unmapped")
        batch_op.drop_column("claim_since")
        batch_op.drop_column("claim_instance")
        batch_op.drop_column("claim_token")
