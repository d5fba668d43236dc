"""OAuth refresh (connectors.oauth, through HubSpot's grant): one refresh at a time, retried
while the token endpoint is unwell, refused for good only when the grant is."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx

from connectors.errors import AuthError, TokenEndpointUnavailable
from connectors.http import ApiClient, RateLimiter, RetryPolicy
from connectors.hubspot.auth import OAuthRefresh, OAuthTokens
from connectors.oauth import AccessToken, OAuthSession

BASE = "https://api.hubapi.test"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
GRANTED = {"access_token": "fresh", "refresh_token": "refresh-2", "expires_in": 1800}


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _auth(sleeps: Sleeps, tokens: OAuthTokens | None = None) -> OAuthRefresh:
    return OAuthRefresh(
        tokens or OAuthTokens("cid", "csecret", "refresh-1"),
        base_url=BASE,
        now=lambda: NOW,
        retry=RetryPolicy(max_attempts=4, backoff_initial=0.5),
        sleep=sleeps,
    )


async def _slow_grant(_: httpx.Request) -> httpx.Response:
    await asyncio.sleep(0.01)  # the answer takes a moment: callers pile up meanwhile
    return httpx.Response(200, json=GRANTED)


@respx.mock
async def test_five_concurrent_first_calls_make_one_token_request() -> None:
    token = respx.post(f"{BASE}/oauth/v1/token").mock(side_effect=_slow_grant)
    auth = _auth(Sleeps())
    headers = await asyncio.gather(*(auth.headers() for _ in range(5)))
    assert token.call_count == 1
    assert {h["Authorization"] for h in headers} == {"Bearer fresh"}


@respx.mock
async def test_concurrent_401s_on_one_expired_token_make_one_refresh() -> None:
    token = respx.post(f"{BASE}/oauth/v1/token").mock(side_effect=_slow_grant)

    def details(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer revoked":
            return httpx.Response(401, json={"category": "EXPIRED_AUTHENTICATION"})
        return httpx.Response(200, json={"portalId": 7})

    respx.get(f"{BASE}/x").mock(side_effect=details)
    tokens = OAuthTokens("cid", "csecret", "refresh-1", "revoked", NOW + timedelta(hours=1))
    api = ApiClient(BASE, _auth(Sleeps(), tokens), account="p", limiter=RateLimiter({}))
    answers = await asyncio.gather(*(api.request("GET", "/x", endpoint="GET /x") for _ in range(5)))
    assert all(a.status_code == 200 for a in answers)
    assert token.call_count == 1


@respx.mock
async def test_a_503_from_the_token_endpoint_is_retried_with_backoff() -> None:
    token = respx.post(f"{BASE}/oauth/v1/token").mock(
        side_effect=[httpx.Response(503), httpx.Response(429), httpx.Response(200, json=GRANTED)]
    )
    sleeps = Sleeps()
    assert (await _auth(sleeps).headers())["Authorization"] == "Bearer fresh"
    assert token.call_count == 3
    assert len(sleeps.calls) == 2
    assert 0 < sleeps.calls[0] <= sleeps.calls[1] + 0.5


@respx.mock
async def test_a_token_endpoint_that_stays_down_is_unavailable_not_a_refused_grant() -> None:
    token = respx.post(f"{BASE}/oauth/v1/token").mock(return_value=httpx.Response(503))
    with pytest.raises(TokenEndpointUnavailable, match="HTTP 503 on all 4 attempts") as failure:
        await _auth(Sleeps()).headers()
    assert token.call_count == 4
    assert "reconnect" not in str(failure.value)


@respx.mock
async def test_time_outs_of_the_token_endpoint_are_retried() -> None:
    token = respx.post(f"{BASE}/oauth/v1/token").mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json=GRANTED)]
    )
    assert (await _auth(Sleeps()).headers())["Authorization"] == "Bearer fresh"
    assert token.call_count == 2


@respx.mock
async def test_a_token_endpoint_that_never_answers_is_unavailable_too() -> None:
    token = respx.post(f"{BASE}/oauth/v1/token").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(TokenEndpointUnavailable, match="HubSpot's OAuth token endpoint"):
        await _auth(Sleeps()).headers()
    assert token.call_count == 4


@respx.mock
async def test_an_invalid_grant_is_refused_at_once_and_says_reconnect() -> None:
    token = respx.post(f"{BASE}/oauth/v1/token").mock(
        return_value=httpx.Response(
            400, json={"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"}
        )
    )
    sleeps = Sleeps()
    with pytest.raises(AuthError, match=r"HTTP 400 \(BAD_REFRESH_TOKEN: missing.*reconnect"):
        await _auth(sleeps).headers()
    assert token.call_count == 1
    assert sleeps.calls == []


async def test_the_session_is_crm_neutral_any_token_request_plugs_in() -> None:
    """What the Salesforce connector will do: its own login behind the same session."""
    logins: list[int] = []

    async def login() -> AccessToken:
        logins.append(1)
        return AccessToken(f"session-{len(logins)}")  # no stated expiry: valid until refused

    session = OAuthSession(login, now=lambda: NOW)
    assert await session.headers() == {"Authorization": "Bearer session-1"}
    assert await session.headers() == {"Authorization": "Bearer session-1"}
    assert await session.refresh({"Authorization": "Bearer session-1"})
    assert await session.headers() == {"Authorization": "Bearer session-2"}
    # A 401 on a token already replaced does not log in again.
    assert await session.refresh({"Authorization": "Bearer session-1"})
    assert len(logins) == 2
