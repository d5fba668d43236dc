"""`glengarry apikey`: keys for the operations API, with a scope and maybe one connection."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.table import Table

from app.apikeys import create_key, list_keys, revoke_key
from app.audit import cli_actor, record
from app.cli import context

apikey_cli = typer.Typer(help="API keys for the operations API.", no_args_is_help=True)


@apikey_cli.command("create")
def create(
    name: str = typer.Option(..., "--name", help="How the key is listed and audited."),
    scope: str = typer.Option(
        ..., "--scope", help="read: sees; operate: syncs and retries too; admin: everything."
    ),
    connection: str | None = typer.Option(
        None, "--connection", help="Bind the key to this connection: every other is a 404."
    ),
) -> None:
    """Make a key and print it, this once: only a salted hash of it is stored."""
    runtime = context.runtime()
    now = runtime.clock.now()
    with runtime.sessions.begin() as session:
        key, view = create_key(session, name=name, scope=scope, connection=connection, now=now)
        record(
            session,
            actor=cli_actor(),
            action="apikey.create",
            at=now,
            connection=view.connection,
            target=view.name,
            details={"scope": view.scope},
        )
    typer.echo(json.dumps({**view.as_json(), "key": key}))
    typer.echo("The key is shown this once; store it now.", err=True)


@apikey_cli.command("list")
def list_command() -> None:
    """Every key (never its value): JSON lines, or a table on a terminal."""
    runtime = context.runtime()
    with runtime.sessions() as session:
        views = list_keys(session)
    if not sys.stdout.isatty():
        for view in views:
            typer.echo(json.dumps(view.as_json()))
        return
    table = Table("name", "scope", "connection", "created", "last used", "revoked")
    for view in views:
        shown = view.as_json()
        table.add_row(
            *(str(shown[k] or "") for k in ("name", "scope", "connection")),
            *((str(shown[k] or "")[:19]) for k in ("created_at", "last_used_at", "revoked_at")),
        )
    Console().print(table)


@apikey_cli.command("revoke")
def revoke(name: str = typer.Argument(..., help="The key's name.")) -> None:
    """Revoke a key at once: its next request is a 401."""
    runtime = context.runtime()
    now = runtime.clock.now()
    with runtime.sessions.begin() as session:
        view = revoke_key(session, name, now)
        record(
            session,
            actor=cli_actor(),
            action="apikey.revoke",
            at=now,
            connection=view.connection,
            target=view.name,
        )
    typer.echo(json.dumps(view.as_json()))
