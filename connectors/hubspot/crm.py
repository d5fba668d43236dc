"""HubSpot, as it describes itself to the app (`connectors.crm.Crm`): its credentials, the options
of `connect hubspot`, how a stored connection becomes a connector and a webhook verifier, and
its rate limits."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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
    enum_value,
)
from connectors.errors import AuthError
from connectors.http import Limit
from connectors.hubspot.auth import OAuthRefresh, OAuthTokens, PrivateAppToken, exchange_code
from connectors.hubspot.carried import carried
from connectors.hubspot.client import HubSpotConnector, HubSpotOptions
from connectors.hubspot.cursor import SyncCursor
from connectors.hubspot.limits import AppType, buckets_for
from connectors.hubspot.mapping import property_activities, watched_properties
from connectors.hubspot.webhook import (
    RELATED_SUBSCRIPTIONS,
    SUBSCRIPTIONS,
    HubSpotWebhooks,
    SignatureVersion,
    named_record,
)

HUBSPOT_API = "https://api.hubapi.com"
_OAUTH = ("oauth_client_id", "oauth_client_secret", "refresh_token")


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
            raise CredentialsError("give either --token or the OAuth options, not both")
        if not self.token and not all(oauth):
            raise CredentialsError(
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
            for oauth in _OAUTH:
                merged.pop(oauth, None)
        if self.oauth_client_id or self.oauth_client_secret or self.refresh_token:
            merged.pop("token", None)
        merged.update(self.to_dict())
        return HubSpotCredentials(**merged)

    @classmethod
    def of(cls, secrets: Mapping[str, Any]) -> HubSpotCredentials:
        return cls(**{k: v for k, v in secrets.items() if k in _CREDENTIAL_FIELDS and v})


_CREDENTIAL_FIELDS = frozenset(HubSpotCredentials.__dataclass_fields__)


def _secret(name: str, flag: str, envvar: str, help: str, stores: str) -> CliOption:
    return CliOption(name, flag, help, secret=True, envvar=envvar, stores=stores)


_SECRETS = (
    _secret("token", "--token", "GLENGARRY_TOKEN", "Private app access token.", "token"),
    CliOption("oauth_client_id", "--oauth-client-id", "OAuth app client id."),
    _secret(
        "oauth_client_secret",
        "--oauth-client-secret",
        "GLENGARRY_OAUTH_CLIENT_SECRET",
        "OAuth app client secret.",
        "oauth_client_secret",
    ),
    _secret(
        "refresh_token",
        "--refresh-token",
        "GLENGARRY_REFRESH_TOKEN",
        "OAuth refresh token of the portal.",
        "refresh_token",
    ),
    _secret(
        "oauth_code",
        "--oauth-code",
        "GLENGARRY_OAUTH_CODE",
        "OAuth authorization code from the install redirect (instead of a refresh token).",
        "refresh_token",
    ),
    CliOption(
        "redirect_uri", "--redirect-uri", "The redirect URI the authorization code was issued for."
    ),
    _secret(
        "client_secret",
        "--client-secret",
        "GLENGARRY_CLIENT_SECRET",
        "The app's client secret: verifies webhook signatures.",
        "app_client_secret",
    ),
)


def _settings_options(*, defaults: bool) -> tuple[CliOption, ...]:
    return (
        CliOption(
            "webhook_signature",
            "--webhook-signature",
            "Signature version the app's webhooks use.",
            type=SignatureVersion,
            default=SignatureVersion.V3 if defaults else None,
        ),
        CliOption(
            "base_url",
            "--base-url",
            "API base URL (a sandbox's, for tests).",
            default=HUBSPOT_API if defaults else None,
        ),
        CliOption(
            "app_type",
            "--app-type",
            "Sets the rate limits to respect.",
            type=AppType,
            default=AppType.PRIVATE_PRO if defaults else None,
        ),
    )


class HubSpot:
    kind = "hubspot"
    label = "HubSpot"
    account_noun = "portal"
    account_key = "portal_id"
    receiver = Receiver()  # signed deliveries; 401 for every refusal
    connect_options: Sequence[CliOption] = (
        *_SECRETS,
        *_settings_options(defaults=True),
        BUDGET_SHARE,
    )
    update_options: Sequence[CliOption] = (
        *_SECRETS,
        *_settings_options(defaults=False),
        BUDGET_SHARE,
    )
    shared_app_setting = "hubspot_app_client_secret"
    sandbox_module = "connectors.hubspot.sandbox.command"
    commands: Sequence[Command] = ()

    def settings(self, values: Mapping[str, Any], *, new: bool) -> NewSettings:
        credentials = HubSpotCredentials(
            values.get("token"),
            values.get("oauth_client_id"),
            values.get("oauth_client_secret"),
            values.get("refresh_token"),
            values.get("client_secret"),
        )
        options = {
            key: enum_value(values[key])
            for key in ("base_url", "app_type", "webhook_signature")
            if values.get(key) is not None
        }
        if "base_url" in options:
            options["base_url"] = crm_url(str(options["base_url"]), "--base-url")
        if new:
            options.setdefault("base_url", HUBSPOT_API)
            options.setdefault("app_type", AppType.PRIVATE_PRO.value)
            options.setdefault("webhook_signature", SignatureVersion.V3.value)
        return NewSettings(credentials.to_dict(), options, values.get("budget_share"))

    async def prepare(
        self, values: dict[str, Any], stored_options: Mapping[str, Any]
    ) -> dict[str, Any]:
        """An OAuth authorization code is traded for the portal's refresh token (used up)."""
        code = values.get("oauth_code")
        if code is None:
            return values
        client_id, client_secret = values.get("oauth_client_id"), values.get("oauth_client_secret")
        redirect = values.get("redirect_uri")
        if values.get("refresh_token") or not (client_id and client_secret and redirect):
            raise CredentialsError(
                "--oauth-code needs --oauth-client-id, --oauth-client-secret and --redirect-uri, "
                "and no --refresh-token"
            )
        base_url = values.get("base_url") or stored_options.get("base_url") or HUBSPOT_API
        try:
            token = await exchange_code(
                base_url=str(base_url),
                client_id=str(client_id),
                client_secret=str(client_secret),
                code=str(code),
                redirect_uri=str(redirect),
            )
        except AuthError as exc:
            raise CredentialsError(str(exc)) from None
        return {**values, "refresh_token": token, "oauth_code": None}

    def questions(self, values: Mapping[str, Any]) -> Sequence[tuple[CliOption, str, bool]]:
        by_name = {option.name: option for option in _SECRETS}
        oauth = any(values.get(k) for k in (*_OAUTH, "oauth_code"))
        asked: list[tuple[CliOption, str, bool]] = []
        if not oauth:
            asked.append((by_name["token"], "Private app access token", False))
        else:
            asked.append((by_name["oauth_client_secret"], "OAuth app client secret", False))
            if values.get("oauth_code") is None:
                asked.append((by_name["refresh_token"], "OAuth refresh token", False))
        asked.append(
            (by_name["client_secret"], "The app's client secret, to verify webhooks", True)
        )
        return asked

    def merge_secrets(self, stored: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
        return HubSpotCredentials.of(given).over(stored).to_dict()

    def check_secrets(self, secrets: Mapping[str, Any]) -> None:
        HubSpotCredentials.of(secrets).validate()

    def reaches_crm(self, changed_secrets: set[str], changed_options: set[str]) -> bool:
        # The webhook secret is not the CRM's to check; new access credentials or URL are.
        return bool(changed_secrets - {"app_client_secret"}) or "base_url" in changed_options

    def open_connector(
        self, connection: StoredConnection, env: ConnectorEnv, properties: Sequence[str]
    ) -> Connector:
        secrets = connection.secrets
        base_url = str(connection.options.get("base_url", HUBSPOT_API))
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
                now=env.now,
                retry=env.retry,
                timeout=env.timeout_seconds,
                on_refresh=lambda _access, refresh, _expires: env.keep_secret(
                    "refresh_token", refresh
                ),
            )
        options = HubSpotOptions(
            base_url=base_url,
            app_type=_app_type(connection.options),
            budget_share=connection.budget_share,
            properties=tuple(properties),
            rate_limit_headroom=env.rate_limit_headroom,
            search_overlap_seconds=env.search_overlap_seconds,
            retry=env.retry,
            timeout_seconds=env.timeout_seconds,
        )
        return HubSpotConnector(
            options,
            auth,
            account=connection.account_id or connection.name,
            now=env.now,
            limiter=env.limiter,
            on_response=env.on_response,
        )

    def webhook_source(
        self, connection: StoredConnection, now: Callable[[], datetime]
    ) -> WebhookSource | None:
        secret = connection.secrets.get("app_client_secret")
        if not secret:
            return None
        version = SignatureVersion(connection.options.get("webhook_signature", "v3"))
        return HubSpotWebhooks(str(secret), version=version, now=now)

    def app_webhook_source(self, secret: str, now: Callable[[], datetime]) -> WebhookSource | None:
        return HubSpotWebhooks(secret, now=now)

    def rate_limits(
        self, options: Mapping[str, Any], budget_share: float, headroom: float
    ) -> tuple[str, Mapping[str, Sequence[Limit]]]:
        app_type = _app_type(options)
        return app_type.value, buckets_for(app_type, budget_share, headroom)

    async def install(
        self, connector: Connector, statuses: Sequence[str], *, install: bool
    ) -> Installed:
        # HubSpot's properties are always installed by Glengarry (they are the app's own).
        return Installed(list(await connector.install_fields(statuses)))

    def conflict_advice(self) -> str:
        return (
            "In HubSpot (Settings > Data Management > Properties > Contact properties) change each "
            "one to what Glengarry needs, or delete it"
        )

    def webhook_hint(self, name: str, secrets: Mapping[str, Any], app_secret_set: bool) -> str:
        """Without the app's client secret no webhook can be verified: every one is refused."""
        if secrets.get("app_client_secret"):
            return ""
        shared = ""
        if app_secret_set:
            shared = " (unless the app sends them to /webhooks/hubspot, which verifies them with "
            shared += "GLENGARRY_HUBSPOT_APP_CLIENT_SECRET)"
        return (
            f"warning: no --client-secret (or GLENGARRY_CLIENT_SECRET): webhooks to "
            f"/webhooks/hubspot/{name} will be refused with 401{shared}; add it with "
            f"`glengarry connections update {name} --client-secret -`"
        )

    def setup(self, connection: StoredConnection, public_url: str | None) -> Mapping[str, Any]:
        base = (public_url or "<GLENGARRY_PUBLIC_URL>").rstrip("/")
        return {
            "webhook_url": f"{base}/webhooks/hubspot/{connection.name}",
            "subscriptions": sorted([*SUBSCRIPTIONS, *RELATED_SUBSCRIPTIONS]),
            # Feedback submissions have no legacy subscription: the generic ones (beta).
            "generic_subscriptions": [
                {"subscriptionType": kind, "objectType": "feedback_submission"}
                for kind in ("object.creation", "object.propertyChange")
            ],
        }

    def completed(self, secrets: Mapping[str, Any]) -> dict[str, Any]:
        return dict(secrets)

    def rotated(self, secrets: Mapping[str, Any]) -> dict[str, Any] | None:
        return None  # deliveries are signed with the app's client secret

    def sparse(self, event: ChangeEvent) -> bool:
        return False

    def carried(
        self, events: Sequence[ChangeEvent], criteria_properties: Sequence[str]
    ) -> Sequence[Mapping[str, str | None]] | None:
        return carried(events, criteria_properties)

    def named_record(self, event: ChangeEvent) -> str | None:
        return named_record(event)

    def property_activities(self, contact: CrmContact) -> Sequence[CrmActivity]:
        return property_activities(contact)

    def subscription_hint(self, criteria_properties: Sequence[str]) -> str:
        # The criteria's properties and those the connector derives activities from.
        watched = watched_properties(criteria_properties)
        return "HubSpot webhooks: subscribe contact.propertyChange to " + ", ".join(watched)

    def cursor_at(self, cursor: str) -> datetime | None:
        loaded = SyncCursor.loads(cursor)
        if loaded is None or loaded.since_ms is None:  # a full listing under way
            return None
        return datetime.fromtimestamp(loaded.since_ms / 1000, UTC)


def _app_type(options: Mapping[str, Any]) -> AppType:
    return AppType(options.get("app_type", AppType.PRIVATE_PRO.value))


CRM = HubSpot()
