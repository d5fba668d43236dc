"""`glengarry connect hubspot`: store a connection, read its portal id, install the fields."""

from __future__ import annotations

import asyncio
import json

import typer

from app.cli import context
from app.connections import HUBSPOT_API, HubSpotCredentials, connect_hubspot
from app.errors import InputError
from app.logging import register_secret
from connectors.base import FieldState
from connectors.errors import AuthError
from connectors.hubspot.auth import exchange_code
from connectors.hubspot.limits import AppType
from connectors.hubspot.webhook import SignatureVersion

connect_cli = typer.Typer(help="Connect a CRM account.", no_args_is_help=True)


@connect_cli.command("hubspot")
def hubspot(
    name: str = typer.Option(..., help="A name for this connection (letters, digits, - and _)."),
    token: str | None = typer.Option(None, help="Private app access token."),
    oauth_client_id: str | None = typer.Option(None, help="OAuth app client id."),
    oauth_client_secret: str | None = typer.Option(None, help="OAuth app client secret."),
    refresh_token: str | None = typer.Option(None, help="OAuth refresh token of the portal."),
    oauth_code: str | None = typer.Option(
        None,
        help="OAuth authorization code from the install redirect (instead of a refresh token).",
    ),
    redirect_uri: str | None = typer.Option(
        None, help="The redirect URI the authorization code was issued for."
    ),
    client_secret: str | None = typer.Option(
        None, help="The app's client secret: verifies webhook signatures."
    ),
    webhook_signature: SignatureVersion = typer.Option(
        SignatureVersion.V3, help="Signature version the app's webhooks use."
    ),
    base_url: str = typer.Option(HUBSPOT_API, help="API base URL (a sandbox's, for tests)."),
    app_type: AppType = typer.Option(AppType.PRIVATE_PRO, help="Sets the rate limits to respect."),
    budget_share: float | None = typer.Option(
        None, min=0.01, max=1.0, help="Share of the daily API allocation this connection may use."
    ),
) -> None:
    """Store the connection (secrets encrypted), read the portal id and install the fields."""
    for secret in (token, oauth_client_secret, refresh_token, client_secret, oauth_code):
        if secret:
            register_secret(secret)
    if oauth_code is not None:
        if refresh_token or not (oauth_client_id and oauth_client_secret and redirect_uri):
            raise InputError(
                "--oauth-code needs --oauth-client-id, --oauth-client-secret and --redirect-uri, "
                "and no --refresh-token"
            )
        try:
            refresh_token = asyncio.run(
                exchange_code(
                    base_url=base_url,
                    client_id=oauth_client_id,
                    client_secret=oauth_client_secret,
                    code=oauth_code,
                    redirect_uri=redirect_uri,
                )
            )
        except AuthError as exc:
            raise InputError(str(exc)) from None
        register_secret(refresh_token)
    credentials = HubSpotCredentials(
        token, oauth_client_id, oauth_client_secret, refresh_token, client_secret
    )
    credentials.validate()
    connection, report = asyncio.run(
        connect_hubspot(
            context.runtime(),
            name=name,
            credentials=credentials,
            base_url=base_url,
            app_type=app_type,
            signature=webhook_signature,
            budget_share=budget_share,
        )
    )
    fields = {f.name: f.state.value for f in report}
    typer.echo(
        json.dumps({"connection": name, "portal_id": connection.account_id, "fields": fields})
    )
    for field in report:
        if field.state is FieldState.CONFLICT:
            typer.echo(f"warning: {field.name}: {field.detail}", err=True)
