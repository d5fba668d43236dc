"""CRM connections: stored with encrypted credentials, turned into connectors on demand.

Which CRM serves a connection is its `kind`, found in the registry (`app.crms`); everything
after this module works through the connector protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit import cli_actor, record
from app.connection_settings import check_budget_share, set_budget_share, set_interval
from app.crms import crm_for
from app.errors import GlengarryError, InputError
from app.models import ApiUsage, Connection, FieldInstallState
from app.ratelimits import limiter_for
from app.runtime import Runtime
from app.vault import Vault
from connectors.base import (
    Connector,
    FieldState,
    FieldStatus,
    ProbesUnavailable,
    WebhookSource,
)
from connectors.crm import ConnectorEnv, CredentialsError, Crm, Installed, StoredConnection
from connectors.errors import ConnectorError, CrmUnavailable
from connectors.http import RateLimiter, RetryPolicy, UsageRecorder
from qualification.statuses import Status


class UnknownConnection(GlengarryError):
    exit_code = 2


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
    live = Connection.deleted_at.is_(None)  # a deleted connection is unknown, data kept or not
    query = select(Connection).where(live, Connection.name == ref)
    if (number := _as_id(ref)) is not None:
        query = select(Connection).where(live, (Connection.name == ref) | (Connection.id == number))
    return session.scalars(query).first()


def find(session: Session, ref: str) -> Connection:
    """`lookup`, or an error listing the known names (for an operator at the command line)."""
    connection = lookup(session, ref)
    if connection is None:
        names = select(Connection.name).where(Connection.deleted_at.is_(None))
        known = ", ".join(session.scalars(names.order_by(Connection.name)))
        raise UnknownConnection(f"no connection named {ref!r} (known: {known or 'none'})")
    return connection


def new_connection(
    vault: Vault,
    crm: Crm,
    *,
    name: str,
    secrets: Mapping[str, Any],
    options: Mapping[str, Any],
    budget_share: float,
) -> Connection:
    """A connection not yet stored: credentials checked and encrypted (with a new webhook path
    token, for a CRM whose URLs carry one), options set."""
    try:
        crm.check_secrets(secrets)
    except CredentialsError as exc:
        raise InputError(str(exc)) from None
    check_budget_share(budget_share)
    return Connection(
        kind=crm.kind,
        name=name,
        credentials=vault.encrypt(crm.completed(secrets)),
        options=dict(options),
        api_budget_share=budget_share,
        writes_enabled=True,
        field_state=FieldInstallState.NOT_INSTALLED,
        field_report={},
    )


def create_connection(
    session: Session,
    vault: Vault,
    crm: Crm,
    *,
    name: str,
    secrets: Mapping[str, Any],
    options: Mapping[str, Any],
    budget_share: float,
) -> Connection:
    """Store a new connection (no CRM call: `connect` is the checked way)."""
    connection = new_connection(
        vault, crm, name=name, secrets=secrets, options=options, budget_share=budget_share
    )
    _refuse_taken_name(session, connection.name)
    session.add(connection)
    session.flush()
    return connection


def _refuse_taken_name(session: Session, name: str) -> None:
    if session.scalars(select(Connection).where(Connection.name == name)).first():
        raise InputError(f"a connection named {name!r} already exists")


def stored(runtime: Runtime, connection: Connection) -> StoredConnection:
    """The connection as its CRM package sees it (credentials decrypted only here, in memory)."""
    return StoredConnection(
        id=connection.id,
        name=connection.name,
        account_id=connection.account_id,
        options=dict(connection.options or {}),
        secrets=vault_credentials(runtime.vault, connection),
        budget_share=connection.api_budget_share,
    )


def open_connector(
    runtime: Runtime,
    connection: Connection,
    *,
    properties: Sequence[str] = (),
    usage: UsageRecorder | None = None,
    limiter: RateLimiter | None = None,
    now: Callable[[], datetime] | None = None,
) -> Connector:
    """A live connector for this connection, built by its CRM's package."""
    settings = runtime.settings
    crm = crm_for(connection.kind)
    env = ConnectorEnv(
        now=now or runtime.clock.now,
        retry=RetryPolicy(
            max_attempts=settings.http_max_attempts,
            backoff_initial=settings.http_backoff_initial_seconds,
        ),
        timeout_seconds=settings.http_timeout_seconds,
        rate_limit_headroom=settings.rate_limit_headroom,
        search_overlap_seconds=settings.search_overlap_seconds,
        limiter=limiter
        or limiter_for(
            settings,
            runtime.limiters,
            connection,
            lambda: calls_today(runtime, connection.id),
        ),
        on_response=usage,
        keep_secret=lambda key, value: _keep_secret(runtime, connection.id, key, value),
        extra=settings.crm_settings(),
    )
    return crm.open_connector(stored(runtime, connection), env, properties)


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


def conflict_advice(crm: Crm, name: str, found: Mapping[str, str]) -> str:
    """What the admin reads when fields conflict: each property, what is wrong, what to do."""
    lines = [
        f"connection {name!r} is stored, but nothing will be written to the CRM: "
        f"{len(found)} of its properties cannot hold what Glengarry writes:"
    ]
    lines += [f"  {prop}: {detail}" for prop, detail in sorted(found.items())]
    lines.append(f"{crm.conflict_advice()}; then check again with `{reinstall_command(name)}`.")
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
    runtime: Runtime, candidate: Connection, *, fields: bool | None
) -> tuple[str, Installed | None, dict[str, str] | None]:
    """The account id the credentials reach, the field check's report (fields=True installs
    them, False only checks them, None leaves them alone) and, with a field check, what the
    connection may not read (a scope or licence lacking), where the connector can tell."""
    crm = crm_for(candidate.kind)
    connector = open_connector(runtime, candidate)
    statuses = [s.value for s in Status]
    try:
        account = await connector.account_id()
        installed, unavailable = None, None
        if fields is not None:
            installed = await crm.install(connector, statuses, install=fields)
            if isinstance(connector, ProbesUnavailable):
                await connector.probe_unavailable()
                unavailable = dict(getattr(connector, "unavailable", {}))
    except CrmUnavailable as exc:  # nothing (useful) answered: say so, not "refused"
        raise ConnectFailed(f"{crm.label} could not be reached: {exc}") from None
    except ConnectorError as exc:
        raise ConnectFailed(f"{crm.label} refused the connection: {exc}") from None
    finally:
        await connector.aclose()
    return account, installed, unavailable


@dataclass(frozen=True)
class Connected:
    connection: Connection
    fields: list[FieldStatus]
    summary: Mapping[str, Any]  # what else the CRM tells the admin (permission sets, to-do)
    unavailable: Mapping[str, str] = field(default_factory=dict)  # kind of record -> why not


async def connect(
    runtime: Runtime,
    crm: Crm,
    *,
    name: str,
    secrets: Mapping[str, Any],
    options: Mapping[str, Any],
    budget_share: float | None = None,
    install: bool = True,
    actor: str | None = None,
) -> Connected:
    """Store a connection, read its account id and install the fields, all or nothing.

    Fields in conflict are never redefined: the connection is stored with its field state
    `conflict`, and nothing is written to the CRM until a reinstall finds them fixed.
    `install=False` only checks fields an admin deployed."""
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ConnectFailed(f"name {name!r}: use letters, digits, '-' and '_' only")
    share = budget_share if budget_share is not None else runtime.settings.api_budget_share
    connection = new_connection(
        runtime.vault, crm, name=name, secrets=secrets, options=options, budget_share=share
    )
    with runtime.sessions() as session:
        _refuse_taken_name(session, name)
    # The CRM is asked before anything is stored, and outside any transaction (a token refresh
    # may need the database): a failed connect leaves nothing behind.
    account, installed, unavailable = await _check_crm(runtime, connection, fields=install)
    assert installed is not None
    report = list(installed.fields)
    with runtime.sessions.begin() as session:
        _refuse_taken_name(session, name)
        duplicate = session.scalars(
            select(Connection).where(Connection.kind == crm.kind, Connection.account_id == account)
        ).first()
        if duplicate is not None:
            raise ConnectFailed(
                f"{crm.account_noun} {account} is already connected as {duplicate.name!r}"
            )
        connection.account_id = account
        connection.field_state = _install_state(report)
        connection.field_report = _field_report(report)
        connection.unavailable = unavailable or {}
        session.add(connection)
        record(
            session,
            actor=actor or cli_actor(),
            action="connection.connect",
            at=runtime.clock.now(),
            connection=name,
            details={
                "kind": crm.kind,
                "account_id": account,
                "field_state": connection.field_state,
                "api_budget_share": share,
            },
        )
    return Connected(connection, report, installed.summary, unavailable or {})


@dataclass(frozen=True)
class ConnectionUpdate:
    """What `connections update` changes; what is not given is left as it is."""

    secrets: Mapping[str, Any] = field(default_factory=dict)  # credentials given
    options: Mapping[str, Any] = field(default_factory=dict)  # options given
    budget_share: float | None = None
    reinstall: bool = False
    sync_interval_seconds: int | None = None
    actor: str = field(default_factory=cli_actor)  # whom the audit log names for the changes


@dataclass(frozen=True)
class UpdateResult:
    connection: Connection
    changed: list[str]  # names of what changed, never secret values
    report: list[FieldStatus] | None  # the field check, when one ran


async def update_connection(runtime: Runtime, ref: str, update: ConnectionUpdate) -> UpdateResult:
    """Change an existing connection's credentials and settings, and check its fields again
    (`reinstall`). New credentials must reach the same account; nothing is stored otherwise."""
    with runtime.sessions() as session:
        existing = find(session, ref)
        session.expunge(existing)
    crm = crm_for(existing.kind)
    before = vault_credentials(runtime.vault, existing)
    after = crm.merge_secrets(before, update.secrets)
    try:
        crm.check_secrets(after)
    except CredentialsError as exc:
        raise InputError(str(exc)) from None
    new_secrets = sorted(k for k in {*before, *after} if before.get(k) != after.get(k))
    changed = [f"credentials.{name}" for name in new_secrets]
    options = dict(existing.options)
    for key, value in update.options.items():
        if value is not None and options.get(key) != value:
            options[key] = value
            changed.append(key)
    share = existing.api_budget_share
    if update.budget_share is not None and update.budget_share != share:
        check_budget_share(update.budget_share)  # before the CRM is asked anything
        share = update.budget_share
    report: list[FieldStatus] | None = None
    unavailable: dict[str, str] | None = None  # asked again with a field check
    if crm.reaches_crm(set(new_secrets), set(changed)) or update.reinstall:
        # Not stored yet, and without an id: a token refreshed now is not written anywhere.
        candidate = Connection(
            kind=existing.kind,
            name=existing.name,
            account_id=existing.account_id,
            credentials=runtime.vault.encrypt(after),
            options=options,
            api_budget_share=share,
        )
        account, checked, unavailable = await _check_crm(
            runtime, candidate, fields=True if update.reinstall else None
        )
        if existing.account_id and account != existing.account_id:
            noun = crm.account_noun
            raise ConnectFailed(
                f"these credentials reach {noun} {account}, but {existing.name!r} is connected "
                f"to {noun} {existing.account_id}: connect that {noun} under a new name instead"
            )
        report = list(checked.fields) if checked is not None else None
    with runtime.sessions.begin() as session:
        connection = session.get(Connection, existing.id)
        if connection is None:
            raise UnknownConnection(f"connection {existing.name!r} was removed meanwhile")
        if new_secrets:
            connection.credentials = runtime.vault.encrypt(after)
        connection.options = options
        if set_budget_share(session, connection, share, actor=update.actor, at=runtime.clock.now()):
            changed.append("api_budget_share")
        if update.sync_interval_seconds is not None and set_interval(
            session,
            connection,
            update.sync_interval_seconds,
            actor=update.actor,
            at=runtime.clock.now(),
        ):
            changed.append("sync_interval_seconds")
        if report is not None:
            state = _install_state(report)
            if state != connection.field_state:
                changed.append("field_state")
            connection.field_state = state
            connection.field_report = _field_report(report)
        if unavailable is not None:  # a reinstall also asks again what it may read
            connection.unavailable = unavailable
        # The budget share and the interval have entries of their own, with from and to; the
        # rest is named (credentials by name only, never their values).
        others = [c for c in changed if c not in ("api_budget_share", "sync_interval_seconds")]
        if others or update.reinstall:
            record(
                session,
                actor=update.actor,
                action="connection.update",
                at=runtime.clock.now(),
                connection=connection.name,
                details={"changed": others, "reinstall": update.reinstall},
            )
        session.flush()
        session.expunge(connection)
    return UpdateResult(connection, changed, report)


def _keep_secret(runtime: Runtime, connection_id: int | None, key: str, value: str) -> None:
    """A CRM may hand out a new refresh token: store it (encrypted) before the old one lapses."""
    if connection_id is None:  # connecting: the credentials are stored once the CRM answered
        return
    with runtime.sessions.begin() as session:
        # Locked before it is read: a key rotation running meanwhile is waited for, so the token
        # is re-encrypted under the key that rotation leaves, never under one it retires.
        connection = session.get(Connection, connection_id, with_for_update=True)
        if connection is None:
            return
        secrets = vault_credentials(runtime.vault, connection)
        if secrets.get(key) != value:
            secrets[key] = value
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


def realtime_setup(runtime: Runtime, connection: Connection) -> Mapping[str, Any]:
    """What the admin sets up in the CRM so that changes arrive as they happen."""
    return crm_for(connection.kind).setup(stored(runtime, connection), runtime.settings.public_url)


def webhook_source(runtime: Runtime, connection: Connection) -> WebhookSource | None:
    """The connection's webhook verifier, or None when it has nothing to verify with."""
    return crm_for(connection.kind).webhook_source(stored(runtime, connection), runtime.clock.now)
