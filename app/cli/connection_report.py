"""What `connect` and `connections update` print: the result, and what the admin must do next."""

from __future__ import annotations

import json

import typer

from app.connections import FieldsInConflict, UpdateResult, conflict_advice, conflicts
from app.crms import crm_for
from app.models import Connection


def echo_update(result: UpdateResult) -> None:
    body: dict[str, object] = {"connection": result.connection.name, "changed": result.changed}
    if result.report is not None:
        body["fields"] = {f.name: f.state.value for f in result.report}
    typer.echo(json.dumps(body))


def refuse_conflicts(connection: Connection) -> None:
    """Exit non-zero, naming each conflicting property and the way out, if there is one."""
    found = conflicts(connection)
    if found:
        crm = crm_for(connection.kind)
        raise FieldsInConflict(conflict_advice(crm, connection.name, found))


def warn(message: str) -> None:
    if message:
        typer.echo(message, err=True)
