"""`glengarry connect hubspot`: store a connection, read its portal id, install the fields."""

from __future__ import annotations

import asyncio
import json

import typer

from app.cli import context
from app.cli.connection_report import echo_update, refuse_conflicts, warn_without_client_secret
from app.cli.secrets import ask, read_secret, secret_option
from app.connections import (
    HUBSPOT_API,
    ConnectionUpdate,
    HubSpotCredentials,
    UnknownConnection,
    conflicts,
    connect_hubspot,
    find,
    update_hubspot,
)
from app.errors import InputError
from connectors.errors import AuthError
from connectors.hubspot.auth import exchange_code
from connectors.hubspot.limits import AppType
from connectors.hubspot.webhook import SignatureVersion

connect_cli = typer.Typer(help="Connect a CRM account.", no_args_is_help=True)


def exchanged_refresh_token(
    *,
    base_url: str,
    client_id: str | None,
    client_secret: str | None,
    code: str,
    redirect: str | None,
    refresh_token: str | None,
) -> str:
    """The refresh token an OAuth authorization code is worth (the code is used up)."""
    if refresh_token or not (client_id and client_secret and redirect):
        raise InputError(
            "--oauth-code needs --oauth-client-id, --oauth-client-secret and --redirect-uri, "
            "and no --refresh-token"
        )
    try:
        token = asyncio.run(
            exchange_code(
                base_url=base_url,
                client_id=client_id,
                client_secret=client_secret,
                code=code,
                redirect_uri=redirect,
            )
        )
    except AuthError as exc:
        raise InputError(str(exc)) from None
    return read_secret(token, "--refresh-token") or token


def _stored_base_url(name: str) -> str | None:
    """The API base URL of the connection of that name, or None when there is none."""
    with context.sessions()() as session:
        try:
            return str(find(session, name).options.get("base_url", HUBSPOT_API))
        except UnknownConnection:
            return None


def _given(ctx: typer.Context, param: str) -> bool:
    """The option was given (command line or environment), not left at its default."""
    return getattr(ctx.get_parameter_source(param), "name", "DEFAULT") != "DEFAULT"


@connect_cli.command("hubspot")
def hubspot(
    ctx: typer.Context,
    name: str = typer.Option(..., help="A name for this connection (letters, digits, - and _)."),
    token: str | None = secret_option("--token", "Private app access token."),
    oauth_client_id: str | None = typer.Option(None, help="OAuth app client id."),
    oauth_client_secret: str | None = secret_option(
        "--oauth-client-secret", "OAuth app client secret."
    ),
    refresh_token: str | None = secret_option(
        "--refresh-token", "OAuth refresh token of the portal."
    ),
    oauth_code: str | None = secret_option(
        "--oauth-code",
        "OAuth authorization code from the install redirect (instead of a refresh token).",
    ),
    redirect_uri: str | None = typer.Option(
        None, help="The redirect URI the authorization code was issued for."
    ),
    client_secret: str | None = secret_option(
        "--client-secret", "The app's client secret: verifies webhook signatures."
    ),
    webhook_signature: SignatureVersion = typer.Option(
        SignatureVersion.V3, help="Signature version the app's webhooks use."
    ),
    base_url: str = typer.Option(HUBSPOT_API, help="API base URL (a sandbox's, for tests)."),
    app_type: AppType = typer.Option(AppType.PRIVATE_PRO, help="Sets the rate limits to respect."),
    budget_share: float | None = typer.Option(
        None, min=0.01, max=1.0, help="Share of the daily API allocation this connection may use."
    ),
    reinstall: bool = typer.Option(
        False,
        "--reinstall",
        help="The connection exists: check its fields again (after fixing a conflict), with "
        "any credentials given here replacing the stored ones.",
    ),
) -> None:
    """Store the connection (secrets encrypted), read the portal id and install the fields.

    Exits 3 when a property Glengarry needs exists in HubSpot with another definition: the
    connection is stored, nothing is written to HubSpot until `--reinstall` finds it fixed."""
    token = read_secret(token, "--token")
    oauth_client_secret = read_secret(oauth_client_secret, "--oauth-client-secret")
    refresh_token = read_secret(refresh_token, "--refresh-token")
    oauth_code = read_secret(oauth_code, "--oauth-code")
    client_secret = read_secret(client_secret, "--client-secret")
    stored_base_url = _stored_base_url(name) if reinstall else None
    existing = stored_base_url is not None
    if existing and not _given(ctx, "base_url"):
        base_url = stored_base_url or HUBSPOT_API
    oauth = any((oauth_client_id, oauth_client_secret, refresh_token, oauth_code))
    if not existing:  # a new connection: ask at a terminal for what was given no other way
        if not oauth and token is None:
            token = ask("--token", "Private app access token")
        if oauth and oauth_client_secret is None:
            oauth_client_secret = ask("--oauth-client-secret", "OAuth app client secret")
        if oauth and refresh_token is None and oauth_code is None:
            refresh_token = ask("--refresh-token", "OAuth refresh token")
        if client_secret is None:
            client_secret = ask(
                "--client-secret", "The app's client secret, to verify webhooks", optional=True
            )
    if oauth_code is not None:
        refresh_token = exchanged_refresh_token(
            base_url=base_url,
            client_id=oauth_client_id,
            client_secret=oauth_client_secret,
            code=oauth_code,
            redirect=redirect_uri,
            refresh_token=refresh_token,
        )
    if existing:
        # Settings change only when given: their defaults are a new connection's.
        update = ConnectionUpdate(
            credentials=HubSpotCredentials(
                token, oauth_client_id, oauth_client_secret, refresh_token, client_secret
            ),
            base_url=base_url,
            app_type=app_type if _given(ctx, "app_type") else None,
            signature=webhook_signature if _given(ctx, "webhook_signature") else None,
            budget_share=budget_share,
            reinstall=True,
        )
        result = asyncio.run(update_hubspot(context.runtime(), name, update))
        echo_update(result)
        refuse_conflicts(result.connection)
        return
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
    if client_secret is None:
        warn_without_client_secret(name)
    if conflicts(connection):
        refuse_conflicts(connection)
