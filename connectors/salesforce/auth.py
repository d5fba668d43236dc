"""Logging in to Salesforce as an integration: the JWT bearer flow or the client credentials
flow of a connected app, behind `connectors.oauth.OAuthSession` (one login at a time, retried
while the token endpoint is unwell, a refused grant permanent).

- JWT bearer ("OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration", Salesforce Help):
  an RS256 assertion signed with the key whose certificate the connected app holds; `iss` the
  consumer key, `sub` the integration user's username, `aud` https://login.salesforce.com (or
  https://test.salesforce.com for a sandbox org), `exp` at most three minutes ahead; posted to
  the login host (or `login_url`, for an org behind a proxy and for the local sandbox).
- Client credentials ("OAuth 2.0 Client Credentials Flow for Server-to-Server Integration"):
  the consumer key and secret in HTTP Basic, posted to the org's My Domain host; the session
  runs as the connected app's "run as" user.

There is no username-password flow: Salesforce is retiring it. Salesforce's token answer says
nothing of when the session ends (the org's session time-out decides), so a session is used
until a request answers `401 INVALID_SESSION_ID`; the shared client then logs in once more and
repeats the request.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
import jwt
from pydantic import BaseModel, ConfigDict, ValidationError

from connectors.errors import AuthError
from connectors.http import RetryPolicy, Sleep
from connectors.oauth import (
    TOKEN_RETRY,
    AccessToken,
    OAuthSession,
    TokenEndpointTrouble,
    token_failure,
)

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PRODUCTION_LOGIN = "https://login.salesforce.com"
SANDBOX_LOGIN = "https://test.salesforce.com"
TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - a path, not a secret  # nosec B105
ASSERTION_LIFETIME = timedelta(minutes=3)  # Salesforce refuses an `exp` further ahead


@dataclass(frozen=True, slots=True)
class JwtBearer:
    """The JWT bearer flow: a connected app with a certificate, a pre-authorised user."""

    client_id: str
    username: str
    private_key: str  # PEM of the key whose certificate the connected app holds
    sandbox_org: bool = False  # audience https://test.salesforce.com instead of login
    login_url: str | None = None  # where the token is asked for (default: the audience)

    @property
    def audience(self) -> str:
        return SANDBOX_LOGIN if self.sandbox_org else PRODUCTION_LOGIN

    def token_url(self, instance_url: str) -> str:
        return (self.login_url or self.audience).rstrip("/") + TOKEN_PATH


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """The client credentials flow: the connected app's key and secret, run as its user."""

    client_id: str
    client_secret: str
    login_url: str | None = None  # default: the org's own (My Domain) host

    def token_url(self, instance_url: str) -> str:
        return (self.login_url or instance_url).rstrip("/") + TOKEN_PATH


Grant = JwtBearer | ClientCredentials


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the session is: from the token answer's `id` URL (`.../id/{org id}/{user id}`)."""

    organization_id: str
    user_id: str


class _TokenAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    access_token: str
    instance_url: str | None = None
    id: str


def identity_of(id_url: str) -> Identity:
    parts = [p for p in urlsplit(id_url).path.split("/") if p]
    if len(parts) < 3 or parts[-3] != "id":
        raise TokenEndpointTrouble(f"Salesforce's token answer has an unreadable id {id_url!r}")
    return Identity(parts[-2], parts[-1])


def verify_for(ca_bundle: str | None) -> ssl.SSLContext | bool:
    """httpx's `verify=`: the system's trust store, or only the CA in `ca_bundle` (the local
    sandbox's, or a TLS-inspecting proxy's)."""
    if ca_bundle is None:
        return True
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise AuthError(f"cannot read the CA bundle {ca_bundle}: {exc}") from None


class SalesforceLogin(OAuthSession):
    """An `Authenticator` (connectors.http) holding one Salesforce session."""

    def __init__(
        self,
        grant: Grant,
        *,
        instance_url: str,
        now: Callable[[], datetime],
        ca_bundle: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy = TOKEN_RETRY,
        timeout: float = 30.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.grant = grant
        self.instance_url = instance_url.rstrip("/")
        self.identity: Identity | None = None
        self._verify = verify_for(ca_bundle)
        self._transport = transport
        self._timeout = timeout
        self._clock = now
        super().__init__(
            self._login,
            now=now,
            what="Salesforce's token endpoint",
            retry=retry,
            sleep=sleep,
        )

    def _form(self) -> tuple[dict[str, str], tuple[str, str] | None]:
        grant = self.grant
        if isinstance(grant, JwtBearer):
            claims = {
                "iss": grant.client_id,
                "sub": grant.username,
                "aud": grant.audience,
                "exp": int((self._clock() + ASSERTION_LIFETIME).timestamp()),
            }
            try:
                assertion = jwt.encode(claims, grant.private_key, algorithm="RS256")
            except (ValueError, TypeError, jwt.PyJWTError) as exc:
                raise AuthError(f"the JWT key cannot sign (is it a PEM RSA key?): {exc}") from None
            return {"grant_type": JWT_GRANT, "assertion": assertion}, None
        return {"grant_type": "client_credentials"}, (grant.client_id, grant.client_secret)

    async def _login(self) -> AccessToken:
        form, basic = self._form()
        url = self.grant.token_url(self.instance_url)
        # A client per login: the shared client's transport must not be closed with it.
        async with httpx.AsyncClient(
            transport=self._transport, verify=self._verify, timeout=self._timeout
        ) as http:
            response = await http.post(
                url, data=form, auth=basic if basic is not None else httpx.USE_CLIENT_DEFAULT
            )
        if response.status_code != 200:
            raise token_failure(response, "Salesforce's token endpoint")
        try:
            answer = _TokenAnswer.model_validate_json(response.content)
        except ValidationError:
            raise TokenEndpointTrouble(
                "Salesforce's token endpoint answered 200 without an access token"
            ) from None
        self.identity = identity_of(answer.id)
        return AccessToken(answer.access_token)

    async def who(self) -> Identity:
        """The session's organization and user (logging in first if need be)."""
        await self.headers()
        assert self.identity is not None
        return self.identity


__all__ = [
    "JWT_GRANT",
    "PRODUCTION_LOGIN",
    "SANDBOX_LOGIN",
    "ClientCredentials",
    "Grant",
    "Identity",
    "JwtBearer",
    "SalesforceLogin",
    "verify_for",
]
