"""Authentication: the private app token, OAuth token exchange, expiry and refresh."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from connectors.errors import AuthError, TokenEndpointUnavailable
from connectors.http import RetryPolicy
from connectors.hubspot.auth import OAuthRefresh, OAuthTokens
from connectors.hubspot.sandbox import SandboxConfig, SandboxServer

from .conftest import client

CONFIG = SandboxConfig(client_id="cid", client_secret="csecret", refresh_tokens=("rt-1",))


@pytest.fixture
def oauth_sandbox() -> SandboxServer:
    server = SandboxServer(CONFIG)
    server.start()
    yield server
    server.stop()


def _token(server: SandboxServer, **form: str) -> httpx.Response:
    data = {"client_id": "cid", "client_secret": "csecret", **form}
    return httpx.post(f"{server.base_url}/oauth/v1/token", data=data)


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic abc"])
def test_missing_or_unknown_credentials_are_401(
    oauth_sandbox: SandboxServer, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = httpx.get(f"{oauth_sandbox.base_url}/crm/v3/objects/contacts", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["status"] == "error"
    assert body["correlationId"]


def test_refresh_token_grant_then_expiry_then_refresh(oauth_sandbox: SandboxServer) -> None:
    issued = _token(oauth_sandbox, grant_type="refresh_token", refresh_token="rt-1")
    assert issued.status_code == 200
    body = issued.json()
    assert body["expires_in"] == 1800
    assert body["token_type"] == "bearer"
    with client(oauth_sandbox, body["access_token"]) as api:
        assert api.get("/crm/v3/objects/contacts").status_code == 200
        oauth_sandbox.runtime.tokens.expire_access_tokens()
        expired = api.get("/crm/v3/objects/contacts")
    assert expired.status_code == 401
    assert expired.json()["category"] == "EXPIRED_AUTHENTICATION"
    again = _token(oauth_sandbox, grant_type="refresh_token", refresh_token=body["refresh_token"])
    with client(oauth_sandbox, again.json()["access_token"]) as api:
        assert api.get("/crm/v3/objects/contacts").status_code == 200


def test_authorization_code_grant_issues_a_new_refresh_token(oauth_sandbox: SandboxServer) -> None:
    body = _token(
        oauth_sandbox, grant_type="authorization_code", code="abc", redirect_uri="http://x/cb"
    ).json()
    assert body["refresh_token"] != "rt-1"
    refreshed = _token(
        oauth_sandbox, grant_type="refresh_token", refresh_token=body["refresh_token"]
    )
    assert refreshed.status_code == 200


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, "BAD_REFRESH_TOKEN"),
        (
            {"grant_type": "refresh_token", "refresh_token": "rt-1", "client_secret": "x"},
            "BAD_CLIENT_SECRET",
        ),
        (
            {"grant_type": "refresh_token", "refresh_token": "rt-1", "client_id": "x"},
            "BAD_CLIENT_ID",
        ),
        ({"grant_type": "password"}, "BAD_GRANT_TYPE"),
    ],
)
def test_token_endpoint_refusals(
    oauth_sandbox: SandboxServer, form: dict[str, str], status: str
) -> None:
    response = _token(oauth_sandbox, **form)
    assert response.status_code == 400
    assert response.json()["status"] == status


def test_a_short_ttl_is_announced_and_enforced() -> None:
    config = SandboxConfig(
        client_id="cid",
        client_secret="csecret",
        refresh_tokens=("rt-1",),
        access_token_ttl_seconds=0,
    )
    with SandboxServer(config) as server:
        body = _token(server, grant_type="refresh_token", refresh_token="rt-1").json()
        assert body["expires_in"] == 0
        with client(server, body["access_token"]) as api:
            assert api.get("/crm/v3/objects/contacts").status_code == 401


async def test_the_connectors_oauth_refresh_works_against_the_sandbox(
    oauth_sandbox: SandboxServer,
) -> None:
    refreshes: list[str] = []
    auth = OAuthRefresh(
        OAuthTokens("cid", "csecret", "rt-1"),
        base_url=oauth_sandbox.base_url,
        now=lambda: datetime.now(UTC),
        on_refresh=lambda access, refresh, expires: refreshes.append(access),
    )
    headers = await auth.headers()
    async with httpx.AsyncClient(base_url=oauth_sandbox.base_url) as http:
        response = await http.get("/crm/v3/objects/contacts", headers=dict(headers))
    assert response.status_code == 200
    assert len(refreshes) == 1
    bad = OAuthRefresh(
        OAuthTokens("cid", "csecret", "revoked"),
        base_url=oauth_sandbox.base_url,
        now=lambda: datetime.now(UTC),
    )
    with pytest.raises(AuthError):
        await bad.headers()


async def test_a_token_endpoint_down_answers_503_and_the_connector_says_unavailable(
    oauth_sandbox: SandboxServer,
) -> None:
    """`token_endpoint_down`: every refresh answers 503 until it is set back; tokens already
    issued go on working, and the connector reads the 503s as an outage, not a refused grant."""
    issued = _token(oauth_sandbox, grant_type="refresh_token", refresh_token="rt-1").json()
    faults = f"{oauth_sandbox.base_url}/_sandbox/faults"
    assert httpx.post(faults, json={"token_endpoint_down": True}).json()["token_endpoint_down"]
    down = _token(oauth_sandbox, grant_type="refresh_token", refresh_token="rt-1")
    assert down.status_code == 503
    with client(oauth_sandbox, issued["access_token"]) as api:
        assert api.get("/crm/v3/objects/contacts").status_code == 200
    auth = OAuthRefresh(
        OAuthTokens("cid", "csecret", "rt-1"),
        base_url=oauth_sandbox.base_url,
        now=lambda: datetime.now(UTC),
        retry=RetryPolicy(max_attempts=2, backoff_initial=0.01),
    )
    with pytest.raises(TokenEndpointUnavailable, match="HTTP 503 on all 2 attempts") as failure:
        await auth.headers()
    assert "reconnect" not in str(failure.value)
    assert oauth_sandbox.stats()["calls"]["POST /oauth/v1/token"]["503"] == 3
    httpx.post(faults, json={"token_endpoint_down": False})
    assert (await auth.headers())["Authorization"].startswith("Bearer sandbox-access-")
