"""The demo's HubSpot sandbox with its rate limits chosen: `pro` by default (as the demo runs),
`off` for a benchmark, which then also connects without client-side limits."""

from __future__ import annotations

import httpx
import pytest

from app.demo_sandboxes import HubSpotDemo
from tests.harness.accounts import people


@pytest.mark.parametrize(
    ("limits", "app_type", "limited"),
    [("pro", "private-pro", True), ("off", "unlimited", False)],
)
def test_a_hubspot_demo_sandbox_serves_and_connects_with_the_limits_asked_for(
    limits: str, app_type: str, limited: bool
) -> None:
    side = HubSpotDemo("secret", portal_id=90_000_900, rate_limits=limits)
    with side.serve(people(5, 3), "http://127.0.0.1:9", seed=3):
        assert side.server.config.profile.name == limits
        assert side.new_settings().options["app_type"] == app_type
        answer = httpx.get(
            f"{side.server.base_url}/crm/v3/objects/contacts",
            headers={"Authorization": f"Bearer {side.server.config.token}"},
        )
        assert answer.status_code == 200
        assert ("X-HubSpot-RateLimit-Max" in answer.headers) is limited


def test_the_default_is_the_pro_profile_and_an_unknown_one_is_refused_at_once() -> None:
    side = HubSpotDemo("secret")
    with side.serve(people(5, 3), "http://127.0.0.1:9", seed=3):
        assert side.server.config.profile.name == "pro"
    with pytest.raises(ValueError, match="unknown rate-limit profile 'platinum'"):
        HubSpotDemo("secret", rate_limits="platinum")


def test_an_oauth_hubspot_demo_sandbox_gives_refresh_token_credentials_its_portal_honours() -> None:
    side = HubSpotDemo("secret", portal_id=90_000_901, oauth=True)
    with side.serve(people(5, 3), "http://127.0.0.1:9", seed=3):
        secrets = side.new_settings().secrets
        assert "token" not in secrets
        assert secrets["app_client_secret"] == "secret"  # the webhooks' signing secret
        issued = httpx.post(
            f"{side.server.base_url}/oauth/v1/token",
            data={
                "grant_type": "refresh_token",
                "client_id": secrets["oauth_client_id"],
                "client_secret": secrets["oauth_client_secret"],
                "refresh_token": secrets["refresh_token"],
            },
        )
        assert issued.status_code == 200, issued.text
