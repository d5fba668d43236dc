"""CRM connections: stored with encrypted credentials, turned into connectors on demand.

This is the one place that knows which connector serves which CRM kind; everything after it
works through the connector protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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

    def over(self, stored: Mapping[str, Any]) -> HubSpotCredentials:
        """These credentials replacing the stored ones: a token replaces the OAuth ones and the
        reverse; what is not given is kept."""
        merged = {k: v for k, v in stored.items() if k in _CREDENTIAL_FIELDS and v}
        if self.token:
            for oauth in ("oauth_client_id", "oauth_client_secret", "refresh_token"):
                merged.pop(oauth, None)
        if self.oauth_client_id or self.oauth_client_secret or self.refresh_token:
            merged.pop("token", None)
        merged.update(self.to_dict())
        return HubSpotCredentials(**merged)


_CREDENTIAL_FIELDS = frozenset(HubSpotCredentials.__dataclass_fields__)


# Connection ids are INTEGER columns (32 bits on PostgreSQL); names are at most 100 characters.
MAX_CONNECTION_ID = 2**31 - 1
NAME_LENGTH = 100


def _could_be_a_name(ref: str) -> bool:
    """False for what no stored name can be: a NUL byte or a lone surrogate, which the databases
    refuse as a parameter, or more characters than the column holds."""
    if len(ref) > NAME_LENGTH or "\x00" in ref:
        return False
    try:
        ref.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _as_id(ref: str) -> int | None:
    # isdigit() is true for '²' and Arabic-Indic digits: only ASCII digits make an id, and only
    # within the column's range.
    if not (ref.isascii() and ref.isdigit() and len(ref) <= 10):
        return None
    number = int(ref)
    return number if 0 < number <= MAX_CONNECTION_ID else None


def lookup(session: Session, ref: str) -> Connection | None:
    """A connection by name or numeric id; what cannot be either never reaches the database."""
    if not _could_be_a_name(ref):
        return None
    query = select(Connection).where(Connection.name == ref)
    if (number := _as_id(ref)) is not None:
        query = select(Connection).where((Connection.name == ref) | (Connection.id == number))
    return session.scalars(query).first()


def find(session: Session, ref: str) -> Connection:
    """`lookup`, or an error listing the known names (for an operator at the command line)."""
    connection = lookup(session, ref)
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


class FieldsInConflict(GlengarryError):
    """The connection is stored, but its CRM has properties Glengarry cannot write to."""

    exit_code = 3


def _install_state(report: Sequence[FieldStatus]) -> FieldInstallState:
    if any(f.state is FieldState.CONFLICT for f in report):
        return FieldInstallState.CONFLICT
    return FieldInstallState.INSTALLED


def _field_report(report: Sequence[FieldStatus]) -> dict[str, Any]:
    return {f.name: {"state": f.state.value, "detail": f.detail} for f in report}


def conflicts(connection: Connection) -> dict[str, str]:
    """Property name -> what is wrong with it, from the last field check."""
    return {
        name: str(entry.get("detail", ""))
        for name, entry in (connection.field_report or {}).items()
        if isinstance(entry, dict) and entry.get("state") == FieldState.CONFLICT.value
    }


def reinstall_command(name: str) -> str:
    return f"glengarry connections update {name} --reinstall"


def conflict_advice(name: str, found: Mapping[str, str]) -> str:
    """What the admin reads when fields conflict: each property, what is wrong, what to do."""
    lines = [
        f"connection {name!r} is stored, but nothing will be written to the CRM: "
        f"{len(found)} of its properties cannot hold what Glengarry writes:"
    ]
    lines += [f"  {prop}: {detail}" for prop, detail in sorted(found.items())]
    lines.append(
        "In HubSpot (Settings > Data Management > Properties > Contact properties) change each "
        "one to what Glengarry needs, or delete it; then check again with "
        f"`{reinstall_command(name)}`."
    )
    return "\n".join(lines)


def write_block(connection: Connection) -> str:
    """Why nothing may be written to this connection's CRM now ("" when writing is allowed)."""
    if connection.field_state == FieldInstallState.INSTALLED:
        return ""
    found = conflicts(connection)
    if found:
        return (
            f"write-back refused: these CRM properties conflict with Glengarry's: "
            f"{'; '.join(f'{k} {v}' for k, v in sorted(found.items()))}; fix them in the CRM, "
            f"then run `{reinstall_command(connection.name)}`"
        )
    return (
        "write-back refused: Glengarry's fields are not installed; "
        f"run `{reinstall_command(connection.name)}`"
    )


async def _check_crm(
    runtime: Runtime, candidate: Connection, *, install: bool
) -> tuple[str, list[FieldStatus]]:
    """The portal id the credentials reach, and (install=True) the field check's report."""
    connector = open_connector(runtime, candidate)
    try:
        portal = await connector.account_id()
        report = list(await connector.install_fields([s.value for s in Status])) if install else []
    except CrmUnavailable as exc:  # nothing (useful) answered: say so, not "refused"
        raise ConnectFailed(f"HubSpot could not be reached: {exc}") from None
    except ConnectorError as exc:
        raise ConnectFailed(f"HubSpot refused the connection: {exc}") from None
    finally:
        await connector.aclose()
    return portal, report


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
    """Store a connection, read its portal id and install the fields, all or nothing.

    Fields in conflict are never redefined: the connection is stored with its field state
    `conflict`, and nothing is written to the CRM until a reinstall finds them fixed."""
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
    portal, report = await _check_crm(runtime, connection, install=True)
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
        connection.field_report = _field_report(report)
        session.add(connection)
    return connection, report


@dataclass(frozen=True)
class ConnectionUpdate:
    """What `connections update` changes; None (or empty credentials) leaves a thing as it is."""

    credentials: HubSpotCredentials = field(default_factory=HubSpotCredentials)
    base_url: str | None = None
    app_type: AppType | None = None
    signature: SignatureVersion | None = None
    budget_share: float | None = None
    reinstall: bool = False


@dataclass(frozen=True)
class UpdateResult:
    connection: Connection
    changed: list[str]  # names of what changed, never secret values
    report: list[FieldStatus] | None  # the field check, when one ran


async def update_hubspot(runtime: Runtime, ref: str, update: ConnectionUpdate) -> UpdateResult:
    """Change an existing connection's credentials and settings, and check its fields again
    (`reinstall`). New credentials must reach the same portal; nothing is stored otherwise."""
    with runtime.sessions() as session:
        stored = find(session, ref)
        session.expunge(stored)
    if stored.kind != CrmKind.HUBSPOT:
        raise InputError(f"connection {stored.name!r} is not a HubSpot connection")
    before = vault_credentials(runtime.vault, stored)
    credentials = update.credentials.over(before)
    credentials.validate()
    after = credentials.to_dict()
    new_secrets = sorted(k for k in {*before, *after} if before.get(k) != after.get(k))
    changed = [f"credentials.{name}" for name in new_secrets]
    options = dict(stored.options)
    for key, value in (
        ("base_url", update.base_url.rstrip("/") if update.base_url else None),
        ("app_type", update.app_type.value if update.app_type else None),
        ("webhook_signature", update.signature.value if update.signature else None),
    ):
        if value is not None and options.get(key) != value:
            options[key] = value
            changed.append(key)
    share = stored.api_budget_share
    if update.budget_share is not None and update.budget_share != share:
        share = update.budget_share
        changed.append("api_budget_share")
    report: list[FieldStatus] | None = None
    # The webhook secret is not the CRM's to check; new access credentials or URL are.
    reaches_crm = bool(set(new_secrets) - {"app_client_secret"}) or "base_url" in changed
    if reaches_crm or update.reinstall:
        # Not stored yet, and without an id: a token refreshed now is not written anywhere.
        candidate = Connection(
            kind=stored.kind,
            name=stored.name,
            account_id=stored.account_id,
            credentials=runtime.vault.encrypt(credentials.to_dict()),
            options=options,
            api_budget_share=share,
        )
        portal, checked = await _check_crm(runtime, candidate, install=update.reinstall)
        if stored.account_id and portal != stored.account_id:
            raise ConnectFailed(
                f"these credentials reach portal {portal}, but {stored.name!r} is connected to "
                f"portal {stored.account_id}: connect that portal under a new name instead"
            )
        report = checked if update.reinstall else None
    with runtime.sessions.begin() as session:
        connection = session.get(Connection, stored.id)
        if connection is None:
            raise UnknownConnection(f"connection {stored.name!r} was removed meanwhile")
        if new_secrets:
            connection.credentials = runtime.vault.encrypt(after)
        connection.options = options
        connection.api_budget_share = share
        if report is not None:
            state = _install_state(report)
            if state != connection.field_state:
                changed.append("field_state")
            connection.field_state = state
            connection.field_report = _field_report(report)
        session.flush()
        session.expunge(connection)
    return UpdateResult(connection, changed, report)


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
