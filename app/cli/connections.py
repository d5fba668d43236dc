"""`glengarry connections`: list connections, change them, switch their write-back on or off."""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import cli_actor, record
from app.cli import context
from app.cli.connect import prepared, read_secrets, settings_of
from app.cli.connection_report import echo_update, refuse_conflicts
from app.cli.operations import run_row, show_one, show_rows
from app.cli.options import command, from_environment, given, union
from app.connection_health import health_of
from app.connection_settings import delete_connection, parse_interval, set_paused, set_writes
from app.connections import (
    ConnectionUpdate,
    conflicts,
    find,
    realtime_setup,
    update_connection,
    vault_credentials,
    webhook_source,
)
from app.crms import REGISTRY, crm_for
from app.errors import InputError, SecretKeyError
from app.models import Connection, SyncCursor, SyncRun
from app.runtime import Runtime
from connectors.crm import CliOption
from connectors.errors import ConnectorError

connections_cli = typer.Typer(help="Inspect and configure connections.", no_args_is_help=True)


def _cursor_at(connection: Connection, cursor: SyncCursor | None) -> str | None:
    """The stored cursor as the instant changes are read from (None: a full listing)."""
    if cursor is None or not cursor.cursor:
        return None
    try:
        moment = crm_for(connection.kind).cursor_at(cursor.cursor)
    except ConnectorError:  # the next sync says so; showing the connection must not fail
        return None
    return moment.isoformat() if moment else None


def _summary(runtime: Runtime, session: Session, connection: Connection) -> dict[str, Any]:
    cursor = session.get(SyncCursor, (connection.id, "contacts"))
    try:
        verified: bool | None = webhook_source(runtime, connection) is not None
    except SecretKeyError:  # listing works without the key; this one fact is unknown
        verified = None
    return {
        "name": connection.name,
        "kind": connection.kind,
        "account_id": connection.account_id,
        "fields": connection.field_state,
        "conflicts": conflicts(connection),
        "webhooks_verified": verified,
        "writes_enabled": connection.writes_enabled,
        "api_budget_share": connection.api_budget_share,
        "paused": connection.paused,
        "sync_interval_seconds": connection.sync_interval_seconds,
        "cursor": cursor.cursor if cursor else None,
        "cursor_at": _cursor_at(connection, cursor),
    }


@connections_cli.command("list")
def list_connections() -> None:
    """One JSON line per connection (a table on a terminal): kind, portal, fields (and
    conflicts), writes, cursor."""
    runtime = context.runtime()
    with runtime.sessions() as session:
        live = select(Connection).where(Connection.deleted_at.is_(None))
        rows = [
            json.loads(json.dumps(_summary(runtime, session, connection), default=str))
            for connection in session.scalars(live.order_by(Connection.name))
        ]
    show_rows(rows, LIST_COLUMNS)


# What a terminal's table of connections shows (the JSON lines carry everything).
LIST_COLUMNS = ("name", "kind", "account_id", "writes_enabled", "paused", "cursor_at")


LAST_RUNS = 5


@connections_cli.command("show")
def show(connection: str = typer.Argument(..., help="Connection name or id.")) -> None:
    """One connection (JSON; a table on a terminal): its settings, the cursor as a date, its
    health (as `GET /connections/{name}` shows it), its last runs, and what the admin sets up
    in the CRM for real time (its webhook or Outbound Message URL on GLENGARRY_PUBLIC_URL,
    with the exact values)."""
    runtime = context.runtime()
    now = runtime.clock.now()
    with runtime.sessions() as session:
        found = find(session, connection)
        body = _summary(runtime, session, found)
        body["health"] = health_of(session, runtime.settings, found, now).as_dict()
        body["last_runs"] = [
            run_row(run, now)
            for run in session.scalars(
                select(SyncRun)
                .where(SyncRun.connection_id == found.id)
                .order_by(SyncRun.id.desc())
                .limit(LAST_RUNS)
            )
        ]
        body["field_report"] = found.field_report or {}
        body["realtime"] = realtime_setup(runtime, found)
    show_one(json.loads(json.dumps(body, default=str)))  # dates as the JSON line has them


@connections_cli.command("rotate-token")
def rotate_token(connection: str = typer.Argument(..., help="Connection name or id.")) -> None:
    """A new webhook path token: the old URL is refused at once (update the CRM's Outbound
    Messages with the URL printed)."""
    runtime = context.runtime()
    with runtime.sessions.begin() as session:
        found = find(session, connection)
        crm = crm_for(found.kind)
        rotated = crm.rotated(vault_credentials(runtime.vault, found))
        if rotated is None:
            raise InputError(
                f"{crm.label} connections have no path token: their deliveries are signed"
            )
        found.credentials = runtime.vault.encrypt(rotated)
        # Audited with the rotation, in its transaction; the token itself is never logged.
        record(
            session,
            actor=cli_actor(),
            action="connection.rotate_token",
            at=runtime.clock.now(),
            connection=found.name,
        )
        session.flush()
        body = {"connection": found.name, "realtime": realtime_setup(runtime, found)}
    show_one(body)


_REINSTALL = CliOption(
    "reinstall",
    "--reinstall",
    "Check the fields again and install what is missing.",
    type=bool,
    default=False,
)
_SYNC_INTERVAL = CliOption(
    "sync_interval",
    "--sync-interval",
    "Its own scheduled-sync interval: 90s, 30m, 2h (60 s to 24 h).",
)
_CONNECTION = inspect.Parameter(
    "connection",
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
    default=typer.Argument(..., help="Connection name or id."),
    annotation=str,
)
# Every CRM's options, one parameter per flag: each connection reads those of its own CRM.
_OPTIONS = union([crm.update_options for crm in REGISTRY])


def _update(
    ctx: typer.Context,
    connection: str,
    reinstall: bool,
    sync_interval: str | None = None,
    **values: Any,
) -> None:
    interval = parse_interval(sync_interval) if sync_interval is not None else None
    runtime = context.runtime()
    with runtime.sessions() as session:
        found = find(session, connection)
        crm, stored_options = crm_for(found.kind), dict(found.options)
    own = {o.name: o for o in crm.update_options}
    foreign = [o.flag for o in _OPTIONS if o.name not in own and given(ctx, o.name)]
    if foreign:
        raise InputError(
            f"{', '.join(foreign)}: not an option of {crm.label} connections "
            f"(theirs: {', '.join(o.flag for o in crm.update_options)})"
        )
    values = {k: v for k, v in values.items() if k in own}
    read_secrets(own, values)
    values = asyncio.run(prepared(crm, values, stored_options))
    chosen = settings_of(crm, values, new=False)
    change = ConnectionUpdate(
        chosen.secrets,
        chosen.options,
        chosen.budget_share,
        reinstall,
        sync_interval_seconds=interval,
        actor=cli_actor(),
    )
    result = asyncio.run(update_connection(runtime, connection, change))
    # Say which secrets came from the environment: an exported variable changes them too.
    from_env = {
        f"credentials.{option.stores}": option.envvar
        for option in own.values()
        if option.secret and option.stores and from_environment(ctx, option.name)
    }
    result.changed[:] = [
        f"{name} (from {from_env[name]})" if name in from_env else name for name in result.changed
    ]
    echo_update(result)
    refuse_conflicts(result.connection)


connections_cli.command("update")(
    command(
        _update,
        [*_OPTIONS, _REINSTALL, _SYNC_INTERVAL],
        name="update",
        leading=[_CONNECTION],
        doc="""Change credentials and settings of a connection; only what is given changes.

    New access credentials must reach the same account. Exits 3 when `--reinstall` still finds
    a field in conflict (nothing is written to the CRM until it is fixed).""",
    )
)


@connections_cli.command("writes")
def writes(
    connection: str = typer.Argument(..., help="Connection name or id."),
    enabled: bool = typer.Option(..., "--on/--off", help="Write qualifications back, or not."),
) -> None:
    """Switch the write-back on or off (scoring goes on either way)."""
    runtime = context.runtime()
    with runtime.sessions.begin() as session:
        found = find(session, connection)
        set_writes(session, found, enabled, actor=cli_actor(), at=runtime.clock.now())
        name, connection_id = found.name, found.id
    if enabled:
        try:  # what waited while writes were off goes out now
            runtime.wake.relay(connection_id)
        except Exception as exc:  # the sweeper finds the due rows within a minute
            typer.echo(
                f"could not wake the relay ({type(exc).__name__}); the sweeper will", err=True
            )
    show_one({"name": name, "writes_enabled": enabled})


def _pause(connection: str, paused: bool) -> None:
    runtime = context.runtime()
    with runtime.sessions.begin() as session:
        found = find(session, connection)
        set_paused(session, found, paused, actor=cli_actor(), at=runtime.clock.now())
        body = {"name": found.name, "paused": paused}
        connection_id = found.id
    if not paused:
        try:  # the webhook events stored and the writes held while paused go now
            runtime.wake.inbox(connection_id)
            runtime.wake.relay(connection_id)
        except Exception as exc:  # the sweeper finds them within a minute
            typer.echo(
                f"could not wake the worker ({type(exc).__name__}); the sweeper will", err=True
            )
    show_one(body)


@connections_cli.command("pause")
def pause(connection: str = typer.Argument(..., help="Connection name or id.")) -> None:
    """No scheduled or requested sync and no webhook processing until resumed; webhooks are
    still accepted and stored."""
    _pause(connection, True)


@connections_cli.command("resume")
def resume(connection: str = typer.Argument(..., help="Connection name or id.")) -> None:
    """Scheduled syncs again; the webhook events stored meanwhile are processed."""
    _pause(connection, False)


@connections_cli.command("delete")
def delete(
    connection: str = typer.Argument(..., help="Connection name or id."),
    purge: bool = typer.Option(False, "--purge", help="Remove its stored data too."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Stop its work at once and forget it (webhooks to it are refused); its stored data is
    kept unless --purge, which removes all of it in one transaction."""
    runtime = context.runtime()
    with runtime.sessions() as session:
        name = find(session, connection).name
    if not yes:
        what = "and ALL its stored data " if purge else ""
        typer.confirm(f"delete connection {name!r} {what}?", abort=True)
    with runtime.sessions.begin() as session:
        found = find(session, connection)
        done = delete_connection(
            session, found, purge=purge, actor=cli_actor(), at=runtime.clock.now()
        )
    show_one({"name": done.name, "deleted": True, "purged": done.purged})
