"""CRM connections: stored with encrypted credentials, turned into connectors on demand.

This is the one place that knows which connector serves which CRM kind; everything after it
works through the connector protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import GlengarryError, InputError
from app.models import ApiUsage, Connection, CrmKind, FieldInstallState
from app.ratelimits import limiter_for
from app.runtime import Runtime
from app.vault import Vault
from connectors.base import Connector, FieldState, FieldStatus, WebhookSource
from connectors.errors import ConnectorError, CrmUnavailable
from connectors.http import RateLimiter, RetryPolicy, UsageRecorder
from connectors.hubspot.auth import OAuthRefresh, OAuthTokens, PrivateAppToken
from connectors.hubspot.client import HubSpotConnector, HubSpotOptions
from connectors.hubspot.limits import AppType
from connectors.hubspot.webhook import HubSpotWebhooks, SignatureVersion
from qualification.statuses import Status

HUBSPOT_API = "https://api.hubapi.com"


class UnknownConnection(GlengarryError):
    exit_code = 2


@dataclass(frozen=True)
class HubSpotCredentials:
    token: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    refresh_token: str | None = None
    app_client_secret: str | None = None  # signs webhook deliveries

    def validate(self) -> None:
        oauth = (self.oauth_client_id, self.oauth_client_secret, self.refresh_token)
        if self.token and any(oauth):
            raise InputError("give either --token or the OAuth options, not both")
        if not self.token and not all(oauth):
            raise InputError(
                "give --token (private app) or all of --oauth-client-id, "
                "--oauth-client-secret and --refresh-token"
            )

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def find(session: Session, ref: str) -> Connection:
    """A connection by name or numeric id."""
    query = select(Connection).where(Connection.name == ref)
    if ref.isdigit():
        query = select(Connection).where((Connection.name == ref) | (Connection.id == int(ref)))
    connection = session.scalars(query).first()
    if connection is None:
        known = ", ".join(session.scalars(select(Connection.name).order_by(Connection.name)))
        raise UnknownConnection(f"no connection named {ref!r} (known: {known or 'none'})")
    return connection


def new_hubspot(
    vault: Vault,
    *,
    name: str,
    credentials: HubSpotCredentials,
    base_url: str,
    app_type: AppType,
    signature: SignatureVersion,
    budget_share: float,
) -> Connection:
    """A connection not yet stored: credentials encrypted, options set."""
    credentials.validate()
    return Connection(
        kind=CrmKind.HUBSPOT,
        name=name,
        credentials=vault.encrypt(credentials.to_dict()),
        options={
            "base_url": base_url.rstrip("/"),
            "app_type": app_type.value,
            "webhook_signature": signature.value,
        },
        api_budget_share=budget_share,
        writes_enabled=True,
        field_state=FieldInstallState.NOT_INSTALLED,
        field_report={},
    )


def create_hubspot(
    session: Session,
    vault: Vault,
    *,
    name: str,
    credentials: HubSpotCredentials,
    base_url: str,
    app_type: AppType,
    signature: SignatureVersion,
    budget_share: float,
) -> Connection:
    """Store a new connection (no CRM call: `connect_hubspot` is the checked way)."""
    connection = new_hubspot(
        vault,
        name=name,
        credentials=credentials,
        base_url=base_url,
        app_type=app_type,
        signature=signature,
        budget_share=budget_share,
    )
    _refuse_taken_name(session, connection.name)
    session.add(connection)
    session.flush()
    return connection


def _refuse_taken_name(session: Session, name: str) -> None:
    if session.scalars(select(Connection).where(Connection.name == name)).first():
        raise InputError(f"a connection named {name!r} already exists")


def open_connector(
    runtime: Runtime,
    connection: Connection,
    *,
    properties: Sequence[str] = (),
    usage: UsageRecorder | None = None,
    limiter: RateLimiter | None = None,
    now: Callable[[], datetime] | None = None,
) -> Connector:
    """A live connector for this connection (credentials decrypted only here, in memory)."""
    settings = runtime.settings
    clock = now or runtime.clock.now
    secrets = vault_credentials(runtime.vault, connection)
    if connection.kind != CrmKind.HUBSPOT:
        raise GlengarryError(
            f"connection {connection.name}: {connection.kind} is not supported yet"
        )
    base_url = str(connection.options.get("base_url", HUBSPOT_API))
    retry = RetryPolicy(
        max_attempts=settings.http_max_attempts,
        backoff_initial=settings.http_backoff_initial_seconds,
    )
    auth: PrivateAppToken | OAuthRefresh
    if secrets.get("token"):
        auth = PrivateAppToken(str(secrets["token"]))
    else:
        tokens = OAuthTokens(
            str(secrets["oauth_client_id"]),
            str(secrets["oauth_client_secret"]),
            str(secrets["refresh_token"]),
        )
        auth = OAuthRefresh(
            tokens,
            base_url=base_url,
            now=clock,
            retry=retry,
            timeout=settings.http_timeout_seconds,
            on_refresh=lambda _access, refresh, _expires: _keep_refresh_token(
                runtime, connection.id, refresh
            ),
        )
    options = HubSpotOptions(
        base_url=base_url,
        app_type=AppType(connection.options.get("app_type", AppType.PRIVATE_PRO.value)),
        budget_share=connection.api_budget_share,
        properties=tuple(properties),
        rate_limit_headroom=settings.rate_limit_headroom,
        search_overlap_seconds=settings.search_overlap_seconds,
        retry=retry,
        timeout_seconds=settings.http_timeout_seconds,
    )
    return HubSpotConnector(
        options,
        auth,
        account=connection.account_id or connection.name,
        now=clock,
        limiter=limiter
        or limiter_for(
            settings,
            runtime.limiters,
            connection,
            lambda: calls_today(runtime, connection.id),
        ),
        on_response=usage,
    )


class ConnectFailed(GlengarryError):
    pass


def _install_state(report: Sequence[FieldStatus]) -> FieldInstallState:
    if any(f.state is FieldState.CONFLICT for f in report):
        return FieldInstallState.CONFLICT
    return FieldInstallState.INSTALLED


async def connect_hubspot(
    runtime: Runtime,
    *,
    name: str,
    credentials: HubSpotCredentials,
    base_url: str = HUBSPOT_API,
    app_type: AppType = AppType.PRIVATE_PRO,
    signature: SignatureVersion = SignatureVersion.V3,
    budget_share: float | None = None,
) -> tuple[Connection, list[FieldStatus]]:
    """Store a connection, read its portal id and install the fields, all or nothing."""
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ConnectFailed(f"name {name!r}: use letters, digits, '-' and '_' only")
    share = budget_share if budget_share is not None else runtime.settings.api_budget_share
    connection = new_hubspot(
        runtime.vault,
        name=name,
        credentials=credentials,
        base_url=base_url,
        app_type=app_type,
        signature=signature,
        budget_share=share,
    )
    with runtime.sessions() as session:
        _refuse_taken_name(session, name)
    # The CRM is asked before anything is stored, and outside any transaction (a token refresh
    # may need the database): a failed connect leaves nothing behind.
    connector = open_connector(runtime, connection)
    try:
        portal = await connector.account_id()
        report = list(await connector.install_fields([s.value for s in Status]))
    except CrmUnavailable as exc:  # nothing (useful) answered: say so, not "refused"
        raise ConnectFailed(f"HubSpot could not be reached: {exc}") from None
    except ConnectorError as exc:
        raise ConnectFailed(f"HubSpot refused the connection: {exc}") from None
    finally:
        await connector.aclose()
    with runtime.sessions.begin() as session:
        _refuse_taken_name(session, name)
        duplicate = session.scalars(
            select(Connection).where(
                Connection.kind == CrmKind.HUBSPOT, Connection.account_id == portal
            )
        ).first()
        if duplicate is not None:
            raise ConnectFailed(f"portal {portal} is already connected as {duplicate.name!r}")
        connection.account_id = portal
        connection.field_state = _install_state(report)
        connection.field_report = {f.name: {"state": f.state, "detail": f.detail} for f in report}
        session.add(connection)
    return connection, report


def _keep_refresh_token(runtime: Runtime, connection_id: int | None, refresh_token: str) -> None:
    """HubSpot may hand out a new refresh token: store it (encrypted) before the old one lapses."""
    if connection_id is None:  # connecting: the credentials are stored once the CRM answered
        return
    with runtime.sessions.begin() as session:
        # Locked before it is read: a key rotation running meanwhile is waited for, so the token
        # is re-encrypted under the key that rotation leaves, never under one it retires.
        connection = session.get(Connection, connection_id, with_for_update=True)
        if connection is None:
            return
        secrets = vault_credentials(runtime.vault, connection)
        if secrets.get("refresh_token") != refresh_token:
            secrets["refresh_token"] = refresh_token
            connection.credentials = runtime.vault.encrypt(secrets)


def calls_today(runtime: Runtime, connection_id: int | None) -> int:
    """API calls this connection made today (UTC), as the usage table records them."""
    if connection_id is None:
        return 0
    with runtime.sessions() as session:
        total = session.scalar(
            select(func.coalesce(func.sum(ApiUsage.calls), 0)).where(
                ApiUsage.connection_id == connection_id,
                ApiUsage.day == runtime.clock.now().date(),
            )
        )
    return int(total or 0)


def vault_credentials(vault: Vault, connection: Connection) -> dict[str, Any]:
    return vault.decrypt(connection.credentials, what=f"credentials of {connection.name}")


def webhook_source(runtime: Runtime, connection: Connection) -> WebhookSource | None:
    """The connection's webhook verifier, or None when no app secret was configured."""
    secret = vault_credentials(runtime.vault, connection).get("app_client_secret")
    if not secret:
        return None
    version = SignatureVersion(connection.options.get("webhook_signature", "v3"))
    return HubSpotWebhooks(str(secret), version=version, now=runtime.clock.now)
