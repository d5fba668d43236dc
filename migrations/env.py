"""Alembic environment: the connection `app.migrate` hands over, or the settings' database."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from app.models import Base

target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_from_settings() -> None:
    """`alembic` itself (alembic.ini): the database Glengarry's settings name."""
    from app.db import engine_from_settings
    from app.settings import load_settings

    settings = load_settings()
    if context.is_offline_mode():  # `alembic upgrade head --sql`: print the SQL, run nothing
        url = settings.effective_database_url
        context.configure(
            url=url,
            target_metadata=target_metadata,
            render_as_batch=url.startswith("sqlite"),
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_settings(settings)
    try:
        with engine.begin() as opened:  # one transaction, as `glengarry db upgrade` runs it
            run_migrations(opened)
    finally:
        engine.dispose()


# `glengarry db` (app.migrate) hands over its connection; `alembic` from the checkout does not.
connection = context.config.attributes.get("connection")
if connection is None:
    run_from_settings()
else:
    run_migrations(connection)
