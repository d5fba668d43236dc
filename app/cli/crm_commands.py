"""`glengarry {kind} ...`: commands only one CRM has (Salesforce's `package`), declared by its
package and found in the registry."""

from __future__ import annotations

from typing import Any

import typer

from app.cli import context
from app.cli.options import command
from app.connections import find, stored
from app.crms import REGISTRY
from app.errors import InputError
from connectors.crm import Command, Crm


def _register(group: typer.Typer, crm: Crm, declared: Command) -> None:
    def body(**values: Any) -> None:
        ref = values.get(declared.connection_option or "")
        if declared.connection_option and ref is not None:
            runtime = context.runtime()
            with runtime.sessions() as session:
                found = find(session, ref)
                if found.kind != crm.kind:
                    raise InputError(f"connection {found.name!r} is not a {crm.label} connection")
                values[declared.connection_option] = stored(runtime, found)
            values["public_url"] = runtime.settings.public_url
        try:
            declared.run(values, typer.echo)
        except ValueError as exc:
            raise InputError(f"{crm.kind} {declared.name}: {exc}") from None

    run = command(body, declared.options, name=declared.name, doc=declared.help, with_context=False)
    group.command(declared.name)(run)


def groups() -> list[tuple[str, typer.Typer]]:
    """One command group per CRM that has commands of its own."""
    found = []
    for crm in REGISTRY:
        if not crm.commands:
            continue
        group = typer.Typer(help=f"Commands only {crm.label} has.", no_args_is_help=True)
        for declared in crm.commands:
            _register(group, crm, declared)
        found.append((crm.kind, group))
    return found
