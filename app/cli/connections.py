"""`glengarry connections`: list connections, switch their write-back on or off."""

from __future__ import annotations

import json

import typer
from sqlalchemy import select

from app.cli import context
from app.connections import find
from app.models import Connection, SyncCursor

connections_cli = typer.Typer(help="Inspect and configure connections.", no_args_is_help=True)


@connections_cli.command("list")
def list_connections() -> None:
    """One JSON line per connection: kind, portal, fields, writes, cursor."""
    with context.sessions()() as session:
        for connection in session.scalars(select(Connection).order_by(Connection.name)):
            cursor = session.get(SyncCursor, (connection.id, "contacts"))
            typer.echo(
                json.dumps(
                    {
                        "name": connection.name,
                        "kind": connection.kind,
                        "account_id": connection.account_id,
                        "fields": connection.field_state,
                        "writes_enabled": connection.writes_enabled,
                        "api_budget_share": connection.api_budget_share,
                        "cursor": cursor.cursor if cursor else None,
                    }
                )
            )


@connections_cli.command("writes")
def writes(
    connection: str = typer.Argument(..., help="Connection name or id."),
    enabled: bool = typer.Option(..., "--on/--off", help="Write qualifications back, or not."),
) -> None:
    """Switch the write-back on or off (scoring goes on either way)."""
    with context.sessions().begin() as session:
        found = find(session, connection)
        found.writes_enabled = enabled
        name = found.name
    typer.echo(json.dumps({"name": name, "writes_enabled": enabled}))
