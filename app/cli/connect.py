"""`glengarry connect hubspot`: store a connection, read its portal id, install the fields."""

from __future__ import annotations

import asyncio
import json

import typer

from app import connections
from app.cli import context
from app.connections import HUBSPOT_API, HubSpotCredentials
from app.errors import GlengarryError
from app.logging import register_secret
from app.models import Connection, CrmKind, FieldInstallState
from connectors.base import FieldState, FieldStatus
from connectors.errors import ConnectorError
from connectors.hubspot.limits import AppType
from connectors.hubspot.webhook import SignatureVersion
from qualification.statuses import Status

connect_cli = typer.Typer(help="Connect a CRM account.", no_args_is_help=True)


class ConnectFailed(GlengarryError):
    pass


def _install_state(report: list[FieldStatus]) -> FieldInstallState:
    if any(f.state is FieldState.CONFLICT for f in report):
        return FieldInstallState.CONFLICT
    return FieldInstallState.INSTALLED


@connect_cli.command("hubspot")
def hubspot(
    name: str = typer.Option(..., help="A name for this connection (letters, digits, - and _)."),
    token: str | None = typer.Option(None, help="Private app access token."),
    oauth_client_id: str | None = typer.Option(None, help="OAuth app client id."),
    oauth_client_secret: str | None = typer.Option(None, help="OAuth app client secret."),
    refresh_token: str | None = typer.Option(None, help="OAuth refresh token of the portal."),
    client_secret: str | None = typer.Option(
        None, help="The app's client secret: verifies webhook signatures."
    ),
    webhook_signature: SignatureVersion = typer.Option(
        SignatureVersion.V3, help="Signature version the app's webhooks use."
    ),
    base_url: str = typer.Option(HUBSPOT_API, help="API base URL (a sandbox's, for tests)."),
    app_type: AppType = typer.Option(AppType.PRIVATE_PRO, help="Sets the rate limits to respect."),
    budget_share: float = typer.Option(
        None, min=0.01, max=1.0, help="Share of the daily API allocation this connection may use."
    ),
) -> None:
    """Store the connection (secrets encrypted), read the portal id and install the fields."""
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ConnectFailed(f"--name {name!r}: use letters, digits, '-' and '_' only")
    for secret in (token, oauth_client_secret, refresh_token, client_secret):
        if secret:
            register_secret(secret)
    credentials = HubSpotCredentials(
        token, oauth_client_id, oauth_client_secret, refresh_token, client_secret
    )
    credentials.validate()
    runtime = context.runtime()
    share = budget_share if budget_share is not None else runtime.settings.api_budget_share
    with runtime.sessions.begin() as session:
        connection = connections.create_hubspot(
            session,
            runtime.vault,
            name=name,
            credentials=credentials,
            base_url=base_url,
            app_type=app_type,
            signature=webhook_signature,
            budget_share=share,
        )
        # The CRM is asked before anything is committed: a failed connect leaves nothing behind.
        portal, report = asyncio.run(_probe(connection))
        connection.account_id = portal
        connection.field_state = _install_state(report)
        connection.field_report = {f.name: {"state": f.state, "detail": f.detail} for f in report}
        duplicate = (
            session.query(Connection)
            .filter(Connection.kind == CrmKind.HUBSPOT, Connection.account_id == portal)
            .filter(Connection.id != connection.id)
            .first()
        )
        if duplicate is not None:
            raise ConnectFailed(f"portal {portal} is already connected as {duplicate.name!r}")
    typer.echo(
        json.dumps(
            {
                "connection": name,
                "portal_id": portal,
                "fields": {f.name: f.state.value for f in report},
            }
        )
    )
    for field in report:
        if field.state is FieldState.CONFLICT:
            typer.echo(f"warning: {field.name}: {field.detail}", err=True)


async def _probe(connection: Connection) -> tuple[str, list[FieldStatus]]:
    connector = connections.open_connector(context.runtime(), connection)
    try:
        portal = await connector.account_id()
        report = list(await connector.install_fields([s.value for s in Status]))
    except ConnectorError as exc:
        raise ConnectFailed(f"HubSpot refused the connection: {exc}") from None
    finally:
        await connector.aclose()
    return portal, report
