"""HubSpot authentication: a private app's token, or OAuth 2 with refresh."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from connectors.errors import AuthError

TokenListener = Callable[[str, str, datetime], None]  # access, refresh, expires_at


class PrivateAppToken:
    """A private app's static access token: nothing to refresh."""

    def __init__(self, token: str) -> None:
        self._headers = {"Authorization": f"Bearer {token}"}

    async def headers(self) -> Mapping[str, str]:
        return self._headers

    async def refresh(self) -> bool:
        return False


@dataclass
class OAuthTokens:
    client_id: str
    client_secret: str
    refresh_token: str
    access_token: str | None = None
    expires_at: datetime | None = None


class OAuthRefresh:
    """OAuth access tokens, refreshed shortly before they expire and after a 401."""

    EARLY = timedelta(seconds=60)  # refresh a minute early: in-flight requests stay valid

    def __init__(
        self,
        tokens: OAuthTokens,
        *,
        base_url: str,
        now: Callable[[], datetime],
        on_refresh: TokenListener | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._tokens = tokens
        self._base_url = base_url
        self._now = now
        self._on_refresh = on_refresh
        self._transport = transport
        self._lock = asyncio.Lock()

    async def headers(self) -> Mapping[str, str]:
        tokens = self._tokens
        if (
            tokens.access_token is None
            or tokens.expires_at is None
            or tokens.expires_at - self.EARLY <= self._now()
        ):
            await self.refresh()
        return {"Authorization": f"Bearer {self._tokens.access_token}"}

    async def refresh(self) -> bool:
        async with self._lock:
            tokens = self._tokens
            async with httpx.AsyncClient(
                base_url=self._base_url, transport=self._transport, timeout=30
            ) as http:
                response = await http.post(
                    "/oauth/v1/token",
                    data={
                        "grant_type": "refresh_token",
                        "client_id": tokens.client_id,
                        "client_secret": tokens.client_secret,
                        "refresh_token": tokens.refresh_token,
                    },
                )
            if response.status_code != 200:
                raise AuthError(
                    f"HubSpot refused the OAuth refresh token (HTTP {response.status_code}): "
                    "reconnect the app"
                )
            body = response.json()
            tokens.access_token = str(body["access_token"])
            tokens.refresh_token = str(body.get("refresh_token", tokens.refresh_token))
            tokens.expires_at = self._now() + timedelta(seconds=int(body["expires_in"]))
            if self._on_refresh is not None:
                self._on_refresh(tokens.access_token, tokens.refresh_token, tokens.expires_at)
            return True


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
            "/oauth/v1/token",
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
