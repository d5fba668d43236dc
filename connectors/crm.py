"""What a CRM package tells the app about itself: one `Crm` description per package.

The app keeps a list of these (`app/crms.py`) and reaches a CRM only through it: the routes
`/webhooks/{kind}/...`, `glengarry connect {kind}`, `glengarry sandbox {kind}`, the rate limits
and the connector each connection is served by all come from here. Nothing in this module knows
the app's models: a stored connection arrives as a `StoredConnection`, the app's settings and
services as a `ConnectorEnv`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from connectors.base import (
    ChangeEvent,
    Connector,
    CrmActivity,
    CrmContact,
    FieldStatus,
    WebhookSource,
)
from connectors.http import Limit, RateLimiter, RetryPolicy, UsageRecorder


class CredentialsError(ValueError):
    """Credentials or connection options that cannot work; the message names the option."""


@dataclass(frozen=True, slots=True)
class CliOption:
    """One option of a CRM's `connect`, `connections update` or `sandbox` command.

    The app builds its typer commands from these, so that a CRM's options are declared once,
    in its package. A secret option also reads `envvar`, and `-` reads it from stdin."""

    name: str  # the Python identifier the value arrives under ("oauth_client_id")
    flag: str  # "--oauth-client-id"
    help: str
    type: type[Any] = str  # str, int, float, bool (an on/off flag), Path, or an Enum
    default: Any = None
    required: bool = False
    secret: bool = False
    envvar: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    # The stored credential a secret option sets (named when it came from the environment).
    stores: str | None = None


# Every CRM's `connect` and `connections update` take it, read the same way: declared once. Its
# bounds (more than 0, at most 1) are the app's to check (`app.connection_settings`), the same
# for the command line and the API.
BUDGET_SHARE = CliOption(
    "budget_share",
    "--budget-share",
    "Share of the CRM's daily API allocation this connection may use: more than 0, at most 1.",
    type=float,
)


@dataclass(frozen=True, slots=True)
class StoredConnection:
    """What a CRM package sees of a stored connection: secrets decrypted, in memory only."""

    id: int | None  # None while connecting (nothing is stored yet)
    name: str
    account_id: str | None
    options: Mapping[str, Any]
    secrets: Mapping[str, Any]
    budget_share: float


@dataclass(frozen=True, slots=True)
class ConnectorEnv:
    """What the app lends a connector: its settings, clock, limiter and callbacks."""

    now: Callable[[], datetime]
    retry: RetryPolicy
    timeout_seconds: float
    rate_limit_headroom: float
    search_overlap_seconds: float
    limiter: RateLimiter | None = None
    on_response: UsageRecorder | None = None
    # Stores a credential the CRM rotated (a new OAuth refresh token) before the old one lapses.
    keep_secret: Callable[[str, str], None] = lambda _name, _value: None
    # Settings a CRM reads that are not the pipeline's (`GLENGARRY_SALESFORCE_BULK_THRESHOLD`).
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NewSettings:
    """What a `connect` or `connections update` command line asks for, as the CRM reads it."""

    secrets: Mapping[str, Any]  # credentials given (empty values left out)
    options: Mapping[str, Any]  # connection options given (on update: only those given)
    budget_share: float | None = None
    install: bool = True  # False: the admin deployed the fields; only check them


@dataclass(frozen=True, slots=True)
class Receiver:
    """How the app answers a CRM's webhook deliveries."""

    # The URL ends with a secret token (`/webhooks/{kind}/{connection}/{token}`), which the
    # webhook source checks; without one, the delivery itself is signed.
    path_token: bool = False
    # One answer for every refusal (unknown connection, no secret, bad signature or token), so
    # that nothing can be probed.
    refused_status: int = 401
    refused_message: str = "signature refused"
    # The body sent once the events are stored (None: the counts, as JSON) and its type.
    acknowledgement: bytes | None = None
    media_type: str = "application/json"
    # The media types of a delivery (a declared other one is refused, 415, once verified).
    accepts: tuple[str, ...] = ("application/json",)


@dataclass(frozen=True, slots=True)
class Installed:
    """Glengarry's fields as the CRM has them now, and what else `connect` tells the admin."""

    fields: Sequence[FieldStatus]
    summary: Mapping[str, Any] = field(default_factory=dict)  # permission sets, to-do, ...


@dataclass(frozen=True, slots=True)
class SandboxCommand:
    """`glengarry sandbox {kind}`: its options and the function that serves until interrupted.

    `serve` raises `ValueError` for a bad option, naming it."""

    help: str
    options: Sequence[CliOption]
    serve: Callable[[Mapping[str, Any], Callable[[str], None]], None]


@dataclass(frozen=True, slots=True)
class Command:
    """`glengarry {kind} {name}`: a command only this CRM has (Salesforce's `package`).

    `run` gets the option values and what the app knows of a connection named by one
    (`--connection`: its `StoredConnection` and public webhook URL); ValueError names a bad
    option."""

    name: str
    help: str
    options: Sequence[CliOption]
    run: Callable[[Mapping[str, Any], Callable[[str], None]], None]
    # The option naming a stored connection, which the app looks up and passes on as
    # `values["connection"]` (a `StoredConnection`) and `values["public_url"]`.
    connection_option: str | None = None


class Crm(Protocol):
    """One CRM, as its package describes it to the app."""

    kind: str  # "hubspot": the route segment, the command name, the stored `kind`
    label: str  # "HubSpot": for messages
    account_noun: str  # what an account is called there: "portal", "org"
    account_key: str  # its key in `connect`'s JSON: "portal_id", "organization_id"
    receiver: Receiver
    connect_options: Sequence[CliOption]  # `connect {kind}`, --name and --reinstall aside
    update_options: Sequence[CliOption]  # `connections update NAME`, --reinstall aside
    # Where the app's setting holding a shared app secret is named (a public app's single
    # webhook URL, `/webhooks/{kind}`), or "" when the CRM has none.
    shared_app_setting: str
    # The module (imported by name, so no connector imports a sandbox) whose `COMMAND` is a
    # `SandboxCommand`.
    sandbox_module: str
    commands: Sequence[Command]  # `glengarry {kind} ...`, commands only this CRM has

    def settings(self, values: Mapping[str, Any], *, new: bool) -> NewSettings:
        """The command line's values (secrets already read) as credentials and options. `new`:
        a new connection (defaults apply) rather than an update (only what was given)."""
        ...

    async def prepare(
        self, values: dict[str, Any], stored_options: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Values completed by what needs the CRM (an OAuth code exchanged for its token)."""
        ...

    def questions(self, values: Mapping[str, Any]) -> Sequence[tuple[CliOption, str, bool]]:
        """Secrets a new connection still needs, to ask at a terminal: (option, question,
        optional)."""
        ...

    def merge_secrets(
        self, stored: Mapping[str, Any], given: Mapping[str, Any]
    ) -> dict[str, Any]: ...

    def check_secrets(self, secrets: Mapping[str, Any]) -> None:
        """Raise `CredentialsError` unless these credentials can authenticate."""
        ...

    def reaches_crm(self, changed_secrets: set[str], changed_options: set[str]) -> bool:
        """Whether a change must be checked against the CRM (a webhook secret is not)."""
        ...

    def open_connector(
        self, connection: StoredConnection, env: ConnectorEnv, properties: Sequence[str]
    ) -> Connector: ...

    def webhook_source(
        self, connection: StoredConnection, now: Callable[[], datetime]
    ) -> WebhookSource | None:
        """The connection's webhook verifier, or None when it has nothing to verify with."""
        ...

    def app_webhook_source(self, secret: str, now: Callable[[], datetime]) -> WebhookSource | None:
        """The verifier of a public app's single URL (events routed by account id), or None
        when the CRM has no such URL."""
        ...

    def rate_limits(
        self, options: Mapping[str, Any], budget_share: float, headroom: float
    ) -> tuple[str, Mapping[str, Sequence[Limit]]]:
        """A key that changes when the limits do, and the limiter's buckets."""
        ...

    async def install(
        self, connector: Connector, statuses: Sequence[str], *, install: bool
    ) -> Installed:
        """Install Glengarry's fields (install=False: only check them) and report."""
        ...

    def conflict_advice(self) -> str:
        """Where in the CRM an admin fixes a field that conflicts with Glengarry's."""
        ...

    def webhook_hint(self, name: str, secrets: Mapping[str, Any], app_secret_set: bool) -> str:
        """A warning for `connect` when webhooks of this connection cannot be verified, or ""."""
        ...

    def setup(self, connection: StoredConnection, public_url: str | None) -> Mapping[str, Any]:
        """What the admin sets up in the CRM for real time, with the exact values (the webhook
        URL built on `public_url`, the app's address as the CRM reaches it)."""
        ...

    def completed(self, secrets: Mapping[str, Any]) -> dict[str, Any]:
        """A new connection's secrets with what Glengarry makes for it (a webhook path token,
        unless one was given)."""
        ...

    def rotated(self, secrets: Mapping[str, Any]) -> dict[str, Any] | None:
        """The secrets with a new webhook path token, or None when the CRM has none."""
        ...

    def sparse(self, event: ChangeEvent) -> bool:
        """The event carries less than the set-up asks for (it still works: the worker
        re-reads the record); counted, so an admin can fix the set-up."""
        ...

    def subscription_hint(self, criteria_properties: Sequence[str]) -> str:
        """What `criteria check` tells an admin to subscribe the CRM's notifications to."""
        ...

    def carried(
        self, events: Sequence[ChangeEvent], criteria_properties: Sequence[str]
    ) -> Sequence[Mapping[str, str | None]] | None:
        """One contact's property changes (oldest first): per event, the engine properties it
        gives the new value of, as of its `occurred_at`, when together they are all a re-read
        would change for a connection reading `criteria_properties`; None when the record must
        be read (a creation, an association, an activity of its own, a field not carried)."""
        ...

    def named_record(self, event: ChangeEvent) -> str | None:
        """The one activity record an event says was added to its contact (`calls:17`), which
        `ReadsNamed.named_activities` reads without re-reading the contact; None when the
        contact must be read."""
        ...

    def property_activities(self, contact: CrmContact) -> Sequence[CrmActivity]:
        """The activities a contact's properties alone hold, as a read derives them (no call)."""
        ...

    def cursor_at(self, cursor: str) -> datetime | None:
        """The instant a stored sync cursor reads people's changes from (for an operator:
        `connections show`), or None while a full listing is under way; an unreadable cursor
        raises ConnectorError."""
        ...


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, not an address
        return False


def crm_url(value: str, flag: str) -> str:
    """A CRM's base URL as given: https, or plain http on this machine only (a sandbox, a
    local proxy), so that no token travels in the clear. Without a trailing slash."""
    parts = urlsplit(value)
    host = (parts.hostname or "").lower()
    loopback = _loopback(host)
    if not host or parts.scheme not in ("https", "http"):
        raise CredentialsError(f"{flag} must be an https:// URL, not {value!r}")
    if parts.scheme == "http" and not loopback:
        raise CredentialsError(
            f"{flag} must be an https:// URL (plain http only on loopback), not {value!r}"
        )
    return value.rstrip("/")


def enum_value(value: Any) -> Any:
    """An option's value as stored: an Enum by its value, a path as text."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value
