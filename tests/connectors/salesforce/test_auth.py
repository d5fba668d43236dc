"""Logging in as an integration: JWT bearer and client credentials against the sandbox's token
endpoint over HTTPS (trusting only its CA), refusals, and one re-login on an expired session."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import jwt
import pytest

from connectors.errors import AuthError, TokenEndpointUnavailable
from connectors.salesforce.auth import (
    PRODUCTION_LOGIN,
    SANDBOX_LOGIN,
    ClientCredentials,
    JwtBearer,
    SalesforceLogin,
)
from connectors.salesforce.rest import API_VERSION
from connectors.salesforce.sandbox import API_VERSION as SANDBOX_VERSION
from connectors.salesforce.sandbox import SandboxServer
from connectors.salesforce.sandbox.tls import make_jwt_keys

from .conftest import FAST, connector, control, login

TOKEN = "POST /services/oauth2/token"
QUERY = "GET /services/data/v62.0/query"


def _logins(org: SandboxServer) -> int:
    return int(org.stats()["calls"].get(TOKEN, {}).get("200", 0))


@pytest.mark.parametrize("jwt_flow", [True, False], ids=["jwt-bearer", "client-credentials"])
async def test_both_logins_reach_the_org_as_the_integration_user(
    org: SandboxServer, jwt_flow: bool
) -> None:
    sf = connector(org, jwt=jwt_flow)
    try:
        assert await sf.account_id() == org.config.org_id
        identity = await sf.auth.who()
        assert identity.user_id == org.user.id
        live = await sf.live_crm_ids()
        assert live == {r.id for r in org.store.records("Lead")} | {
            r.id for r in org.store.records("Contact")
        }
    finally:
        await sf.aclose()
    assert _logins(org) == 1


def test_the_assertion_names_the_app_the_user_and_the_audience() -> None:
    key = make_jwt_keys().private_key_pem.decode()
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    for sandbox_org, audience in ((False, PRODUCTION_LOGIN), (True, SANDBOX_LOGIN)):
        grant = JwtBearer("consumer-key", "int@acme.example", key, sandbox_org=sandbox_org)
        auth = SalesforceLogin(grant, instance_url="https://acme.my", now=lambda: now)
        form, basic = auth._form()
        claims = jwt.decode(form["assertion"], options={"verify_signature": False})
        assert basic is None
        assert claims == {
            "iss": "consumer-key",
            "sub": "int@acme.example",
            "aud": audience,
            "exp": int(now.timestamp()) + 180,
        }
        # The token is asked of the login host unless told otherwise.
        assert grant.token_url("https://acme.my") == f"{audience}/services/oauth2/token"
    secret = ClientCredentials("consumer-key", "s3cret")
    assert secret.token_url("https://acme.my.salesforce.com") == (
        "https://acme.my.salesforce.com/services/oauth2/token"
    )


async def test_a_sandbox_org_audience_is_accepted_too(org: SandboxServer) -> None:
    auth = login(org, sandbox_org=True)
    assert (await auth.who()).organization_id == org.config.org_id


async def test_refused_grants_are_auth_errors_naming_salesforce_s_reason(
    org: SandboxServer,
) -> None:
    other_key = make_jwt_keys().private_key_pem.decode()
    with pytest.raises(AuthError, match="invalid assertion"):
        await login(org, private_key=other_key).who()
    with pytest.raises(AuthError, match="user hasn't approved this consumer"):
        await login(org, username="someone@else.example").who()
    with pytest.raises(AuthError, match="invalid client credentials"):
        await login(org, jwt=False, client_secret="wrong").who()
    with pytest.raises(AuthError, match="PEM RSA key"):
        await login(org, private_key="not a key").who()


async def test_an_expired_session_with_the_token_endpoint_down_is_unavailable_not_refused(
    org: SandboxServer,
) -> None:
    """The re-login after `INVALID_SESSION_ID` meets 503s: an outage to wait out, never the
    refused grant that would tell an admin to reconnect; once the endpoint is back, it works."""
    sf = connector(org)
    try:
        before = await sf.live_crm_ids()
        with control(org) as sandbox:
            sandbox.post("/faults", json={"token_endpoint_down": True, "expire_sessions": True})
            with pytest.raises(TokenEndpointUnavailable, match="HTTP 503 on all 4") as failure:
                await sf.live_crm_ids()
            assert "reconnect" not in str(failure.value)
            assert org.stats()["calls"][TOKEN]["503"] == FAST.max_attempts
            sandbox.post("/faults", json={"token_endpoint_down": False})
        assert await sf.live_crm_ids() == before
    finally:
        await sf.aclose()


async def test_an_expired_session_means_one_login_more_and_the_request_again(
    org: SandboxServer,
) -> None:
    sf = connector(org)
    try:
        before = await sf.live_crm_ids()
        logins = _logins(org)
        with control(org) as sandbox:
            assert sandbox.post("/faults", json={"expire_sessions": True}).status_code == 200
        assert await sf.live_crm_ids() == before
        assert _logins(org) == logins + 1
        assert org.stats()["calls"][QUERY]["401"] == 1
        assert sf.auth.requests == 2
    finally:
        await sf.aclose()


async def test_requests_in_flight_when_the_session_expires_share_one_login(
    org: SandboxServer,
) -> None:
    sf = connector(org, concurrency=8)
    try:
        expected = await sf.live_crm_ids()
        logins = _logins(org)
        org.runtime.sessions.expire_all()
        answers = await asyncio.gather(*(sf.live_crm_ids() for _ in range(6)))
        assert all(answer == expected for answer in answers)
        assert _logins(org) == logins + 1  # one login for all six
    finally:
        await sf.aclose()


def test_the_pinned_version_is_the_sandbox_s() -> None:
    assert API_VERSION == SANDBOX_VERSION


async def test_a_session_refused_again_after_the_login_is_an_auth_error(
    org: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One re-login per request, not a loop: a session refused twice fails the request."""
    sf = connector(org)
    original = sf.auth._login

    async def stale() -> object:
        token = await original()
        org.runtime.sessions.expire_all()  # every new session is dead on arrival
        return token

    monkeypatch.setattr(sf.auth, "_request_token", stale)
    try:
        with pytest.raises(AuthError):
            await sf.live_crm_ids()
        assert org.stats()["calls"][QUERY]["401"] == 2
        assert sf.auth.requests == 2
    finally:
        await sf.aclose()


def test_a_missing_ca_bundle_is_named() -> None:
    with pytest.raises(AuthError, match="CA bundle"):
        SalesforceLogin(
            ClientCredentials("id", "secret"),
            instance_url="https://acme.my.salesforce.com",
            now=lambda: datetime.now(UTC),
            ca_bundle="/nonexistent/ca.pem",
            retry=FAST,
        )
