"""`glengarry connect {kind}`: store a connection, read its account id, install the fields.

One command per CRM in the registry, its options declared by the CRM's package."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import typer

from app.audit import cli_actor
from app.cli import context
from app.cli.connection_report import echo_update, refuse_conflicts, warn
from app.cli.options import command, given
from app.cli.secrets import ask, read_secret
from app.connections import (
    ConnectionUpdate,
    UnknownConnection,
    connect,
    find,
    realtime_setup,
    update_connection,
)
from app.crms import REGISTRY
from app.errors import InputError
from connectors.crm import CliOption, CredentialsError, Crm, NewSettings

connect_cli = typer.Typer(help="Connect a CRM account.", no_args_is_help=True)

_NAME = CliOption(
    "name", "--name", "A name for this connection (letters, digits, - and _).", required=True
)
_REINSTALL = CliOption(
    "reinstall",
    "--reinstall",
    "The connection exists: check its fields again (after fixing a conflict), with "
    "any credentials given here replacing the stored ones.",
    type=bool,
    default=False,
)


def read_secrets(crm_options: Mapping[str, CliOption], values: dict[str, Any]) -> None:
    """Secret options' values read (`-`: from stdin) and kept out of every log line."""
    for name, option in crm_options.items():
        if option.secret:
            values[name] = read_secret(values.get(name), option.flag)


async def prepared(
    crm: Crm, values: dict[str, Any], stored_options: Mapping[str, Any]
) -> dict[str, Any]:
    """The values completed by the CRM (an OAuth code exchanged), secrets it returned kept out
    of the logs too."""
    try:
        done = await crm.prepare(values, stored_options)
    except CredentialsError as exc:
        raise InputError(str(exc)) from None
    for option in crm.connect_options:
        if option.secret and done.get(option.name) != values.get(option.name):
            read_secret(done.get(option.name), option.flag)  # registers it for scrubbing
    return done


def settings_of(crm: Crm, values: Mapping[str, Any], *, new: bool) -> NewSettings:
    try:
        return crm.settings(values, new=new)
    except CredentialsError as exc:
        raise InputError(str(exc)) from None


def _stored_options(name: str) -> dict[str, Any] | None:
    """The options of the connection of that name, or None when there is none."""
    with context.sessions()() as session:
        try:
            return dict(find(session, name).options)
        except UnknownConnection:
            return None


def _connect(crm: Crm, ctx: typer.Context, **values: Any) -> None:
    name: str = values.pop("name")
    reinstall: bool = values.pop("reinstall")
    options = {o.name: o for o in crm.connect_options}
    read_secrets(options, values)
    stored_options = _stored_options(name) if reinstall else None
    existing = stored_options is not None
    if not existing:  # a new connection: ask at a terminal for what was given no other way
        for option, question, optional in crm.questions(values):
            if values.get(option.name) is None:
                values[option.name] = ask(option, question, optional=optional)
    values = asyncio.run(prepared(crm, values, stored_options or {}))
    if existing:
        # Settings change only when given: their defaults are a new connection's.
        chosen = {k: v for k, v in values.items() if options[k].secret or given(ctx, k)}
        update = settings_of(crm, chosen, new=False)
        change = ConnectionUpdate(
            update.secrets, update.options, update.budget_share, True, actor=cli_actor()
        )
        result = asyncio.run(update_connection(context.runtime(), name, change))
        echo_update(result)
        refuse_conflicts(result.connection)
        return
    new = settings_of(crm, values, new=True)
    connected = asyncio.run(
        connect(
            context.runtime(),
            crm,
            name=name,
            secrets=new.secrets,
            options=new.options,
            budget_share=new.budget_share,
            install=new.install,
        )
    )
    connection = connected.connection
    body: dict[str, Any] = {"connection": name, crm.account_key: connection.account_id}
    body["fields"] = {f.name: f.state.value for f in connected.fields}
    body.update(connected.summary)
    body["unavailable"] = dict(connected.unavailable)
    body["realtime"] = realtime_setup(context.runtime(), connection)
    typer.echo(json.dumps(body))
    warn(crm.webhook_hint(name, new.secrets, _app_secret_set(crm)))
    for kind, why in sorted(connected.unavailable.items()):
        # The sync goes on without them; the report says so in words, never as a zero.
        warn(f"warning: {name} cannot read {kind}: {why}")
    refuse_conflicts(connection)


def _app_secret_set(crm: Crm) -> bool:
    setting = crm.shared_app_setting
    return bool(setting) and getattr(context.settings(), setting) is not None


def _register(crm: Crm) -> None:
    def body(ctx: typer.Context, **values: Any) -> None:
        _connect(crm, ctx, **values)

    doc = (
        f"Store a {crm.label} connection (secrets encrypted), read its {crm.account_noun} id and "
        "install the fields.\n\nExits 3 when a field Glengarry needs exists in "
        f"{crm.label} with another definition: the connection is stored, nothing is written "
        f"to {crm.label} until `--reinstall` finds it fixed."
    )
    options = [_NAME, *crm.connect_options, _REINSTALL]
    connect_cli.command(crm.kind)(command(body, options, name=crm.kind, doc=doc))


for _crm in REGISTRY:
    _register(_crm)
