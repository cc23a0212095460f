"""links: bases of the CVSS field and of the one-way fields (duplicate, payouts,
description, attachments)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = (
    ("base_cvss", sa.String(length=255)),
    ("base_duplicate", sa.String(length=100)),
    ("base_payouts", sa.String(length=255)),
    ("base_payout_total", sa.String(length=32)),
    ("base_description", sa.String(length=80)),
    ("base_attachments", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        for name, kind in COLUMNS:
            batch_op.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        for name, _kind in reversed(COLUMNS):
            batch_op.drop_column(name)
