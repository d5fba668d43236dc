"""The capacity bar, recomputed on a schedule, beside its criteria version.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on PostgreSQL, JSON text on SQLite (as app.models.base.JSONType).
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("criteria_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("capacity_bar", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("criteria_versions", schema=None) as batch_op:
        batch_op.drop_column("capacity_bar")
