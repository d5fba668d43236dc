"""Migrations and models agree, on this pass's database; downgrades work; newer schemas refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


ROOT = Path(__file__).resolve().parents[2]


def _alembic(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`alembic` as its users run it, from the checkout, with only Glengarry's settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GLENGARRY_")}
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_alembic_itself_migrates_the_database_the_settings_name(
    blank_engine: Engine, tmp_path: Path
) -> None:
    url = blank_engine.url.render_as_string(hide_password=False)
    upgraded = _alembic("upgrade", "head", GLENGARRY_DATABASE_URL=url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert current_revision(blank_engine) == head_revision()
    current = _alembic("current", GLENGARRY_DATABASE_URL=url)
    assert current.stdout.strip() == f"{head_revision()} (head)"
    # Without a URL: the embedded default, the SQLite file in the data directory.
    data = tmp_path / "data"
    default = _alembic("upgrade", "head", GLENGARRY_DATA_DIR=str(data))
    assert default.returncode == 0, default.stderr
    assert (data / "glengarry.db").exists()
    assert _alembic("current", GLENGARRY_DATA_DIR=str(data)).stdout.strip().endswith("(head)")
