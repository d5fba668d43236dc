"""At most one active criteria version, enforced by the database: a partial unique index over
the active rows. Concurrent activations on PostgreSQL could leave several active; of those, the
one activated last stays active (the last activation is what its operator saw succeed).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-14 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

versions = sa.table(
    "criteria_versions",
    sa.column("id", sa.Integer),
    sa.column("active", sa.Boolean),
    sa.column("activated_at", sa.DateTime),
)


def upgrade() -> None:
    latest = (
        sa.select(versions.c.id)
        .where(versions.c.active.is_(True))
        .order_by(versions.c.activated_at.desc().nulls_last(), versions.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    op.execute(
        sa.update(versions)
        .where(versions.c.active.is_(True), versions.c.id != latest)
        .values(active=False)
    )
    op.create_index(
        "uq_criteria_versions_one_active",
        "criteria_versions",
        ["active"],
        unique=True,
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )


def downgrade() -> None:
    op.drop_index("uq_criteria_versions_one_active", table_name="criteria_versions")
