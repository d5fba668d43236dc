"""Schema migrations: Alembic driven from code, so that an installed wheel can migrate too."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

import migrations
from app.db import check_reachable
from app.errors import DatabaseError

MIGRATIONS_DIR = Path(migrations.__file__).parent


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _refuse_newer_schema(engine: Engine) -> None:
    current = current_revision(engine)
    known = {rev.revision for rev in ScriptDirectory.from_config(_config()).walk_revisions()}
    if current is not None and current not in known:
        raise DatabaseError(
            f"the database schema is at revision {current}, which this Glengarry does not know "
            f"(its newest is {head_revision()}): the database was migrated by a newer version; "
            "upgrade Glengarry instead"
        )


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations in one transaction: on failure nothing is half-applied."""
    check_reachable(engine)
    _refuse_newer_schema(engine)
    with engine.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    check_reachable(engine)
    _refuse_newer_schema(engine)
    with engine.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def revision_autogenerate(engine: Engine, message: str) -> None:
    """For developers: write a new revision from the difference between models and schema."""
    with engine.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)


def ensure_current(engine: Engine, *, auto_upgrade: bool) -> None:
    """Make sure the schema is the newest: upgrade the embedded default, else say what to run."""
    check_reachable(engine)
    _refuse_newer_schema(engine)
    current = current_revision(engine)
    if current == head_revision():
        return
    if auto_upgrade:
        upgrade(engine)
        return
    raise DatabaseError(
        f"the database schema is at {current or 'no revision'}, not {head_revision()}: "
        "run `glengarry db upgrade` first"
    )
