"""conversation_copies and conversation_marks: messages <-> comments, each copied once

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation_copies",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("submission_code", sa.String(length=100), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=128), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("copy_id", sa.String(length=128), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "submission_code", "origin", "source_id", "audience", name="uq_conversation_copy"
        ),
        sa.UniqueConstraint("ref", name="uq_conversation_copy_ref"),
    )
    op.create_index(
        "ix_conversation_copies_submission_code", "conversation_copies", ["submission_code"]
    )
    op.create_table(
        "conversation_marks",
        sa.Column("submission_code", sa.String(length=100), primary_key=True),
        sa.Column("intigriti_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("jira_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("messages_since", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("conversation_marks")
    op.drop_index("ix_conversation_copies_submission_code", table_name="conversation_copies")
    op.drop_table("conversation_copies")
