"""Rate limits (429 bodies and headers under a tiny profile) and injected faults."""

from __future__ import annotations

import httpx
import pytest

from connectors.http import Action
from connectors.hubspot.limits import classify
from connectors.hubspot.sandbox import FaultConfig, RateLimitProfile, SandboxConfig, SandboxServer

from .conftest import TOKEN, client, population

TINY = RateLimitProfile("tiny", per_ten_seconds=3, daily=5, search_per_second=1)


@pytest.fixture
def tiny() -> SandboxServer:
    server = SandboxServer(SandboxConfig(token=TOKEN, rate_limits=TINY), members=population(3))
    server.start()
    yield server
    server.stop()


def test_headers_count_down_then_429_names_the_policy(tiny: SandboxServer) -> None:
    with client(tiny) as api:
        responses = [api.get("/crm/v3/objects/contacts") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    first = responses[0].headers
    assert first["X-HubSpot-RateLimit-Max"] == "3"
    assert first["X-HubSpot-RateLimit-Remaining"] == "2"
    assert first["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert first["X-HubSpot-RateLimit-Daily"] == "5"
    assert first["X-HubSpot-RateLimit-Daily-Remaining"] == "4"
    limited = responses[3]
    body = limited.json()
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["errorType"] == "RATE_LIMIT"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert 1 <= int(limited.headers["Retry-After"]) <= 10
    decision = classify(limited)
    assert decision.action is Action.WAIT
    assert decision.retry_after is not None
    stats = tiny.stats()
    assert stats["rate_limited"] == 1
    assert stats["calls"]["GET /crm/v3/objects/{objectType}"] == {"200": 3, "429": 1}


def test_daily_limit_stops_the_connector(tiny: SandboxServer) -> None:
    tiny.runtime.limiter.profile = RateLimitProfile("day", per_ten_seconds=None, daily=2)
    tiny.runtime.limiter.reset()
    with client(tiny) as api:
        codes = [api.get("/crm/v3/objects/contacts").status_code for _ in range(3)]
        limited = api.get("/crm/v3/objects/contacts")
    assert codes == [200, 200, 429]
    assert limited.json()["policyName"] == "DAILY"
    assert classify(limited).action is Action.STOP_DAILY


def test_spend_allocation_uses_up_the_day_until_the_stats_are_reset(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    """As when the portal's other integrations have spent the day: every call, search too,
    answers HubSpot's DAILY 429, whatever the 10-second window holds."""
    assert api.get("/crm/v3/objects/contacts").status_code == 200
    answer = httpx.post(f"{sandbox.base_url}/_sandbox/faults", json={"spend_allocation": True})
    assert answer.status_code == 200
    assert "spend_allocation" not in answer.json()  # an action, not a setting kept
    limited = api.get("/crm/v3/objects/contacts")
    assert limited.status_code == 429
    body = limited.json()
    assert body["status"] == "error"
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "DAILY"
    assert body["message"] == "You have reached your daily limit."
    assert body["groupName"] == sandbox.runtime.limiter.group
    assert limited.headers["X-HubSpot-RateLimit-Daily"] == "650000"
    assert limited.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    assert int(limited.headers["X-HubSpot-RateLimit-Remaining"]) > 0  # not the burst window
    assert "Retry-After" not in limited.headers  # none documented; the day ends at midnight
    assert classify(limited).action is Action.STOP_DAILY
    searched = api.post("/crm/v3/objects/contacts/search", json={})
    assert (searched.status_code, searched.json()["policyName"]) == (429, "DAILY")
    assert sandbox.stats()["rate_limited"] == 2

    httpx.post(f"{sandbox.base_url}/_sandbox/stats/reset").raise_for_status()  # a day later
    freed = api.get("/crm/v3/objects/contacts")
    assert freed.status_code == 200
    assert freed.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "649999"


def test_spend_allocation_is_refused_without_a_day_to_spend() -> None:
    with SandboxServer(SandboxConfig(token=TOKEN, rate_limits="off")) as server:
        faults = f"{server.base_url}/_sandbox/faults"
        assert httpx.post(faults, json={"spend_allocation": True}).status_code == 400
        assert httpx.post(faults, json={"spend_allocation": "yes"}).status_code == 400
        with client(server) as api:
            assert api.get("/crm/v3/objects/contacts").status_code == 200


def test_search_has_its_own_secondly_limit_and_no_headers(tiny: SandboxServer) -> None:
    with client(tiny) as api:
        first = api.post("/crm/v3/objects/contacts/search", json={})
        second = api.post("/crm/v3/objects/contacts/search", json={})
    assert first.status_code == 200
    assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in first.headers)
    assert second.status_code == 429
    assert second.json()["policyName"] == "SECONDLY"


def test_sandbox_routes_are_neither_limited_nor_counted(tiny: SandboxServer) -> None:
    for _ in range(10):
        assert httpx.get(f"{tiny.base_url}/_sandbox/stats").status_code == 200
    assert tiny.stats()["calls"] == {}
    httpx.post(f"{tiny.base_url}/_sandbox/stats/reset")


def test_a_429_storm_answers_the_next_n_requests(sandbox: SandboxServer, api: httpx.Client) -> None:
    httpx.post(f"{sandbox.base_url}/_sandbox/faults", json={"storm_429": 2})
    codes = [api.get("/crm/v3/objects/contacts").status_code for _ in range(3)]
    assert codes == [429, 429, 200]


def test_error_rate_one_always_fails_with_a_5xx(sandbox: SandboxServer, api: httpx.Client) -> None:
    answer = httpx.post(f"{sandbox.base_url}/_sandbox/faults", json={"error_rate": 1.0, "seed": 3})
    assert answer.json()["error_rate"] == 1.0
    codes = {api.get("/crm/v3/objects/contacts").status_code for _ in range(8)}
    assert codes <= {500, 502, 503}
    assert codes
    assert classify(api.get("/crm/v3/objects/contacts")).action is Action.RETRY


def test_slow_responses_time_clients_out() -> None:
    faults = FaultConfig(timeout_rate=1.0, slow_ms=500)
    with SandboxServer(SandboxConfig(token=TOKEN, faults=faults)) as server:
        with client(server) as api, pytest.raises(httpx.ReadTimeout):
            api.get("/crm/v3/objects/contacts", timeout=0.1)
        httpx.post(f"{server.base_url}/_sandbox/faults", json={"timeout_rate": 0})
        with client(server) as api:
            assert api.get("/crm/v3/objects/contacts").status_code == 200


def test_latency_is_added(sandbox: SandboxServer, api: httpx.Client) -> None:
    httpx.post(f"{sandbox.base_url}/_sandbox/faults", json={"latency_ms": 300})
    with pytest.raises(httpx.ReadTimeout):
        api.get("/crm/v3/objects/contacts", timeout=0.1)


def test_bad_fault_settings_are_refused(sandbox: SandboxServer) -> None:
    assert httpx.post(f"{sandbox.base_url}/_sandbox/faults", json={"typo": 1}).status_code == 400
    assert (
        httpx.post(f"{sandbox.base_url}/_sandbox/faults", json={"error_rate": 2}).status_code == 400
    )


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown rate-limit profile"):
        SandboxConfig(rate_limits="enterprise")
