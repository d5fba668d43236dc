"""Migrations and models agree, on this pass's database; downgrades work; newer schemas refused."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from app.errors import DatabaseError
from app.migrate import current_revision, downgrade, head_revision, upgrade
from app.models import Base


def test_upgrade_head_leaves_no_difference_between_models_and_schema(blank_engine: Engine) -> None:
    upgrade(blank_engine)
    with blank_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_upgrade_creates_every_model_table_and_downgrade_base_removes_them(
    blank_engine: Engine,
) -> None:
    upgrade(blank_engine)
    tables = set(inspect(blank_engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert current_revision(blank_engine) == head_revision()

    downgrade(blank_engine, "base")
    remaining = set(inspect(blank_engine).get_table_names()) - {"alembic_version"}
    assert remaining == set()
    assert current_revision(blank_engine) is None


def test_indexes_for_the_scheduled_queries_exist(blank_engine: Engine) -> None:
    upgrade(blank_engine)
    inspector = inspect(blank_engine)

    def indexed_columns(table: str) -> list[list[str | None]]:
        return [index["column_names"] for index in inspector.get_indexes(table)]

    assert ["next_change_at"] in indexed_columns("qualifications")
    assert ["processed_at", "received_at"] in indexed_columns("webhook_inbox")
    assert ["state", "next_attempt_at"] in indexed_columns("writeback_outbox")


def test_a_schema_migrated_by_a_newer_version_is_refused_and_left_alone(
    blank_engine: Engine,
) -> None:
    upgrade(blank_engine)
    with blank_engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'fffffffff999'"))

    with pytest.raises(DatabaseError, match="newer version"):
        upgrade(blank_engine)
    assert current_revision(blank_engine) == "fffffffff999"
