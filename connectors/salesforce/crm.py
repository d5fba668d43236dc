"""Salesforce, as it describes itself to the app (`connectors.crm.Crm`): its credentials (JWT
bearer or client credentials, never a password), the options of `connect salesforce`, the
connector and Outbound Message verifier a stored connection becomes, and its limits."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from connectors.base import ChangeEvent, Connector, CrmActivity, CrmContact, WebhookSource
from connectors.crm import (
    BUDGET_SHARE,
    CliOption,
    Command,
    ConnectorEnv,
    CredentialsError,
    Installed,
    NewSettings,
    Receiver,
    StoredConnection,
    crm_url,
)
from connectors.http import Limit
from connectors.salesforce import realtime
from connectors.salesforce.activities import from_touches
from connectors.salesforce.carried import carried
from connectors.salesforce.client import SalesforceConnector, SalesforceOptions
from connectors.salesforce.credentials import SalesforceCredentials, login_for
from connectors.salesforce.cursor import PEOPLE, SyncCursor
from connectors.salesforce.install import todo
from connectors.salesforce.marketing import TOUCHES
from connectors.salesforce.outbound import (
    CONTENT_TYPE,
    OutboundMessages,
    ack_body,
    new_path_token,
)
from connectors.salesforce.package import write_package
from qualification.statuses import Status

BULK_THRESHOLD = 50_000
_CREDENTIAL_KEYS = ("client_id", "client_secret", "username", "private_key")
# The path token of the Outbound Message URL: a secret, stored with the credentials.
PATH_TOKEN = "outbound_token"  # noqa: S105 - a stored secret's name  # nosec B105

_SECRETS = (
    CliOption("client_id", "--client-id", "The connected app's consumer key."),
    CliOption(
        "client_secret",
        "--client-secret",
        "The connected app's consumer secret (client credentials flow).",
        secret=True,
        envvar="GLENGARRY_CLIENT_SECRET",
        stores="client_secret",
    ),
    CliOption("username", "--username", "The integration user (JWT bearer flow)."),
    CliOption(
        "jwt_key",
        "--jwt-key",
        "PEM file of the key whose certificate the connected app holds (JWT bearer flow).",
        type=Path,
    ),
)


def _settings_options(*, new: bool) -> tuple[CliOption, ...]:
    return (
        CliOption(
            "instance_url",
            "--instance-url",
            "The org's My Domain URL: https://ORG.my.salesforce.com.",
            required=new,
        ),
        CliOption(
            "sandbox_org",
            "--sandbox-org",
            "A Salesforce sandbox org: JWT audience https://test.salesforce.com.",
            type=bool,
            default=False,
        ),
        CliOption("login_url", "--login-url", "Where to ask for tokens (an org behind a proxy)."),
        CliOption(
            "ca_bundle",
            "--ca-bundle",
            "PEM file of the CA to trust instead of the system's (a proxy's, the sandbox's).",
            type=Path,
        ),
    )


_NO_INSTALL = CliOption(
    "no_install",
    "--no-install",
    "Install nothing: the admin deployed the package (`glengarry salesforce package`); "
    "only check that the integration user can write every field.",
    type=bool,
    default=False,
)


def _read_key(path: Path) -> str:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"--jwt-key {path}: cannot be read ({exc})") from None
    if "PRIVATE KEY" not in text:
        raise CredentialsError(f"--jwt-key {path}: not a PEM private key")
    return text


def _credentials(secrets: Mapping[str, Any]) -> SalesforceCredentials:
    try:
        return SalesforceCredentials.model_validate(
            {k: v for k, v in secrets.items() if k in _CREDENTIAL_KEYS and v}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise CredentialsError(f"{where}: {message}" if where else message) from None


def endpoint(connection: StoredConnection, public_url: str | None) -> str:
    """The connection's Outbound Message URL: its path token is the secret."""
    base = (public_url or "<GLENGARRY_PUBLIC_URL>").rstrip("/")
    return f"{base}/webhooks/salesforce/{connection.name}/{connection.secrets.get(PATH_TOKEN, '')}"


def _package(values: Mapping[str, Any], echo: Callable[[str], None]) -> None:
    connection: StoredConnection | None = values.get("connection")
    url = endpoint(connection, values.get("public_url")) if connection is not None else None
    username = connection.secrets.get("username") if connection is not None else None
    written = write_package(
        Path(values["out"]), [s.value for s in Status], endpoint_url=url, username=username
    )
    echo(json.dumps({"out": str(values["out"]), "files": [str(p) for p in written]}))


class Salesforce:
    kind = "salesforce"
    label = "Salesforce"
    account_noun = "org"
    account_key = "organization_id"
    # Outbound Messages are not signed: the URL's token is the secret. An unknown connection and
    # a wrong token look alike (404); the SOAP `Ack` is sent once the notifications are stored.
    receiver = Receiver(
        path_token=True,
        refused_status=404,
        refused_message="not found",
        acknowledgement=ack_body(),
        media_type=CONTENT_TYPE,
        accepts=("text/xml",),  # SOAP 1.1, as every Outbound Message is sent
    )
    connect_options: Sequence[CliOption] = (
        *_SECRETS,
        *_settings_options(new=True),
        BUDGET_SHARE,
        _NO_INSTALL,
    )
    update_options: Sequence[CliOption] = (*_SECRETS, *_settings_options(new=False), BUDGET_SHARE)
    shared_app_setting = ""
    sandbox_module = "connectors.salesforce.sandbox.command"
    commands: Sequence[Command] = (
        Command(
            "package",
            "Write a reviewable SFDX source package: the fields, both permission sets, the "
            "Lead-to-Contact field mapping and, for a connection, its Outbound Messages and "
            "Flows.",
            (
                CliOption("out", "--out", "Directory to write it in.", type=Path, required=True),
                CliOption(
                    "connection",
                    "--connection",
                    "A connection: its Outbound Message URL and Flows go in the package too.",
                ),
            ),
            _package,
            connection_option="connection",
        ),
    )

    def settings(self, values: Mapping[str, Any], *, new: bool) -> NewSettings:
        secrets = {
            key: values[key]
            for key in ("client_id", "client_secret", "username")
            if values.get(key) is not None
        }
        if values.get("jwt_key") is not None:
            secrets["private_key"] = _read_key(Path(values["jwt_key"]))
        options: dict[str, Any] = {}
        if values.get("instance_url") is not None:
            options["instance_url"] = crm_url(str(values["instance_url"]), "--instance-url")
        if values.get("login_url") is not None:
            options["login_url"] = crm_url(str(values["login_url"]), "--login-url")
        if values.get("ca_bundle") is not None:
            bundle = Path(values["ca_bundle"])
            if not bundle.is_file():
                raise CredentialsError(f"--ca-bundle {bundle}: no such file")
            options["ca_bundle"] = str(bundle.resolve())
        if values.get("sandbox_org") is not None and (new or values["sandbox_org"]):
            options["sandbox_org"] = bool(values["sandbox_org"])
        return NewSettings(
            secrets,
            options,
            values.get("budget_share"),
            install=not values.get("no_install", False),
        )

    async def prepare(
        self, values: dict[str, Any], stored_options: Mapping[str, Any]
    ) -> dict[str, Any]:
        return values

    def questions(self, values: Mapping[str, Any]) -> Sequence[tuple[CliOption, str, bool]]:
        if values.get("jwt_key") or values.get("username"):
            return ()
        return ((_SECRETS[1], "The connected app's consumer secret", False),)

    def merge_secrets(self, stored: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
        """A client secret replaces the JWT pair and the reverse; the path token is kept."""
        merged = {k: v for k, v in stored.items() if v}
        if given.get("client_secret"):
            merged.pop("username", None)
            merged.pop("private_key", None)
        if given.get("username") or given.get("private_key"):
            merged.pop("client_secret", None)
        merged.update({k: v for k, v in given.items() if v})
        return merged

    def check_secrets(self, secrets: Mapping[str, Any]) -> None:
        _credentials(secrets)

    def reaches_crm(self, changed_secrets: set[str], changed_options: set[str]) -> bool:
        reaching = {"instance_url", "login_url", "ca_bundle", "sandbox_org"}
        return bool(changed_secrets - {PATH_TOKEN}) or bool(changed_options & reaching)

    def open_connector(
        self, connection: StoredConnection, env: ConnectorEnv, properties: Sequence[str]
    ) -> Connector:
        options = connection.options
        instance_url = str(options["instance_url"])
        ca_bundle = options.get("ca_bundle")
        login = login_for(
            _credentials(connection.secrets),
            instance_url=instance_url,
            now=env.now,
            sandbox_org=bool(options.get("sandbox_org", False)),
            login_url=options.get("login_url"),
            ca_bundle=str(ca_bundle) if ca_bundle else None,
            retry=env.retry,
            timeout=env.timeout_seconds,
        )
        settings = SalesforceOptions(
            instance_url=instance_url,
            budget_share=connection.budget_share,
            properties=tuple(properties),
            overlap_seconds=env.search_overlap_seconds,
            retry=env.retry,
            timeout_seconds=env.timeout_seconds,
            ca_bundle=str(ca_bundle) if ca_bundle else None,
            bulk_threshold=int(env.extra.get("salesforce_bulk_threshold", BULK_THRESHOLD)),
        )
        return SalesforceConnector(
            settings,
            login,
            account=connection.account_id or connection.name,
            now=env.now,
            limiter=env.limiter,
            on_response=env.on_response,
        )

    def webhook_source(
        self, connection: StoredConnection, now: Callable[[], datetime]
    ) -> WebhookSource | None:
        token = connection.secrets.get(PATH_TOKEN)
        if not token or not connection.account_id:
            return None
        return OutboundMessages(connection.account_id, str(token), now=now)

    def app_webhook_source(self, secret: str, now: Callable[[], datetime]) -> WebhookSource | None:
        return None  # each connection has its own Outbound Message URL

    def rate_limits(
        self, options: Mapping[str, Any], budget_share: float, headroom: float
    ) -> tuple[str, Mapping[str, Sequence[Limit]]]:
        # No burst window: the day's budget is the org's, read from `Sforce-Limit-Info` on every
        # response and enforced by the connector against its share.
        return "org", {}

    async def install(
        self, connector: Connector, statuses: Sequence[str], *, install: bool
    ) -> Installed:
        assert isinstance(connector, SalesforceConnector)
        if not install:
            fields = list(await connector.verify_fields())
            return Installed(fields, {"permission_sets": {}, "todo": todo(fields)})
        report = await connector.install(statuses)
        permission_sets = {p.name: p.state.value for p in report.permission_sets}
        return Installed(
            report.fields, {"permission_sets": permission_sets, "todo": list(report.todo)}
        )

    def conflict_advice(self) -> str:
        return (
            "In Salesforce (Setup > Object Manager > Lead or Contact > Fields & Relationships) "
            "change each one to what Glengarry needs or give the integration user access to it"
        )

    def webhook_hint(self, name: str, secrets: Mapping[str, Any], app_secret_set: bool) -> str:
        return ""

    def setup(self, connection: StoredConnection, public_url: str | None) -> Mapping[str, Any]:
        return realtime.setup(
            endpoint(connection, public_url), connection.secrets.get("username") or None
        )

    def completed(self, secrets: Mapping[str, Any]) -> dict[str, Any]:
        return {PATH_TOKEN: new_path_token(), **secrets}

    def rotated(self, secrets: Mapping[str, Any]) -> dict[str, Any] | None:
        return {**secrets, PATH_TOKEN: new_path_token()}

    def sparse(self, event: ChangeEvent) -> bool:
        fields = event.raw.get("fields") or {}
        return not any(fields.get(name) for name in realtime.DATED)

    def carried(
        self, events: Sequence[ChangeEvent], criteria_properties: Sequence[str]
    ) -> Sequence[Mapping[str, str | None]] | None:
        return carried(events, criteria_properties)

    def named_record(self, event: ChangeEvent) -> str | None:
        return None  # an Outbound Message about a Task or Event re-reads its person

    def property_activities(self, contact: CrmContact) -> Sequence[CrmActivity]:
        # The marketing touches a carried Lead's fields hold, as a read derives them.
        return from_touches(contact, TOUCHES)

    def subscription_hint(self, criteria_properties: Sequence[str]) -> str:
        return (
            "Salesforce Outbound Messages: send Id and the Glengarry fields of Lead and Contact "
            "from a record-triggered Flow (see `glengarry connections show NAME`)"
        )

    def cursor_at(self, cursor: str) -> datetime | None:
        loaded = SyncCursor.loads(cursor)
        if loaded is None or loaded.full is not None:  # a full listing under way
            return None
        # People's changes are read from the earliest of their objects' marks.
        marks = [m for m in (loaded.mark(stream) for stream in PEOPLE) if m is not None]
        return min(marks) if marks else None


CRM = Salesforce()
