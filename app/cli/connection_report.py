"""What `connect` and `connections update` print: the result, and what the admin must do next."""

from __future__ import annotations

import json

import typer

from app.cli import context
from app.connections import FieldsInConflict, UpdateResult, conflict_advice, conflicts
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
        raise FieldsInConflict(conflict_advice(connection.name, found))


def warn_without_client_secret(name: str) -> None:
    """Without the app's client secret no webhook can be verified: every one is refused."""
    if context.settings().hubspot_app_client_secret is not None:
        shared = " (unless the app sends them to /webhooks/hubspot, which verifies them with "
        shared += "GLENGARRY_HUBSPOT_APP_CLIENT_SECRET)"
    else:
        shared = ""
    typer.echo(
        f"warning: no --client-secret (or GLENGARRY_CLIENT_SECRET): webhooks to "
        f"/webhooks/hubspot/{name} will be refused with 401{shared}; add it with "
        f"`glengarry connections update {name} --client-secret -`",
        err=True,
    )
