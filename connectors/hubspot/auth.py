"""HubSpot authentication: a private app's token, or OAuth 2 with refresh (connectors.oauth)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from pydantic import BaseModel, ValidationError

from connectors.errors import AuthError
from connectors.http import RetryPolicy, Sleep
from connectors.oauth import (
    TOKEN_RETRY,
    AccessToken,
    OAuthSession,
    TokenEndpointTrouble,
    token_failure,
)

TokenListener = Callable[[str, str, datetime], None]  # access, refresh, expires_at


class PrivateAppToken:
    """A private app's static access token: nothing to refresh."""

    def __init__(self, token: str) -> None:
        self._headers = {"Authorization": f"Bearer {token}"}

    async def headers(self) -> Mapping[str, str]:
        return self._headers

    async def refresh(self, rejected: Mapping[str, str]) -> bool:
        return False


@dataclass
class OAuthTokens:
    client_id: str
    client_secret: str
    refresh_token: str
    access_token: str | None = None
    expires_at: datetime | None = None


TOKEN_PATH = "/oauth/v1/token"  # noqa: S105 - a path, not a secret  # nosec B105


class OAuthRefresh(OAuthSession):
    """A HubSpot OAuth app's access tokens: the refresh-token grant behind `OAuthSession`
    (one refresh at a time, retried on 5xx, 429 and time-outs)."""

    def __init__(
        self,
        tokens: OAuthTokens,
        *,
        base_url: str,
        now: Callable[[], datetime],
        on_refresh: TokenListener | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy = TOKEN_RETRY,
        timeout: float = 30.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._tokens = tokens
        self._base_url = base_url
        self._on_refresh = on_refresh
        self._transport = transport
        self._timeout = timeout
        current = (
            AccessToken(tokens.access_token, tokens.expires_at)
            if tokens.access_token and tokens.expires_at
            else None
        )
        super().__init__(
            self._request,
            now=now,
            what="HubSpot's OAuth token endpoint",
            token=current,
            retry=retry,
            sleep=sleep,
        )

    async def _request(self) -> AccessToken:
        tokens = self._tokens
        async with httpx.AsyncClient(
            base_url=self._base_url, transport=self._transport, timeout=self._timeout
        ) as http:
            response = await http.post(
                TOKEN_PATH,
                data={
                    "grant_type": "refresh_token",
                    "client_id": tokens.client_id,
                    "client_secret": tokens.client_secret,
                    "refresh_token": tokens.refresh_token,
                },
            )
        if response.status_code != 200:
            raise token_failure(response, "HubSpot's OAuth token endpoint")
        try:
            body = _TokenAnswer.model_validate_json(response.content)
        except ValidationError:
            raise TokenEndpointTrouble(
                "HubSpot's OAuth token endpoint answered 200 without an access token"
            ) from None
        tokens.access_token = body.access_token
        tokens.refresh_token = body.refresh_token or tokens.refresh_token
        tokens.expires_at = self._now() + timedelta(seconds=body.expires_in)
        if self._on_refresh is not None:
            self._on_refresh(tokens.access_token, tokens.refresh_token, tokens.expires_at)
        return AccessToken(tokens.access_token, tokens.expires_at)


class _TokenAnswer(BaseModel):
    access_token: str
    refresh_token: str | None = None
    expires_in: int


async def exchange_code(
    *,
    base_url: str,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    transport: httpx.AsyncBaseTransport | None = None,
) -> str:
    """The authorization-code step of OAuth: trade the code from the install redirect for the
    portal's refresh token (the access token is fetched again on first use)."""
    async with httpx.AsyncClient(base_url=base_url, transport=transport, timeout=30) as http:
        response = await http.post(
            TOKEN_PATH,
            data={
                "grant_type": "authorization_code",
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uri": redirect_uri,
                "code": code,
            },
        )
    if response.status_code != 200:
        raise AuthError(
            f"HubSpot refused the authorization code (HTTP {response.status_code}): "
            "codes are single-use and short-lived; install the app again for a new one"
        )
    refresh = response.json().get("refresh_token")
    if not refresh:
        raise AuthError("HubSpot's token answer has no refresh_token")
    return str(refresh)
