"""`glengarry connections`: list connections, change them, switch their write-back on or off."""

from __future__ import annotations

import asyncio
import json

import typer
from sqlalchemy import select

from app.cli import context
from app.cli.connect import exchanged_refresh_token
from app.cli.connection_report import echo_update, refuse_conflicts
from app.cli.secrets import ENVIRONMENT, read_secret, secret_option
from app.connections import (
    ConnectionUpdate,
    HubSpotCredentials,
    conflicts,
    find,
    update_hubspot,
    vault_credentials,
)
from app.errors import SecretKeyError
from app.models import Connection, SyncCursor
from connectors.hubspot.limits import AppType
from connectors.hubspot.webhook import SignatureVersion

connections_cli = typer.Typer(help="Inspect and configure connections.", no_args_is_help=True)


@connections_cli.command("list")
def list_connections() -> None:
    """One JSON line per connection: kind, portal, fields (and conflicts), writes, cursor."""
    runtime = context.runtime()
    with runtime.sessions() as session:
        for connection in session.scalars(select(Connection).order_by(Connection.name)):
            cursor = session.get(SyncCursor, (connection.id, "contacts"))
            try:
                verified: bool | None = bool(
                    vault_credentials(runtime.vault, connection).get("app_client_secret")
                )
            except SecretKeyError:  # listing works without the key; this one fact is unknown
                verified = None
            typer.echo(
                json.dumps(
                    {
                        "name": connection.name,
                        "kind": connection.kind,
                        "account_id": connection.account_id,
                        "fields": connection.field_state,
                        "conflicts": conflicts(connection),
                        "webhooks_verified": verified,
                        "writes_enabled": connection.writes_enabled,
                        "api_budget_share": connection.api_budget_share,
                        "cursor": cursor.cursor if cursor else None,
                    }
                )
            )


# Secret parameters -> the stored credential each one sets.
_SECRETS = {
    "token": ("--token", "token"),
    "client_secret": ("--client-secret", "app_client_secret"),
    "oauth_client_secret": ("--oauth-client-secret", "oauth_client_secret"),
    "refresh_token": ("--refresh-token", "refresh_token"),
    "oauth_code": ("--oauth-code", "refresh_token"),
}


@connections_cli.command("update")
def update(
    ctx: typer.Context,
    connection: str = typer.Argument(..., help="Connection name or id."),
    token: str | None = secret_option("--token", "A new private app access token."),
    oauth_client_id: str | None = typer.Option(None, help="A new OAuth app client id."),
    oauth_client_secret: str | None = secret_option(
        "--oauth-client-secret", "A new OAuth app client secret."
    ),
    refresh_token: str | None = secret_option("--refresh-token", "A new OAuth refresh token."),
    oauth_code: str | None = secret_option(
        "--oauth-code", "An OAuth authorization code (exchanged for a new refresh token)."
    ),
    redirect_uri: str | None = typer.Option(
        None, help="The redirect URI the authorization code was issued for."
    ),
    client_secret: str | None = secret_option(
        "--client-secret", "The app's client secret: verifies webhook signatures."
    ),
    webhook_signature: SignatureVersion | None = typer.Option(
        None, help="Signature version the app's webhooks use."
    ),
    base_url: str | None = typer.Option(None, help="API base URL (a sandbox's, for tests)."),
    app_type: AppType | None = typer.Option(None, help="Sets the rate limits to respect."),
    budget_share: float | None = typer.Option(
        None, min=0.01, max=1.0, help="Share of the daily API allocation this connection may use."
    ),
    reinstall: bool = typer.Option(
        False, "--reinstall", help="Check the fields again and install what is missing."
    ),
) -> None:
    """Change credentials and settings of a connection; only what is given changes.

    New access credentials must reach the same portal. Exits 3 when `--reinstall` still finds a
    property in conflict (nothing is written to the CRM until it is fixed)."""
    token = read_secret(token, "--token")
    oauth_client_secret = read_secret(oauth_client_secret, "--oauth-client-secret")
    refresh_token = read_secret(refresh_token, "--refresh-token")
    code = read_secret(oauth_code, "--oauth-code")
    client_secret = read_secret(client_secret, "--client-secret")
    runtime = context.runtime()
    if code is not None:
        with runtime.sessions() as session:
            stored = find(session, connection).options.get("base_url", "")
        refresh_token = exchanged_refresh_token(
            base_url=base_url or str(stored),
            client_id=oauth_client_id,
            client_secret=oauth_client_secret,
            code=code,
            redirect=redirect_uri,
            refresh_token=refresh_token,
        )
    change = ConnectionUpdate(
        credentials=HubSpotCredentials(
            token, oauth_client_id, oauth_client_secret, refresh_token, client_secret
        ),
        base_url=base_url,
        app_type=app_type,
        signature=webhook_signature,
        budget_share=budget_share,
        reinstall=reinstall,
    )
    result = asyncio.run(update_hubspot(runtime, connection, change))
    # Say which secrets came from the environment: an exported variable changes them too.
    from_env = {
        f"credentials.{stored}": ENVIRONMENT[flag]
        for param, (flag, stored) in _SECRETS.items()
        if getattr(ctx.get_parameter_source(param), "name", None) == "ENVIRONMENT"
    }
    result.changed[:] = [
        f"{name} (from {from_env[name]})" if name in from_env else name for name in result.changed
    ]
    echo_update(result)
    refuse_conflicts(result.connection)


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
