"""Sync cursors as text: a Salesforce cursor keeps one mark per stream (Lead, Contact, Task,
Event, CampaignMember) and outgrows 200 characters.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_cursors", schema=None) as batch_op:
        batch_op.alter_column(
            "cursor", existing_type=sa.String(200), type_=sa.Text(), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_cursors", schema=None) as batch_op:
        batch_op.alter_column(
            "cursor", existing_type=sa.Text(), type_=sa.String(200), existing_nullable=False
        )
