"""`glengarry db`: schema migrations."""

from __future__ import annotations

import typer

from app import migrate
from app.cli import context

db_cli = typer.Typer(help="Database schema: apply or inspect migrations.", no_args_is_help=True)


@db_cli.command("upgrade")
def upgrade(
    revision: str = typer.Argument("head", help="Target revision (default: the newest)."),
) -> None:
    """Apply migrations up to REVISION, in one transaction."""
    engine = context.engine()
    migrate.upgrade(engine, revision)
    typer.echo(f"database at revision {migrate.current_revision(engine)}")


@db_cli.command("downgrade")
def downgrade(revision: str = typer.Argument(..., help="Target revision, or `base`.")) -> None:
    """Revert migrations down to REVISION (`base` removes every table)."""
    engine = context.engine()
    migrate.downgrade(engine, revision)
    typer.echo(f"database at revision {migrate.current_revision(engine) or 'base'}")


@db_cli.command("current")
def current() -> None:
    """Print the database's revision and the newest one this version knows."""
    engine = context.engine()
    from app.db import check_reachable

    check_reachable(engine)
    typer.echo(
        f"database: {migrate.current_revision(engine) or 'empty'}; "
        f"newest: {migrate.head_revision()}"
    )
